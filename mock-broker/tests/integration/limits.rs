//! AWS IoT Core's limits and reserved topics, each closing only the offending connection.

use crate::support::{TestBroker, WAIT, close_reason_for, violation};
use bytes::BytesMut;
use mock_broker::Violation;
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet, Publish, Subscribe, SubscribeFilter};

fn bytes_of(packet: Packet) -> BytesMut {
    let mut out = BytesMut::new();
    mock_broker::mqtt::codec::encode(&packet, &mut out).unwrap();
    out
}

async fn violation_for(packet: Packet) -> Violation {
    violation(close_reason_for(true, &bytes_of(packet), false).await)
}

/// A SUBSCRIBE with packet id 1 (rumqttc leaves 0 for its client to fill in).
fn subscribe(mut subscribe: Subscribe) -> Packet {
    subscribe.pkid = 1;
    Packet::Subscribe(subscribe)
}

#[tokio::test]
async fn a_payload_over_128_kib() {
    let big = vec![b'x'; 128 * 1024 + 1];
    let v = violation_for(Packet::Publish(Publish::new("a/b", QoS::AtMostOnce, big))).await;
    assert_eq!(v, Violation::PayloadTooLarge(128 * 1024 + 1));
}

#[tokio::test]
async fn a_payload_of_exactly_128_kib_is_delivered() {
    let t = TestBroker::start().await;
    let mut sub = t.client("sub");
    sub.connected().await;
    sub.subscribe("big", QoS::AtMostOnce).await;
    let mut raw = t.raw_connected("pub").await;
    let payload = vec![b'x'; 128 * 1024];
    raw.send(Packet::Publish(Publish::new(
        "big",
        QoS::AtMostOnce,
        payload,
    )))
    .await;
    assert_eq!(sub.message().await.payload.len(), 128 * 1024);
}

#[tokio::test]
async fn more_than_seven_slashes_in_a_topic() {
    let v = violation_for(Packet::Publish(Publish::new(
        "1/2/3/4/5/6/7/8/9",
        QoS::AtMostOnce,
        "x",
    )))
    .await;
    assert!(matches!(v, Violation::TooManySlashes { slashes: 8, .. }));
}

#[tokio::test]
async fn more_than_seven_slashes_in_a_filter() {
    let v = violation_for(subscribe(Subscribe::new(
        "1/2/3/4/5/6/7/8/#",
        QoS::AtMostOnce,
    )))
    .await;
    assert!(matches!(v, Violation::TooManySlashes { .. }));
}

#[tokio::test]
async fn more_than_eight_filters_in_one_subscribe() {
    let filters = (0..9).map(|i| SubscribeFilter::new(format!("f/{i}"), QoS::AtMostOnce));
    let v = violation_for(subscribe(Subscribe::new_many(filters))).await;
    assert_eq!(v, Violation::TooManyFilters(9));
}

#[tokio::test]
async fn a_client_id_over_128_bytes_gets_a_refusing_connack() {
    let t = TestBroker::start().await;
    let mut raw = t.raw().await;
    raw.send(Packet::Connect(Connect::new("c".repeat(129))))
        .await;
    match raw.read(WAIT).await {
        Some(Packet::ConnAck(ack)) => {
            assert_eq!(ack.code, rumqttc::ConnectReturnCode::BadClientId)
        }
        other => panic!("expected a CONNACK, got {other:?}"),
    }
    raw.expect_closed().await;
}

#[tokio::test]
async fn publishing_to_aws_events_is_refused() {
    let v = violation_for(Packet::Publish(Publish::new(
        "$aws/events/presence/connected/x",
        QoS::AtMostOnce,
        "{}",
    )))
    .await;
    assert!(matches!(v, Violation::ReservedTopic(_)));
}

#[tokio::test]
async fn qos2_is_unsupported() {
    let mut publish = Publish::new("a/b", QoS::ExactlyOnce, "x");
    publish.pkid = 1;
    assert_eq!(
        violation_for(Packet::Publish(publish)).await,
        Violation::Qos2Unsupported
    );
    assert_eq!(
        violation_for(subscribe(Subscribe::new("a/b", QoS::ExactlyOnce))).await,
        Violation::Qos2Unsupported
    );
}

#[tokio::test]
async fn hash_does_not_match_the_parent_level() {
    let t = TestBroker::start().await;
    let mut sub = t.client("sub");
    sub.connected().await;
    sub.subscribe("sensor/#", QoS::AtMostOnce).await;
    let mut publisher = t.client("pub");
    publisher.connected().await;
    for topic in ["sensor", "sensor/", "sensor/a"] {
        publisher
            .client
            .publish(topic, QoS::AtMostOnce, false, topic)
            .await
            .unwrap();
    }
    assert_eq!(sub.message().await.topic, "sensor/");
    assert_eq!(sub.message().await.topic, "sensor/a");
}
