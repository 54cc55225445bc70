//! Malformed input closes that one connection with a reason; everyone else is served.

use crate::support::{TestBroker, WAIT, close_reason_for, violation};
use mock_broker::{CloseReason, EventKind, Violation};
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet, PingReq};
use std::time::Duration;

#[tokio::test]
async fn a_truncated_packet() {
    // PUBLISH announcing 10 bytes, 3 sent, then the client goes away.
    let reason = close_reason_for(true, &[0x30, 0x0a, 0x00, 0x01, b'a'], true).await;
    assert_eq!(violation(reason), Violation::Truncated(5));
}

#[tokio::test]
async fn a_remaining_length_over_the_limit() {
    let reason = close_reason_for(true, &[0x30, 0xff, 0xff, 0xff, 0x7f], false).await;
    assert!(matches!(
        violation(reason),
        Violation::PacketTooLarge { .. }
    ));
}

#[tokio::test]
async fn an_invalid_utf8_topic() {
    let reason = close_reason_for(true, &[0x30, 0x04, 0x00, 0x02, 0xc3, 0x28], false).await;
    assert_eq!(violation(reason), Violation::NotUtf8);
}

#[tokio::test]
async fn a_packet_before_connect() {
    let mut ping = bytes::BytesMut::new();
    PingReq.write(&mut ping).unwrap();
    let reason = close_reason_for(false, &ping, false).await;
    assert_eq!(violation(reason), Violation::BeforeConnect("PINGREQ"));
}

#[tokio::test]
async fn a_second_connect() {
    let mut connect = bytes::BytesMut::new();
    mock_broker::mqtt::codec::encode(&Packet::Connect(Connect::new("again")), &mut connect)
        .unwrap();
    let reason = close_reason_for(true, &connect, false).await;
    assert_eq!(violation(reason), Violation::SecondConnect);
}

#[tokio::test]
async fn wildcards_in_a_publish_topic() {
    let mut publish = bytes::BytesMut::new();
    let packet = Packet::Publish(rumqttc::mqttbytes::v4::Publish::new(
        "a/#",
        QoS::AtMostOnce,
        "x",
    ));
    mock_broker::mqtt::codec::encode(&packet, &mut publish).unwrap();
    let reason = close_reason_for(true, &publish, false).await;
    assert_eq!(violation(reason), Violation::WildcardInTopic("a/#".into()));
}

#[tokio::test]
async fn garbage_that_is_not_mqtt() {
    let reason = close_reason_for(false, b"\xff\xff\xff\xff\xff", false).await;
    assert!(matches!(violation(reason), Violation::Malformed(_)));
}

#[tokio::test]
async fn a_client_that_says_nothing_after_tls() {
    let mut t = TestBroker::start_with(|c| c.connect_timeout = Duration::from_millis(300)).await;
    let mut raw = t.raw().await;
    raw.expect_closed().await;
    let event = t
        .tap
        .wait_for(WAIT, |e| matches!(e, EventKind::Closed { .. }))
        .await
        .unwrap();
    assert!(matches!(
        &event.kind,
        EventKind::Closed {
            client_id: None,
            reason: CloseReason::ConnectTimeout,
            ..
        }
    ));
    assert_eq!(t.broker.connection_count(), 0);
}

#[tokio::test]
async fn an_unsubscribe_with_flags_0_is_closed_with_client_error_and_no_unsuback() {
    let mut t = TestBroker::start().await;
    let mut watcher = t.client("watcher");
    watcher.connected().await;
    watcher
        .subscribe("$aws/events/presence/disconnected/+", QoS::AtMostOnce)
        .await;
    let mut raw = t.raw_connected("offender").await;
    // UNSUBSCRIBE "a/b", packet id 1, sent as 0xA0 instead of the mandatory 0xA2.
    raw.send_bytes(&[0xa0, 0x07, 0x00, 0x01, 0x00, 0x03, b'a', b'/', b'b'])
        .await;
    assert!(raw.read(WAIT).await.is_none(), "closed, no UNSUBACK");
    assert_eq!(
        violation(t.closed_reason("offender").await),
        Violation::ReservedFlags {
            packet: "UNSUBSCRIBE",
            flags: 0,
            required: 0b0010
        }
    );
    let event = watcher.message().await;
    assert_eq!(event.topic, "$aws/events/presence/disconnected/offender");
    let event: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event["disconnectReason"], "CLIENT_ERROR");
    assert_eq!(event["clientInitiatedDisconnect"], false);
}

#[tokio::test]
async fn each_malformed_packet_closes_with_its_reason() {
    // (bytes after CONNECT, expected violation)
    let cases: Vec<(&[u8], Violation)> = vec![
        (&[0x38, 0x04, 0x00, 0x01, b'a', b'x'], Violation::DupOnQos0),
        (
            &[0x36, 0x04, 0x00, 0x01, b'a', b'x'],
            Violation::Qos3("PUBLISH"),
        ),
        (
            &[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00],
            Violation::PacketIdZero("PUBLISH"),
        ),
        (&[0x30, 0x03, 0x00, 0x00, b'x'], Violation::EmptyTopic),
        (
            &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x04],
            Violation::ReservedSubscribeOptions(0x04),
        ),
        (
            &[0xa2, 0x02, 0x00, 0x01],
            Violation::NoTopicFilter("UNSUBSCRIBE"),
        ),
        (
            &[0x60, 0x02, 0x00, 0x01],
            Violation::ReservedFlags {
                packet: "PUBREL",
                flags: 0,
                required: 0b0010,
            },
        ),
    ];
    for (bytes, expected) in cases {
        let reason = close_reason_for(true, bytes, false).await;
        assert_eq!(violation(reason), expected, "{bytes:02x?}");
    }
}
