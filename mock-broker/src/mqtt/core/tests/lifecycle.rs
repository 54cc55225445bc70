//! The Last Will and the lifecycle events.

use super::*;

#[test]
fn the_will_is_published_on_abnormal_close_only() {
    let mut f = Fixture::new();
    f.connect(9, "watcher");
    f.subscribe(9, "will/#", QoS::AtMostOnce);
    for (conn, clean_close) in [(1, true), (2, false)] {
        let mut connect = Connect::new(format!("dev{conn}"));
        connect.last_will = Some(LastWill::new(
            format!("will/{conn}"),
            "x",
            QoS::AtMostOnce,
            false,
        ));
        f.connect_with(conn, T0, connect);
        let actions = if clean_close {
            f.core.handle_packet(conn, T0, Packet::Disconnect)
        } else {
            f.core.handle_close(conn, T0, CloseReason::ConnectionLost)
        };
        let wills = publishes_to(&actions, 9);
        assert_eq!(
            wills.len(),
            usize::from(!clean_close),
            "clean close: {clean_close}"
        );
    }
}

#[test]
fn lifecycle_events_follow_connects_and_closes() {
    let mut f = Fixture::new();
    f.connect(9, "watcher");
    f.subscribe(9, "$aws/events/presence/+/+", QoS::AtMostOnce);
    let connected = publishes_to(&f.connect(1, "dev"), 9);
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].topic, "$aws/events/presence/connected/dev");
    let event: serde_json::Value = serde_json::from_slice(&connected[0].payload).unwrap();
    assert_eq!(event["eventType"], "connected");
    assert_eq!(event["principalIdentifier"], "cert-1");
    assert_eq!(event["versionNumber"], 1);

    let closed = publishes_to(
        &f.core
            .handle_close(1, secs(5), CloseReason::MqttKeepAliveTimeout),
        9,
    );
    let event: serde_json::Value = serde_json::from_slice(&closed[0].payload).unwrap();
    assert_eq!(closed[0].topic, "$aws/events/presence/disconnected/dev");
    assert_eq!(event["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");
    assert_eq!(event["clientInitiatedDisconnect"], false);
    assert_eq!(event["timestamp"], 5000);
    assert_eq!(event["versionNumber"], 2);

    // A connection refused before CONNACK has no lifecycle events.
    f.core
        .faults_mut()
        .withhold_connack(crate::mqtt::fault_plan::Target::All, 1);
    assert!(publishes_to(&f.connect(2, "silent"), 9).is_empty());
    assert!(publishes_to(&f.core.handle_close(2, T0, CloseReason::ConnectionLost), 9).is_empty());
}
