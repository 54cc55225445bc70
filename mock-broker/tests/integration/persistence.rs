//! Retained messages, persistent sessions and shadows survive a broker restart on the same
//! state dir.

use crate::support::{Pki, TestBroker, WAIT};
use mock_broker::aws::shadow::ShadowService;
use mock_broker::{EventKind, MockBroker};
use rumqttc::QoS;

#[tokio::test]
async fn retained_messages_and_persistent_sessions_survive_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let start = |pki: &Pki| {
        let mut config = pki.config();
        config.state_dir = Some(state.path().to_owned());
        let shadows = ShadowService::new(Some(state.path())).unwrap();
        config.services.push(std::sync::Arc::new(shadows));
        MockBroker::start(config)
    };

    let broker = start(&pki).await.unwrap();
    let mut first = TestBroker {
        tap: broker.tap(),
        broker,
        pki,
    };
    let mut device = first.client_with("device", |o| {
        o.set_clean_session(false);
    });
    device.connected().await;
    device.subscribe("device/cmd", QoS::AtLeastOnce).await;
    drop(device);
    first.closed_reason("device").await;
    let mut cloud = first.client("cloud");
    cloud.connected().await;
    cloud
        .client
        .publish("device/config", QoS::AtLeastOnce, true, "retained-v1")
        .await
        .unwrap();
    cloud
        .client
        .publish("device/cmd", QoS::AtLeastOnce, false, "queued")
        .await
        .unwrap();
    cloud
        .client
        .publish(
            "$aws/things/device/shadow/update",
            QoS::AtLeastOnce,
            false,
            r#"{"state":{"desired":{"toggle":1}}}"#,
        )
        .await
        .unwrap();
    first
        .event("the queued message is acknowledged", |e| {
            matches!(e, EventKind::PubackOut { client_id, pkid, .. } if client_id == "cloud" && *pkid == 3)
        })
        .await;
    drop(cloud);
    let TestBroker { pki, broker, .. } = first;
    broker.shutdown().await;
    assert!(
        state
            .path()
            .join(mock_broker::mqtt::persist::STATE_FILE)
            .exists()
    );

    let broker = start(&pki).await.unwrap();
    let second = TestBroker {
        tap: broker.tap(),
        broker,
        pki,
    };
    let mut device = second.client_with("device", |o| {
        o.set_clean_session(false);
    });
    assert!(device.connected().await, "the persistent session is back");
    assert_eq!(&device.message().await.payload[..], b"queued");
    device.subscribe("device/config", QoS::AtLeastOnce).await;
    let retained = device.message().await;
    assert!(retained.retain);
    assert_eq!(&retained.payload[..], b"retained-v1");

    // The shadow came back too.
    device
        .subscribe("$aws/things/device/shadow/get/accepted", QoS::AtLeastOnce)
        .await;
    device
        .client
        .publish("$aws/things/device/shadow/get", QoS::AtLeastOnce, false, "")
        .await
        .unwrap();
    let shadow: serde_json::Value =
        serde_json::from_slice(&device.message().await.payload).unwrap();
    assert_eq!(shadow["state"]["desired"]["toggle"], 1);
    assert_eq!(shadow["state"]["delta"]["toggle"], 1);
}

#[tokio::test]
async fn a_corrupt_state_file_is_reported_not_ignored() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join(mock_broker::mqtt::persist::STATE_FILE),
        "{not json",
    )
    .unwrap();
    let mut config = Pki::new().config();
    config.state_dir = Some(state.path().to_owned());
    let error = MockBroker::start(config).await.unwrap_err();
    assert!(
        matches!(error, mock_broker::StartError::CorruptState { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_restart_keeps_the_port_drops_clients_and_keeps_state() {
    let state = tempfile::tempdir().unwrap();
    let mut t = TestBroker::start_with(|c| c.state_dir = Some(state.path().to_owned())).await;
    let port = t.port();
    let mut client = t.client("dev");
    client.connected().await;
    t.broker.publish("cfg/x", "kept", QoS::AtLeastOnce, true);
    let mut tap = t.broker.tap();
    t.broker.restart().await.unwrap();
    assert_eq!(t.port(), port, "same address after the restart");
    client.error().await;
    let mut again = t.client("dev2");
    again.connected().await;
    again.subscribe("cfg/x", QoS::AtLeastOnce).await;
    assert_eq!(&again.message().await.payload[..], b"kept");

    // A tap taken before the restart goes on: the close, then the new broker's events,
    // numbered and timed on.
    let closed = tap
        .wait_for(
            WAIT,
            |e| matches!(e, EventKind::Closed { client_id: Some(id), .. } if id == "dev"),
        )
        .await
        .unwrap();
    let connect = tap
        .wait_for(
            WAIT,
            |e| matches!(e, EventKind::Connect { client_id, .. } if client_id == "dev2"),
        )
        .await
        .unwrap();
    assert!(connect.seq > closed.seq && connect.at >= closed.at);
}

/// The inode of the socket listening on 127.0.0.1:`port`, read from /proc/net/tcp
/// (`local_address` in hex, state `0A` is LISTEN, the inode is the tenth column).
fn listening_inode(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
            .then(|| fields.get(9)?.parse().ok())
            .flatten()
    })
}

#[tokio::test]
async fn a_restart_keeps_its_listening_socket_so_the_port_cannot_be_taken_meanwhile() {
    let mut t = TestBroker::start().await;
    let port = t.broker.local_addr().port();
    let before = listening_inode(port).expect("the broker listens on 127.0.0.1");
    t.broker.restart().await.unwrap();
    assert_eq!(
        listening_inode(port),
        Some(before),
        "the same socket listens after the restart: the port was never released"
    );
    let mut device = t.client("device");
    // Panics unless a CONNACK accepting the connection comes: the restarted broker serves.
    device.connected().await;
}
