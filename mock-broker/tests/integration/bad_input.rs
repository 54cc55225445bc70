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
