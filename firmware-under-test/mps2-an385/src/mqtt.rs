//! MQTT 3.1.1 framing for the core's packets, with the `mqttrs` codec (`no_std`, no
//! allocation): [`encode`] turns the core's `Action::Mqtt*` into bytes, [`Frames`] cuts the
//! bytes that arrive into whole packets, and [`input`] turns one into the core's [`Input`].
//!
//! A broker can send anything, so a packet is checked before `mqttrs` sees it
//! ([`check`]): only what a client receives (CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP)
//! with lengths that hold what it says. `mqttrs` indexes its input without bounds checks on
//! a few malformed packets (a CONNACK shorter than 2 bytes, a PUBLISH whose topic runs past
//! the packet), and a panic would stop the board; after the check every read it does is
//! inside the packet. A bad packet is a [`Malformed`] error, which [`crate::net`] turns
//! into a logged error and `TransportClosed`. What the packets mean is the core's business.

use alloc::vec::Vec;
use firmware_under_test::board::{Action, Input, Qos};
use mqttrs::{Connect, Packet, Pid, Protocol, Publish, QoS, QosPid, Subscribe, SubscribeTopic};

/// Largest packet accepted from the broker (a shadow delta is well under this).
pub const MAX_PACKET: usize = 16 * 1024;

/// A packet from the broker that the board does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Its remaining length is over 4 bytes or [`MAX_PACKET`].
    TooLong,
    /// A packet type a server does not send to a client (the type is given).
    UnexpectedType(u8),
    /// Its lengths do not hold together, or `mqttrs` refused it.
    Invalid,
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Malformed::TooLong => write!(f, "packet longer than {MAX_PACKET} bytes"),
            Malformed::UnexpectedType(t) => write!(f, "unexpected packet type {t}"),
            Malformed::Invalid => f.write_str("malformed packet"),
        }
    }
}

/// Why an action could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeError;

fn pid(pkid: u16) -> Result<Pid, EncodeError> {
    Pid::try_from(pkid).map_err(|_| EncodeError)
}

/// Encodes an `Action::Mqtt*` into `out`; `Ok(None)` for an action that is no packet.
pub fn encode(action: &Action, out: &mut [u8]) -> Result<Option<usize>, EncodeError> {
    let packet = match action {
        Action::MqttConnect {
            client_id,
            keep_alive_secs,
            clean_session,
        } => Packet::Connect(Connect {
            protocol: Protocol::MQTT311,
            keep_alive: *keep_alive_secs,
            client_id: client_id.as_str(),
            clean_session: *clean_session,
            last_will: None,
            username: None,
            password: None,
        }),
        Action::MqttPublish {
            topic,
            payload,
            qos,
            pkid,
            dup,
            retain,
        } => Packet::Publish(Publish {
            dup: *dup,
            qospid: match qos {
                Qos::AtMostOnce => QosPid::AtMostOnce,
                Qos::AtLeastOnce => QosPid::AtLeastOnce(pid(*pkid)?),
            },
            retain: *retain,
            topic_name: topic.as_str(),
            payload: payload.as_bytes(),
        }),
        Action::MqttSubscribe { filters, pkid } => {
            // mqttrs's fixed-capacity types (its own heapless: 5 filters of 256 bytes),
            // filled in place.
            let mut subscribe = Subscribe {
                pid: pid(*pkid)?,
                topics: Default::default(),
            };
            for filter in filters {
                let mut topic = SubscribeTopic {
                    topic_path: Default::default(),
                    qos: QoS::AtLeastOnce,
                };
                topic
                    .topic_path
                    .push_str(filter.as_str())
                    .map_err(|_| EncodeError)?;
                subscribe.topics.push(topic).map_err(|_| EncodeError)?;
            }
            Packet::Subscribe(subscribe)
        }
        Action::MqttPubAck { pkid } => Packet::Puback(pid(*pkid)?),
        Action::MqttPing => Packet::Pingreq,
        _ => return Ok(None),
    };
    mqttrs::encode_slice(&packet, out)
        .map(Some)
        .map_err(|_| EncodeError)
}

/// The fixed header of `bytes`: (type and flags byte, header length, remaining length), or
/// `None` when more bytes are needed.
fn header(bytes: &[u8]) -> Result<Option<(u8, usize, usize)>, Malformed> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let mut remaining = 0usize;
    for i in 0..4 {
        let Some(&byte) = bytes.get(1 + i) else {
            return Ok(None);
        };
        remaining |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if remaining > MAX_PACKET {
                return Err(Malformed::TooLong);
            }
            return Ok(Some((first, 2 + i, remaining)));
        }
    }
    Err(Malformed::TooLong)
}

/// Checks that a whole packet is one a client accepts and that its lengths hold; see the
/// module doc.
pub fn check(packet: &[u8]) -> Result<(), Malformed> {
    let (first, head, remaining) = header(packet)?.ok_or(Malformed::Invalid)?;
    if packet.len() != head + remaining {
        return Err(Malformed::Invalid);
    }
    let body = &packet[head..];
    let ok = match first >> 4 {
        2 => remaining == 2,  // CONNACK: flags, return code
        4 => remaining == 2,  // PUBACK: packet id
        9 => remaining >= 3,  // SUBACK: packet id, return codes
        13 => remaining == 0, // PINGRESP
        3 => {
            // PUBLISH: topic length, topic, (packet id), payload
            let qos = (first >> 1) & 3;
            let topic = match body {
                [hi, lo, ..] => usize::from(*hi) << 8 | usize::from(*lo),
                _ => return Err(Malformed::Invalid),
            };
            let id = if qos == 0 { 0 } else { 2 };
            qos < 3 && 2 + topic + id <= remaining
        }
        other => return Err(Malformed::UnexpectedType(other)),
    };
    if !ok {
        return Err(Malformed::Invalid);
    }
    mqttrs::decode_slice(packet)
        .map_err(|_| Malformed::Invalid)?
        .ok_or(Malformed::Invalid)
        .map(|_| ())
}

/// The core's input for a packet that passed [`check`]; `None` for one the core does not
/// take (a QoS 2 PUBLISH, which the board never subscribes to).
pub fn input(packet: &[u8]) -> Option<Input<'_>> {
    match mqttrs::decode_slice(packet).ok()?? {
        Packet::Connack(ack) => Some(Input::ConnAck {
            accepted: ack.code == mqttrs::ConnectReturnCode::Accepted,
            session_present: ack.session_present,
        }),
        Packet::Publish(publish) => {
            let (qos, pkid) = match publish.qospid {
                QosPid::AtMostOnce => (Qos::AtMostOnce, 0),
                QosPid::AtLeastOnce(pid) => (Qos::AtLeastOnce, pid.get()),
                QosPid::ExactlyOnce(_) => return None,
            };
            Some(Input::Publish {
                topic: publish.topic_name,
                payload: publish.payload,
                qos,
                pkid,
            })
        }
        Packet::Puback(pid) => Some(Input::PubAck { pkid: pid.get() }),
        Packet::Suback(ack) => Some(Input::SubAck {
            pkid: ack.pid.get(),
        }),
        Packet::Pingresp => Some(Input::PingResp),
        _ => None,
    }
}

/// Bytes from the broker, cut into whole packets.
#[derive(Debug, Default)]
pub struct Frames {
    buf: Vec<u8>,
}

impl Frames {
    /// Appends bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet, checked, or `None` when more bytes are needed.
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, Malformed> {
        let Some((_, head, remaining)) = header(&self.buf)? else {
            return Ok(None);
        };
        let len = head + remaining;
        if self.buf.len() < len {
            return Ok(None);
        }
        let packet: Vec<u8> = self.buf.drain(..len).collect();
        check(&packet)?;
        Ok(Some(packet))
    }

    /// Forgets everything (a new connection).
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}
