//! Unit tests of the validation layer, fed the bytes a client would send, through the
//! codec so that what the broker refuses is what the connection task would see.

use crate::mqtt::codec::{decode, encode};
use crate::mqtt::errors::Violation;
use bytes::BytesMut;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    Connect, LastWill, Login, Packet, PubAck, Publish, Subscribe, SubscribeFilter, Unsubscribe,
};

fn bytes_of(packet: &Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, &mut out).unwrap();
    out.to_vec()
}

fn verdict(bytes: &[u8]) -> Result<Packet, Violation> {
    let mut buf = BytesMut::from(bytes);
    decode(&mut buf).map(|packet| packet.expect("a whole packet"))
}

fn refused(bytes: &[u8]) -> Violation {
    verdict(bytes).expect_err("refused")
}

/// An UNSUBSCRIBE with packet id 1 (rumqttc leaves 0 for its client to fill in).
fn unsubscribe(filter: &str) -> Packet {
    let mut unsubscribe = Unsubscribe::new(filter);
    unsubscribe.pkid = 1;
    Packet::Unsubscribe(unsubscribe)
}

/// A SUBSCRIBE with packet id 1.
fn subscribe(filters: &[(&str, QoS)]) -> Packet {
    let mut subscribe = Subscribe::new_many(
        filters
            .iter()
            .map(|(path, qos)| SubscribeFilter::new((*path).to_owned(), *qos)),
    );
    subscribe.pkid = 1;
    Packet::Subscribe(subscribe)
}

#[test]
fn an_unsubscribe_sent_as_0xa0_is_refused() {
    let mut bytes = bytes_of(&unsubscribe("a/b"));
    assert_eq!(bytes[0], 0xa2);
    assert!(verdict(&bytes).is_ok());
    bytes[0] = 0xa0;
    assert_eq!(
        refused(&bytes),
        Violation::ReservedFlags {
            packet: "UNSUBSCRIBE",
            flags: 0,
            required: 0b0010,
        }
    );
}

#[test]
fn every_packet_type_has_its_mandated_flags() {
    let subscribe = bytes_of(&subscribe(&[("a", QoS::AtMostOnce)]));
    let puback = bytes_of(&Packet::PubAck(PubAck::new(1)));
    let pingreq = [0xc0, 0x00];
    let disconnect = [0xe0, 0x00];
    let pubrel = [0x62, 0x02, 0x00, 0x01];
    let connect = bytes_of(&Packet::Connect(Connect::new("dev")));
    let cases: [(&[u8], &str, u8); 6] = [
        (&subscribe, "SUBSCRIBE", 0b0010),
        (&puback, "PUBACK", 0),
        (&pingreq, "PINGREQ", 0),
        (&disconnect, "DISCONNECT", 0),
        (&pubrel, "PUBREL", 0b0010),
        (&connect, "CONNECT", 0),
    ];
    for (good, packet, required) in cases {
        assert!(verdict(good).is_ok(), "{packet} as sent is fine");
        for flags in [0b0001u8, 0b0100, 0b1000] {
            let mut bad = good.to_vec();
            bad[0] = (bad[0] & 0xf0) | (required ^ flags);
            assert_eq!(
                refused(&bad),
                Violation::ReservedFlags {
                    packet,
                    flags: required ^ flags,
                    required,
                },
                "{packet} with flags {:#06b}",
                required ^ flags
            );
        }
    }
}

#[test]
fn reserved_packet_types_are_refused() {
    assert_eq!(refused(&[0x00, 0x00]), Violation::ReservedPacketType(0));
    assert_eq!(refused(&[0xf0, 0x00]), Violation::ReservedPacketType(15));
}

#[test]
fn publish_qos_3_and_dup_on_qos_0_are_refused() {
    let mut publish = bytes_of(&Packet::Publish(Publish::new("a", QoS::AtMostOnce, "x")));
    publish[0] = 0x30 | 0b0110;
    assert_eq!(refused(&publish), Violation::Qos3("PUBLISH"));
    publish[0] = 0x30 | 0b1000;
    assert_eq!(refused(&publish), Violation::DupOnQos0);
    // DUP on QoS 1 is a resend, and fine.
    let mut resend = Publish::new("a", QoS::AtLeastOnce, "x");
    resend.pkid = 9;
    resend.dup = true;
    assert!(verdict(&bytes_of(&Packet::Publish(resend))).is_ok());
}

#[test]
fn publish_topics_follow_mqtt_rules() {
    for (topic, expected) in [
        ("", Violation::EmptyTopic),
        ("a/+/b", Violation::WildcardInTopic("a/+/b".into())),
        ("a/#", Violation::WildcardInTopic("a/#".into())),
    ] {
        let bytes = bytes_of(&Packet::Publish(Publish::new(topic, QoS::AtMostOnce, "x")));
        assert_eq!(refused(&bytes), expected, "{topic:?}");
    }
}

#[test]
fn packet_identifier_zero_is_refused_where_one_is_required() {
    // QoS 1 PUBLISH "a" with packet id 0.
    assert_eq!(
        refused(&[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00]),
        Violation::PacketIdZero("PUBLISH")
    );
    let mut subscribe = Subscribe::new("a", QoS::AtMostOnce);
    subscribe.pkid = 0;
    assert_eq!(
        refused(&bytes_of(&Packet::Subscribe(subscribe))),
        Violation::PacketIdZero("SUBSCRIBE")
    );
    let mut unsubscribe = Unsubscribe::new("a");
    unsubscribe.pkid = 0;
    assert_eq!(
        refused(&bytes_of(&Packet::Unsubscribe(unsubscribe))),
        Violation::PacketIdZero("UNSUBSCRIBE")
    );
    assert_eq!(
        refused(&bytes_of(&Packet::PubAck(PubAck::new(0)))),
        Violation::PacketIdZero("PUBACK")
    );
}

#[test]
fn subscribe_and_unsubscribe_need_valid_filters() {
    // SUBSCRIBE, packet id 1, no filter.
    assert_eq!(
        refused(&[0x82, 0x02, 0x00, 0x01]),
        Violation::NoTopicFilter("SUBSCRIBE")
    );
    assert_eq!(
        refused(&[0xa2, 0x02, 0x00, 0x01]),
        Violation::NoTopicFilter("UNSUBSCRIBE")
    );
    assert_eq!(
        refused(&bytes_of(&subscribe(&[
            ("ok/+", QoS::AtMostOnce),
            ("a/#/b", QoS::AtMostOnce)
        ]))),
        Violation::InvalidFilter("a/#/b".into())
    );
    assert_eq!(
        refused(&bytes_of(&unsubscribe("a+"))),
        Violation::InvalidFilter("a+".into())
    );
    assert_eq!(refused(&bytes_of(&unsubscribe(""))), Violation::EmptyTopic);
}

#[test]
fn subscribe_options_reserved_bits_and_qos_3_are_refused() {
    let good = bytes_of(&subscribe(&[("a", QoS::AtLeastOnce)]));
    assert_eq!(*good.last().unwrap(), 0x01);
    let mut reserved = good.clone();
    *reserved.last_mut().unwrap() = 0x05;
    assert_eq!(
        refused(&reserved),
        Violation::ReservedSubscribeOptions(0x05)
    );
    let mut qos3 = good;
    *qos3.last_mut().unwrap() = 0x03;
    assert_eq!(refused(&qos3), Violation::Qos3("SUBSCRIBE"));
}

/// CONNECT's flags byte sits after the protocol name (2 + 4 bytes) and level: offset 9 of
/// a CONNECT whose remaining length takes one byte.
const CONNECT_FLAGS: usize = 9;

#[test]
fn connect_flags_follow_mqtt_rules() {
    let plain = bytes_of(&Packet::Connect(Connect::new("dev")));
    assert_eq!(plain[CONNECT_FLAGS], 0b0000_0010, "clean session only");
    let with = |flags: u8| {
        let mut bytes = plain.clone();
        bytes[CONNECT_FLAGS] = flags;
        bytes
    };
    assert_eq!(refused(&with(0b0000_0011)), Violation::ReservedConnectFlag);
    assert_eq!(refused(&with(0b0000_1010)), Violation::WillFlagsWithoutWill);
    assert_eq!(refused(&with(0b0010_0010)), Violation::WillFlagsWithoutWill);

    let mut will = Connect::new("dev");
    will.last_will = Some(LastWill::new("dev/will", "bye", QoS::AtLeastOnce, false));
    let mut bytes = bytes_of(&Packet::Connect(will));
    assert!(verdict(&bytes).is_ok());
    bytes[CONNECT_FLAGS] |= 0b0001_1000;
    assert_eq!(refused(&bytes), Violation::Qos3("Will"));

    let mut wildcard = Connect::new("dev");
    wildcard.last_will = Some(LastWill::new("dev/+", "bye", QoS::AtMostOnce, false));
    assert_eq!(
        refused(&bytes_of(&Packet::Connect(wildcard))),
        Violation::WildcardInTopic("dev/+".into())
    );

    let mut login = Connect::new("dev");
    login.login = Some(Login::new("user", "secret"));
    let mut bytes = bytes_of(&Packet::Connect(login));
    assert!(verdict(&bytes).is_ok());
    bytes[CONNECT_FLAGS] &= !0b1000_0000;
    assert_eq!(refused(&bytes), Violation::PasswordWithoutUsername);
}

#[test]
fn a_packet_split_across_reads_is_validated_once_whole() {
    let mut bytes = bytes_of(&unsubscribe("a/b"));
    bytes[0] = 0xa0;
    let mut buf = BytesMut::from(&bytes[..3]);
    assert_eq!(decode(&mut buf), Ok(None), "not judged on a part");
    buf.extend_from_slice(&bytes[3..]);
    assert!(matches!(
        decode(&mut buf),
        Err(Violation::ReservedFlags { .. })
    ));
}

#[test]
fn a_client_id_holding_u0000_is_refused() {
    assert!(verdict(&bytes_of(&Packet::Connect(Connect::new("a-b")))).is_ok());
    assert_eq!(
        refused(&bytes_of(&Packet::Connect(Connect::new("a\0b")))),
        Violation::NulCharacter {
            what: "client id",
            text: "a\0b".into()
        }
    );
}
