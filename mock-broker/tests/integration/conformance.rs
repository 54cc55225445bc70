//! MQTT 3.1.1 behaviour seen by rumqttc, a client written elsewhere.

use crate::support::{TestBroker, WAIT};
use mock_broker::{CloseReason, EventKind};
use rumqttc::{LastWill, QoS};
use std::time::Duration;

#[tokio::test]
async fn qos0_and_qos1_reach_a_wildcard_subscriber() {
    let mut t = TestBroker::start().await;
    let mut sub = t.client("sub");
    sub.connected().await;
    sub.subscribe("dev/+/sensors", QoS::AtLeastOnce).await;
    let mut publisher = t.client("pub");
    publisher.connected().await;

    publisher
        .client
        .publish("dev/a/sensors", QoS::AtMostOnce, false, "zero")
        .await
        .unwrap();
    let first = sub.message().await;
    assert_eq!(
        (first.topic.as_str(), &first.payload[..]),
        ("dev/a/sensors", &b"zero"[..])
    );
    assert_eq!(first.qos, QoS::AtMostOnce);

    publisher
        .client
        .publish("dev/b/sensors", QoS::AtLeastOnce, false, "one")
        .await
        .unwrap();
    let second = sub.message().await;
    assert_eq!(&second.payload[..], b"one");
    assert_eq!(second.qos, QoS::AtLeastOnce);
    t.event(
        "PUBACK to the publisher",
        |e| matches!(e, EventKind::PubackOut { client_id, .. } if client_id == "pub"),
    )
    .await;
    t.event(
        "PUBACK from the subscriber",
        |e| matches!(e, EventKind::PubackIn { client_id, .. } if client_id == "sub"),
    )
    .await;
}

#[tokio::test]
async fn retained_message_goes_to_an_exact_subscription_only() {
    let mut t = TestBroker::start().await;
    let mut publisher = t.client("pub");
    publisher.connected().await;
    publisher
        .client
        .publish("dev/config", QoS::AtLeastOnce, true, "v1")
        .await
        .unwrap();
    t.event(
        "the retained publish is acknowledged",
        |e| matches!(e, EventKind::PubackOut { client_id, .. } if client_id == "pub"),
    )
    .await;

    let mut wild = t.client("wild");
    wild.connected().await;
    wild.subscribe("dev/#", QoS::AtLeastOnce).await;
    let mut exact = t.client("exact");
    exact.connected().await;
    exact.subscribe("dev/config", QoS::AtLeastOnce).await;
    let retained = exact.message().await;
    assert!(retained.retain);
    assert_eq!(&retained.payload[..], b"v1");

    // The wildcard subscriber's first message is the live one, not the retained one.
    publisher
        .client
        .publish("dev/marker", QoS::AtLeastOnce, false, "live")
        .await
        .unwrap();
    let first = wild.message().await;
    assert_eq!(first.topic, "dev/marker");
}

#[tokio::test]
async fn the_will_is_published_when_a_client_vanishes() {
    let t = TestBroker::start().await;
    let mut watcher = t.client("watcher");
    watcher.connected().await;
    watcher.subscribe("dev/status", QoS::AtLeastOnce).await;
    let mut doomed = t.client_with("doomed", |o| {
        o.set_last_will(LastWill::new(
            "dev/status",
            "offline",
            QoS::AtLeastOnce,
            false,
        ));
    });
    doomed.connected().await;
    drop(doomed); // the socket closes without DISCONNECT
    let will = watcher.message().await;
    assert_eq!(&will.payload[..], b"offline");
}

#[tokio::test]
async fn a_clean_disconnect_publishes_no_will() {
    let mut t = TestBroker::start().await;
    let mut polite = t.client_with("polite", |o| {
        o.set_last_will(LastWill::new(
            "dev/status",
            "offline",
            QoS::AtMostOnce,
            false,
        ));
    });
    polite.connected().await;
    polite.client.disconnect().await.unwrap();
    let mut will_published = false;
    let close = t
        .tap
        .wait_for(WAIT, |e| {
            will_published |= matches!(e, EventKind::WillPublished { .. });
            matches!(e, EventKind::Closed { .. })
        })
        .await
        .unwrap();
    assert!(matches!(
        &close.kind,
        EventKind::Closed {
            reason: CloseReason::ClientInitiatedDisconnect,
            ..
        }
    ));
    // A will is tapped right after the close of its connection.
    t.broker.publish("marker", "x", QoS::AtMostOnce, false);
    let mut publisher = t.client("after");
    publisher.connected().await;
    t.tap
        .wait_for(WAIT, |e| {
            will_published |= matches!(e, EventKind::WillPublished { .. });
            matches!(e, EventKind::Connack { client_id, .. } if client_id == "after")
        })
        .await
        .unwrap();
    assert!(!will_published);
}

#[tokio::test]
async fn a_persistent_session_resumes_with_queued_qos1() {
    let mut t = TestBroker::start().await;
    let mut device = t.client_with("device", |o| {
        o.set_clean_session(false);
    });
    assert!(!device.connected().await);
    device.subscribe("device/cmd", QoS::AtLeastOnce).await;
    drop(device);
    t.closed_reason("device").await;

    let mut cloud = t.client("cloud");
    cloud.connected().await;
    cloud
        .client
        .publish("device/cmd", QoS::AtLeastOnce, false, "while-away")
        .await
        .unwrap();
    t.event(
        "PUBACK to the cloud",
        |e| matches!(e, EventKind::PubackOut { client_id, .. } if client_id == "cloud"),
    )
    .await;

    let mut back = t.client_with("device", |o| {
        o.set_clean_session(false);
    });
    assert!(back.connected().await, "session present");
    let queued = back.message().await;
    assert_eq!(&queued.payload[..], b"while-away");
}

#[tokio::test]
async fn a_second_connection_with_the_same_client_id_takes_over() {
    let mut t = TestBroker::start().await;
    let mut first = t.client("twin");
    first.connected().await;
    let mut second = t.client("twin");
    second.connected().await;
    assert_eq!(
        t.closed_reason("twin").await,
        CloseReason::DuplicateClientid
    );
    first.error().await;
    // The newer connection still works.
    second.subscribe("twin/x", QoS::AtMostOnce).await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_one_and_a_half_keep_alives() {
    let mut t = TestBroker::start_with(|c| c.core.time_scale = 0.01).await;
    let mut raw = t.raw().await;
    let mut connect = rumqttc::mqttbytes::v4::Connect::new("sleepy");
    connect.keep_alive = 30; // 45 s, scaled to 450 ms
    raw.send(rumqttc::mqttbytes::v4::Packet::Connect(connect))
        .await;
    let connected = tokio::time::Instant::now();
    raw.expect_closed().await;
    assert_eq!(
        t.closed_reason("sleepy").await,
        CloseReason::MqttKeepAliveTimeout
    );
    assert!(connected.elapsed() >= Duration::from_millis(400));
}
