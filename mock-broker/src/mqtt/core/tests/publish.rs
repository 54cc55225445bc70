//! Routing, retained messages and the AWS IoT Core rules on PUBLISH and SUBSCRIBE.

use super::*;

#[test]
fn qos0_and_qos1_are_routed_with_the_lower_qos() {
    let mut f = Fixture::new();
    f.connect(1, "sub0");
    f.connect(2, "sub1");
    f.connect(3, "pub");
    f.subscribe(1, "dev/+", QoS::AtMostOnce);
    f.subscribe(2, "dev/#", QoS::AtLeastOnce);

    let actions = f.publish(3, "dev/sensors", QoS::AtLeastOnce, "{}");
    assert_eq!(sent_to(&actions, 3), vec![Packet::PubAck(PubAck::new(1))]);
    let to0 = publishes_to(&actions, 1);
    let to1 = publishes_to(&actions, 2);
    assert_eq!(to0.len(), 1);
    assert_eq!(to0[0].qos, QoS::AtMostOnce);
    assert_eq!(to1.len(), 1);
    assert_eq!(to1[0].qos, QoS::AtLeastOnce);
    assert_ne!(to1[0].pkid, 0);
    assert!(!to1[0].retain);
}

#[test]
fn hash_filter_does_not_match_its_parent_topic() {
    let mut f = Fixture::new();
    f.connect(1, "sub");
    f.connect(2, "pub");
    f.subscribe(1, "sensor/#", QoS::AtMostOnce);
    assert!(publishes_to(&f.publish(2, "sensor", QoS::AtMostOnce, "x"), 1).is_empty());
    assert_eq!(
        publishes_to(&f.publish(2, "sensor/", QoS::AtMostOnce, "x"), 1).len(),
        1
    );
}

#[test]
fn retained_messages_go_only_to_exact_subscriptions_and_empty_deletes() {
    let mut f = Fixture::new();
    f.connect(1, "pub");
    let mut retained = Publish::new("dev/config", QoS::AtMostOnce, "v1");
    retained.retain = true;
    f.core.handle_packet(1, T0, Packet::Publish(retained));
    assert!(f.core.retained().contains_key("dev/config"));

    f.connect(2, "exact");
    let exact = publishes_to(&f.subscribe(2, "dev/config", QoS::AtLeastOnce), 2);
    assert_eq!(exact.len(), 1);
    assert!(exact[0].retain);
    assert_eq!(&exact[0].payload[..], b"v1");

    f.connect(3, "wild");
    assert!(publishes_to(&f.subscribe(3, "dev/+", QoS::AtLeastOnce), 3).is_empty());

    let mut delete = Publish::new("dev/config", QoS::AtMostOnce, "");
    delete.retain = true;
    f.core.handle_packet(1, T0, Packet::Publish(delete));
    assert!(f.core.retained().is_empty());
}

#[test]
fn suback_comes_before_the_retained_message() {
    let mut f = Fixture::new();
    f.connect(1, "pub");
    let mut retained = Publish::new("a/b", QoS::AtMostOnce, "v");
    retained.retain = true;
    f.core.handle_packet(1, T0, Packet::Publish(retained));
    f.connect(2, "sub");
    let sent = sent_to(&f.subscribe(2, "a/b", QoS::AtMostOnce), 2);
    assert!(matches!(
        sent.as_slice(),
        [Packet::SubAck(_), Packet::Publish(_)]
    ));
}

#[test]
fn aws_violations_close_only_the_offender() {
    let cases: Vec<(&str, Packet, Violation)> = vec![
        (
            "qos2 publish",
            Packet::Publish({
                let mut p = Publish::new("a", QoS::ExactlyOnce, "x");
                p.pkid = 1;
                p
            }),
            Violation::Qos2Unsupported,
        ),
        (
            "reserved topic",
            Packet::Publish(Publish::new("$aws/events/x", QoS::AtMostOnce, "x")),
            Violation::ReservedTopic("$aws/events/x".into()),
        ),
        (
            "payload over 128 KiB",
            Packet::Publish(Publish::new(
                "a",
                QoS::AtMostOnce,
                vec![0u8; MAX_PAYLOAD + 1],
            )),
            Violation::PayloadTooLarge(MAX_PAYLOAD + 1),
        ),
        (
            "eight slashes",
            Packet::Publish(Publish::new("1/2/3/4/5/6/7/8/9", QoS::AtMostOnce, "x")),
            Violation::TooManySlashes {
                topic: "1/2/3/4/5/6/7/8/9".into(),
                slashes: 8,
            },
        ),
        (
            "nine filters",
            Packet::Subscribe(Subscribe::new_many((0..9).map(|i| {
                rumqttc::mqttbytes::v4::SubscribeFilter::new(format!("t/{i}"), QoS::AtMostOnce)
            }))),
            Violation::TooManyFilters(9),
        ),
        (
            "qos2 subscription",
            Packet::Subscribe(Subscribe::new("a", QoS::ExactlyOnce)),
            Violation::Qos2Unsupported,
        ),
        (
            "pubrel",
            Packet::PubRel(rumqttc::mqttbytes::v4::PubRel::new(1)),
            Violation::Qos2Unsupported,
        ),
        (
            "retained to a $ topic",
            Packet::Publish({
                let mut p = Publish::new("$aws/things/x/shadow/update", QoS::AtMostOnce, "x");
                p.retain = true;
                p
            }),
            Violation::RetainedReservedTopic("$aws/things/x/shadow/update".into()),
        ),
        (
            "server packet from a client",
            Packet::PingResp,
            Violation::UnexpectedPacket("PINGRESP"),
        ),
    ];
    for (name, packet, expected) in cases {
        let mut f = Fixture::new();
        f.connect(1, "bad");
        f.connect(2, "good");
        let actions = f.core.handle_packet(1, T0, packet);
        assert_eq!(violation_of(&actions, 1), Some(expected), "{name}");
        assert_eq!(
            f.core.connection_count(),
            1,
            "{name}: the other client stays"
        );
        assert_eq!(f.core.connection_of("good"), Some(2), "{name}");
    }
}

#[test]
fn broker_publishes_reach_subscribers() {
    let mut f = Fixture::new();
    f.connect(1, "dev");
    f.subscribe(1, "$aws/events/presence/connected/+", QoS::AtMostOnce);
    let actions = f.core.publish(
        T0,
        "$aws/events/presence/connected/x",
        Bytes::from_static(b"{}"),
        QoS::AtMostOnce,
        false,
    );
    assert_eq!(publishes_to(&actions, 1).len(), 1);
}

#[test]
fn broker_publications_are_tapped_even_without_subscribers() {
    let mut f = Fixture::new();
    let actions = f.core.publish(
        T0,
        "$aws/events/x",
        Bytes::from_static(b"{}"),
        QoS::AtLeastOnce,
        false,
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Tap(EventKind::BrokerPublish { message }) if message.topic == "$aws/events/x"
    )));
}

#[test]
fn unsubscribe_stops_delivery() {
    let mut f = Fixture::new();
    f.connect(1, "dev");
    f.connect(2, "pub");
    f.subscribe(1, "a/b", QoS::AtMostOnce);
    let actions = f
        .core
        .handle_packet(1, T0, Packet::Unsubscribe(Unsubscribe::new("a/b")));
    assert_eq!(
        sent_to(&actions, 1),
        vec![Packet::UnsubAck(UnsubAck { pkid: 0 })]
    );
    assert!(publishes_to(&f.publish(2, "a/b", QoS::AtMostOnce, "x"), 1).is_empty());
}
