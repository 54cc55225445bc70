//! MQTT 3.1.1's rules on a client's packets that the decoder does not check: one layer,
//! between the bytes and the core.
//!
//! rumqttc's codec ([`crate::mqtt::codec`] uses it) reads packets leniently: it ignores the
//! fixed header's flag bits, the reserved bit of CONNECT's flags and the reserved bits of a
//! SUBSCRIBE's options, and it accepts wildcards in a PUBLISH topic or an UNSUBSCRIBE
//! without filters. AWS IoT Core refuses all of those by closing the connection (an
//! UNSUBSCRIBE sent as `0xA0` instead of `0xA2` is closed, and the lifecycle event says
//! `CLIENT_ERROR`), so the broker checks them here: [`check_frame`] on the raw bytes of a
//! whole packet before it is decoded, [`check_packet`] on the decoded packet. Each refusal
//! is a [`Violation`] that closes the connection and goes on the tap.
//!
//! Written by hand because no MQTT crate exposes a strict validation of decoded packets;
//! AWS IoT Core's own limits (slashes, sizes, QoS 2, reserved topics) are the core's, not
//! this module's.

use crate::mqtt::errors::Violation;
use crate::mqtt::topic;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::Packet;

/// The name of packet type `kind` (the first byte's high nibble).
fn type_name(kind: u8) -> &'static str {
    match kind {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        _ => "reserved",
    }
}

/// Checks the raw bytes of one whole packet (fixed header included): the fixed header's
/// flags for its type [MQTT-2.2.2-1], PUBLISH's QoS and DUP, CONNECT's flags byte, and a
/// SUBSCRIBE's options bytes. A body too short to hold what is checked passes: the decoder
/// refuses it as malformed.
pub fn check_frame(frame: &[u8]) -> Result<(), Violation> {
    let Some(&first) = frame.first() else {
        return Ok(());
    };
    let (kind, flags) = (first >> 4, first & 0x0f);
    let required = match kind {
        0 | 15 => return Err(Violation::ReservedPacketType(kind)),
        3 => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(Violation::Qos3("PUBLISH"));
            }
            if qos == 0 && flags & 0b1000 != 0 {
                return Err(Violation::DupOnQos0);
            }
            flags
        }
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if flags != required {
        return Err(Violation::ReservedFlags {
            packet: type_name(kind),
            flags,
            required,
        });
    }
    let body = frame.get(header_length(frame)..).unwrap_or_default();
    match kind {
        1 => check_connect_flags(body),
        8 => check_subscribe_options(body),
        _ => Ok(()),
    }
}

/// Length of the fixed header: the first byte and the remaining-length bytes.
fn header_length(frame: &[u8]) -> usize {
    1 + frame
        .iter()
        .skip(1)
        .position(|byte| byte & 0x80 == 0)
        .map_or(frame.len(), |last| last + 1)
}

/// CONNECT's flags byte follows the protocol name (a length-prefixed string) and level.
fn check_connect_flags(body: &[u8]) -> Result<(), Violation> {
    let Some(name_length) = body
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return Ok(());
    };
    let Some(&flags) = body.get(2 + name_length + 1) else {
        return Ok(());
    };
    let will = flags & 0b0000_0100 != 0;
    let will_qos = (flags >> 3) & 0b11;
    let will_retain = flags & 0b0010_0000 != 0;
    let (password, username) = (flags & 0b0100_0000 != 0, flags & 0b1000_0000 != 0);
    if flags & 1 != 0 {
        Err(Violation::ReservedConnectFlag)
    } else if will_qos == 3 {
        Err(Violation::Qos3("Will"))
    } else if !will && (will_qos != 0 || will_retain) {
        Err(Violation::WillFlagsWithoutWill)
    } else if password && !username {
        Err(Violation::PasswordWithoutUsername)
    } else {
        Ok(())
    }
}

/// A SUBSCRIBE's payload: filters, each a length-prefixed string and an options byte
/// whose upper six bits are reserved [MQTT-3.8.3-4].
fn check_subscribe_options(body: &[u8]) -> Result<(), Violation> {
    let mut rest = body.get(2..).unwrap_or_default();
    while let Some(length) = rest.get(..2) {
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        let Some(&options) = rest.get(2 + length) else {
            return Ok(());
        };
        if options & 0b1111_1100 != 0 {
            return Err(Violation::ReservedSubscribeOptions(options));
        }
        if options & 0b11 == 3 {
            return Err(Violation::Qos3("SUBSCRIBE"));
        }
        rest = rest.get(2 + length + 1..).unwrap_or_default();
    }
    Ok(())
}

/// Checks a decoded packet: topic names and filters as MQTT 3.1.1 allows them
/// ([`topic::check_name`], [`topic::check_filter`]), packet identifiers that must not be 0,
/// and SUBSCRIBE/UNSUBSCRIBE with at least one filter.
pub fn check_packet(packet: &Packet) -> Result<(), Violation> {
    match packet {
        Packet::Connect(connect) => {
            if connect.client_id.contains('\0') {
                return Err(Violation::NulCharacter {
                    what: "client id",
                    text: connect.client_id.clone(),
                });
            }
            match &connect.last_will {
                Some(will) => topic::check_name(&will.topic),
                None => Ok(()),
            }
        }
        Packet::Publish(publish) => {
            if publish.qos != QoS::AtMostOnce && publish.pkid == 0 {
                return Err(Violation::PacketIdZero("PUBLISH"));
            }
            topic::check_name(&publish.topic)
        }
        Packet::PubAck(ack) if ack.pkid == 0 => Err(Violation::PacketIdZero("PUBACK")),
        Packet::Subscribe(subscribe) => {
            if subscribe.pkid == 0 {
                return Err(Violation::PacketIdZero("SUBSCRIBE"));
            }
            if subscribe.filters.is_empty() {
                return Err(Violation::NoTopicFilter("SUBSCRIBE"));
            }
            subscribe
                .filters
                .iter()
                .try_for_each(|filter| topic::check_filter(&filter.path))
        }
        Packet::Unsubscribe(unsubscribe) => {
            if unsubscribe.pkid == 0 {
                return Err(Violation::PacketIdZero("UNSUBSCRIBE"));
            }
            if unsubscribe.topics.is_empty() {
                return Err(Violation::NoTopicFilter("UNSUBSCRIBE"));
            }
            unsubscribe
                .topics
                .iter()
                .try_for_each(|filter| topic::check_filter(filter))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
