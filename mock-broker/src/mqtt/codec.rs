//! MQTT 3.1.1 framing: bytes to packets and back.
//!
//! The packet encoding itself is rumqttc's `mqttbytes::v4`; this module only frames a
//! byte buffer, applies the broker's size limit before buffering a huge packet, runs the
//! validation layer ([`crate::mqtt::validate`]) on each whole packet, before and after
//! decoding it, and turns decoder errors into [`Violation`]s. It never touches a socket:
//! the connection task (the server edge) feeds it what it read.

use crate::mqtt::errors::Violation;
use crate::mqtt::validate;
use bytes::BytesMut;
use rumqttc::mqttbytes::{self, v4::Packet};

/// Largest payload AWS IoT Core accepts (128 KiB).
pub const MAX_PAYLOAD: usize = 128 * 1024;

/// Largest remaining length the decoder buffers: a maximal payload plus the largest
/// topic and the packet id. Anything larger is refused from its fixed header alone.
pub const MAX_REMAINING_LENGTH: usize = MAX_PAYLOAD + 2 + u16::MAX as usize + 2;

/// Takes one whole packet off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a packet (read more and call again).
pub fn decode(buf: &mut BytesMut) -> Result<Option<Packet>, Violation> {
    if buf.is_empty() {
        return Ok(None);
    }
    let header = match mqttbytes::check(buf.iter(), MAX_REMAINING_LENGTH) {
        Ok(header) => header,
        Err(mqttbytes::Error::InsufficientBytes(_)) => return Ok(None),
        Err(other) => return Err(violation(other)),
    };
    validate::check_frame(buf.get(..header.frame_length()).unwrap_or_default())?;
    let packet = Packet::read(buf, MAX_REMAINING_LENGTH).map_err(violation)?;
    validate::check_packet(&packet)?;
    Ok(Some(packet))
}

fn violation(error: mqttbytes::Error) -> Violation {
    match error {
        mqttbytes::Error::PayloadSizeLimitExceeded(_) => Violation::PacketTooLarge {
            max: MAX_REMAINING_LENGTH,
        },
        mqttbytes::Error::TopicNotUtf8 => Violation::NotUtf8,
        mqttbytes::Error::PacketIdZero => Violation::PacketIdZero("PUBLISH"),
        mqttbytes::Error::EmptySubscription => Violation::NoTopicFilter("SUBSCRIBE"),
        other => Violation::Malformed(other.to_string()),
    }
}

/// Appends the encoding of `packet` to `out`.
///
/// Packets the broker builds always encode; an encoder refusal (which would be a broker
/// bug) is reported rather than panicking.
pub fn encode(packet: &Packet, out: &mut BytesMut) -> Result<(), mqttbytes::Error> {
    packet.write(out, usize::MAX).map(|_| ())
}

/// The packet's name, for tap events and violations.
pub fn packet_name(packet: &Packet) -> &'static str {
    match packet {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect => "DISCONNECT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::QoS;
    use rumqttc::mqttbytes::v4::Publish;

    fn encoded(packet: &Packet) -> BytesMut {
        let mut out = BytesMut::new();
        encode(packet, &mut out).unwrap();
        out
    }

    #[test]
    fn a_split_packet_decodes_once_whole() {
        let mut publish = Publish::new("a/b", QoS::AtLeastOnce, "hi");
        publish.pkid = 7;
        let whole = encoded(&Packet::Publish(publish));
        let mut buf = BytesMut::from(&whole[..3]);
        assert_eq!(decode(&mut buf), Ok(None));
        buf.extend_from_slice(&whole[3..]);
        let packet = decode(&mut buf).unwrap().unwrap();
        assert!(matches!(packet, Packet::Publish(p) if p.topic == "a/b"));
        assert!(buf.is_empty());
    }

    #[test]
    fn an_oversized_remaining_length_is_refused_from_the_header() {
        // PUBLISH with remaining length 268_435_455 (the MQTT maximum), no body sent.
        let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0x7f][..]);
        assert!(matches!(
            decode(&mut buf),
            Err(Violation::PacketTooLarge { .. })
        ));
    }

    #[test]
    fn invalid_utf8_topic_is_a_violation() {
        // PUBLISH QoS 0, topic length 2, bytes 0xff 0xfe.
        let mut buf = BytesMut::from(&[0x30, 0x04, 0x00, 0x02, 0xff, 0xfe][..]);
        assert_eq!(decode(&mut buf), Err(Violation::NotUtf8));
    }

    #[test]
    fn a_string_crossing_the_packet_end_is_malformed() {
        // PUBLISH whose topic length (0x10) runs past the 3-byte remaining length.
        let mut buf = BytesMut::from(&[0x30, 0x03, 0x00, 0x10, 0x61][..]);
        assert!(matches!(decode(&mut buf), Err(Violation::Malformed(_))));
    }
}
