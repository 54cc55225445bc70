//! The tap: every broker event, timestamped, for the harness to read.
//!
//! [`EventKind`] lists what the broker reports: TLS outcomes, every packet in and out,
//! faults that withheld a packet, and each connection's close with its reason.
//! [`TapEvent`] adds a sequence number, a monotonic time since the broker started, and the
//! wall-clock time. Events serialise to JSON for timelines.
//!
//! The tap is a bounded broadcast (capacity [`crate::BrokerConfig::tap_capacity`]). The
//! broker never waits for a reader: a reader that falls more than the capacity behind loses
//! the oldest events, and [`Tap::dropped`] counts how many it lost.

use crate::mqtt::errors::CloseReason;
use crate::mqtt::hooks::AuthAction;
use bytes::Bytes;
use rumqttc::mqttbytes::QoS;
use serde::{Serialize, Serializer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// One event, as read from the tap.
#[derive(Debug, Clone, Serialize)]
pub struct TapEvent {
    /// Position in the broker's event order, from 0, without gaps at the source.
    pub seq: u64,
    /// Monotonic time since the broker started.
    #[serde(serialize_with = "as_millis")]
    pub at: Duration,
    /// Wall-clock time of the event, in milliseconds since the Unix epoch.
    #[serde(serialize_with = "as_unix_millis")]
    pub wall: SystemTime,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The message of a PUBLISH, as the tap shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageInfo {
    /// Topic name.
    pub topic: String,
    /// Payload, as UTF-8 text when it is, otherwise as hex.
    #[serde(serialize_with = "payload_text")]
    pub payload: Bytes,
    /// QoS, 0 or 1.
    #[serde(serialize_with = "qos_number")]
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// Duplicate flag.
    pub dup: bool,
    /// Packet id (0 for QoS 0).
    pub pkid: u16,
}

/// What happened, with its details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
#[non_exhaustive]
pub enum EventKind {
    /// A TLS handshake completed.
    TlsAccepted {
        /// Connection id.
        conn: u64,
        /// Remote address.
        peer: SocketAddr,
        /// Server name the client asked for (SNI), if any.
        sni: Option<String>,
        /// AWS certificate id of the client certificate.
        certificate_id: String,
        /// Negotiated TLS version.
        tls_version: String,
        /// Negotiated cipher suite, by its IANA name.
        cipher_suite: String,
        /// The cipher suites the client offered in its ClientHello, in its order, by IANA
        /// name ([`crate::mqtt::tls_policy::suite_name`]).
        cipher_suites: Vec<String>,
        /// Wall time from the TCP accept to this event: the TLS handshake and the
        /// certificate checks (`handshake_ms` in JSON). The client began its attempt that
        /// long before; a caller measuring a client's backoff on a sped-up clock takes it
        /// off, since the handshake is real work that does not speed up.
        #[serde(rename = "handshake_ms", serialize_with = "as_millis")]
        handshake: Duration,
    },
    /// A TLS handshake failed or the client was refused by the identity hook.
    TlsRejected {
        /// Remote address.
        peer: SocketAddr,
        /// Why (no certificate, unknown issuer, expired, not TLS, ...).
        reason: String,
        /// AWS certificate id of the client certificate, when the handshake got that far
        /// (refused by the identity hook: revoked, pending activation, JITR, ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        certificate_id: Option<String>,
        /// The cipher suites the client offered, when its ClientHello came (IANA names).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        cipher_suites: Vec<String>,
        /// Wall time from the TCP accept to this event (`handshake_ms` in JSON).
        #[serde(rename = "handshake_ms", serialize_with = "as_millis")]
        handshake: Duration,
    },
    /// A CONNECT arrived.
    Connect {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// Clean session flag.
        clean_session: bool,
        /// Keep-alive the client asked for, in seconds.
        keep_alive: u16,
        /// Last Will, if any.
        will: Option<MessageInfo>,
        /// AWS certificate id of the client certificate.
        certificate_id: String,
    },
    /// A CONNACK was sent.
    Connack {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// Return code, e.g. `Success`, `NotAuthorized`.
        code: String,
        /// Session present flag.
        session_present: bool,
    },
    /// A PUBLISH came from a client.
    PublishIn {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// The message.
        #[serde(flatten)]
        message: MessageInfo,
        /// Why the broker refused it (a rule of AWS IoT Core, or a policy), when it did:
        /// then nothing was delivered or retained.
        #[serde(skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
    /// A PUBLISH was sent to a client.
    PublishOut {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// The message.
        #[serde(flatten)]
        message: MessageInfo,
    },
    /// The broker published a message itself (AWS events, shadow replies, wills).
    BrokerPublish {
        /// The message.
        #[serde(flatten)]
        message: MessageInfo,
    },
    /// A PUBACK came from a client.
    PubackIn {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// Packet id.
        pkid: u16,
    },
    /// A PUBACK was sent to a client.
    PubackOut {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// Packet id.
        pkid: u16,
    },
    /// A SUBSCRIBE came from a client.
    Subscribe {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// Packet id.
        pkid: u16,
        /// Filters with requested QoS.
        filters: Vec<(String, u8)>,
    },
    /// A SUBACK was sent.
    Suback {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// Packet id.
        pkid: u16,
    },
    /// An UNSUBSCRIBE came from a client (the UNSUBACK follows at once).
    Unsubscribe {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// Packet id.
        pkid: u16,
        /// Filters.
        filters: Vec<String>,
    },
    /// A PINGREQ came from a client.
    Pingreq {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
    },
    /// A PINGRESP was sent.
    Pingresp {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
    },
    /// A fault withheld a packet the broker would have sent.
    Withheld {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// `CONNACK`, `PUBACK`, `SUBACK` or `PINGRESP`.
        packet: &'static str,
    },
    /// A DISCONNECT came from a client.
    Disconnect {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
    },
    /// The authorization hook refused an operation.
    Denied {
        /// Connection id.
        conn: u64,
        /// Client id.
        client_id: String,
        /// The refused operation.
        action: String,
        /// The hook's reason.
        reason: String,
    },
    /// A Last Will was published.
    WillPublished {
        /// Client id whose will it was.
        client_id: String,
        /// Will topic.
        topic: String,
    },
    /// A message was not delivered to a subscriber because `iot:Receive` was denied: AWS
    /// IoT Core drops it silently and the subscriber stays connected.
    DeliveryDropped {
        /// The subscriber's connection, `None` when its persistent session is offline.
        conn: Option<u64>,
        /// The subscriber's client id.
        client_id: String,
        /// The message it did not get.
        #[serde(flatten)]
        message: MessageInfo,
        /// The authorization hook's reason (for policies, the deciding statement).
        reason: String,
    },
    /// Queued messages of an offline persistent session were dropped for lack of room.
    QueueOverflow {
        /// Client id.
        client_id: String,
    },
    /// A connection ended.
    Closed {
        /// Connection id.
        conn: u64,
        /// Client id, when CONNECT had been received.
        client_id: Option<String>,
        /// Why.
        #[serde(flatten)]
        reason: CloseReason,
    },
}

impl EventKind {
    /// The connection the event belongs to, if it belongs to one.
    pub fn conn(&self) -> Option<u64> {
        use EventKind::*;
        match self {
            TlsAccepted { conn, .. }
            | Connect { conn, .. }
            | Connack { conn, .. }
            | PublishIn { conn, .. }
            | PublishOut { conn, .. }
            | PubackIn { conn, .. }
            | PubackOut { conn, .. }
            | Subscribe { conn, .. }
            | Suback { conn, .. }
            | Unsubscribe { conn, .. }
            | Pingreq { conn, .. }
            | Pingresp { conn, .. }
            | Withheld { conn, .. }
            | Disconnect { conn, .. }
            | Denied { conn, .. }
            | Closed { conn, .. } => Some(*conn),
            DeliveryDropped { conn, .. } => *conn,
            TlsRejected { .. }
            | WillPublished { .. }
            | QueueOverflow { .. }
            | BrokerPublish { .. } => None,
        }
    }
}

/// Formats an authorization action for [`EventKind::Denied`].
pub(crate) fn describe_action(action: AuthAction<'_>) -> String {
    match action {
        AuthAction::Connect(id) => format!("iot:Connect client/{id}"),
        AuthAction::Publish(topic) => format!("iot:Publish topic/{topic}"),
        AuthAction::RetainPublish(topic) => format!("iot:RetainPublish topic/{topic}"),
        AuthAction::Subscribe(filter) => format!("iot:Subscribe topicfilter/{filter}"),
        AuthAction::Receive(topic) => format!("iot:Receive topic/{topic}"),
    }
}

/// The broker's side of the tap: numbers and stamps events, never blocks.
#[derive(Debug)]
pub(crate) struct TapSender {
    sender: broadcast::Sender<Arc<TapEvent>>,
    seq: AtomicU64,
}

impl TapSender {
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        TapSender {
            sender,
            seq: AtomicU64::new(0),
        }
    }

    /// Publishes an event. Must be called in event order (the broker holds its core lock).
    pub(crate) fn emit(&self, at: Duration, kind: EventKind) {
        let event = TapEvent {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            at,
            wall: SystemTime::now(),
            kind,
        };
        tracing::trace!(?event, "tap");
        // No receiver is fine: nobody is listening.
        let _ = self.sender.send(Arc::new(event));
    }

    pub(crate) fn subscribe(&self) -> Tap {
        Tap {
            receiver: self.sender.subscribe(),
            dropped: 0,
        }
    }
}

/// A reader of the broker's events, from the moment it was created.
#[derive(Debug)]
pub struct Tap {
    receiver: broadcast::Receiver<Arc<TapEvent>>,
    dropped: u64,
}

/// [`Tap::wait_for`] gave up.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no matching broker event within {timeout:?}")]
pub struct TapTimeout {
    /// How long it waited.
    pub timeout: Duration,
}

impl Tap {
    /// The next event, or `None` once the broker has shut down and every event was read.
    /// Events lost because this reader fell behind are skipped and counted.
    pub async fn next(&mut self) -> Option<Arc<TapEvent>> {
        loop {
            match self.receiver.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(lost)) => self.dropped += lost,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is waiting, without waiting; `None` when none is (or the broker
    /// has shut down). Events lost because this reader fell behind are skipped and counted.
    ///
    /// A reader that wants every event but not a wake-up for each (at tens of thousands of
    /// events a second, waking a reader per event costs the broker more than the events)
    /// awaits [`Tap::next`], drains with `try_next`, then lets events gather for a moment:
    /// the tap holds [`crate::BrokerConfig::tap_capacity`] of them meanwhile.
    pub fn try_next(&mut self) -> Option<Arc<TapEvent>> {
        loop {
            match self.receiver.try_recv() {
                Ok(event) => return Some(event),
                Err(broadcast::error::TryRecvError::Lagged(lost)) => self.dropped += lost,
                Err(_) => return None,
            }
        }
    }

    /// Reads events until one satisfies `pred`, for at most `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&EventKind) -> bool,
    ) -> Result<Arc<TapEvent>, TapTimeout> {
        let search = async {
            while let Some(event) = self.next().await {
                if pred(&event.kind) {
                    return Some(event);
                }
            }
            None
        };
        match tokio::time::timeout(timeout, search).await {
            Ok(Some(event)) => Ok(event),
            _ => Err(TapTimeout { timeout }),
        }
    }

    /// How many events this reader lost by falling more than the tap's capacity behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

fn as_millis<S: Serializer>(at: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(at.as_secs_f64() * 1000.0)
}

fn as_unix_millis<S: Serializer>(wall: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let millis = wall
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    s.serialize_u64(u64::try_from(millis).unwrap_or(u64::MAX))
}

fn payload_text<S: Serializer>(payload: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(payload) {
        Ok(text) => s.serialize_str(text),
        Err(_) => s.serialize_str(&format!("hex:{}", hex::encode(payload))),
    }
}

fn qos_number<S: Serializer>(qos: &QoS, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(*qos as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(conn: u64) -> EventKind {
        EventKind::Pingreq {
            conn,
            client_id: "c".into(),
        }
    }

    #[tokio::test]
    async fn a_slow_reader_loses_the_oldest_events_and_counts_them() {
        let sender = TapSender::new(4);
        let mut tap = sender.subscribe();
        for conn in 0..10 {
            sender.emit(Duration::ZERO, ping(conn));
        }
        let first = tap.next().await.unwrap();
        assert_eq!(first.seq, 6);
        assert_eq!(tap.dropped(), 6);
    }

    #[test]
    fn try_next_drains_without_waiting_and_counts_losses() {
        let sender = TapSender::new(4);
        let mut tap = sender.subscribe();
        assert!(tap.try_next().is_none());
        for conn in 0..6 {
            sender.emit(Duration::ZERO, ping(conn));
        }
        let seqs: Vec<u64> = std::iter::from_fn(|| tap.try_next())
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [2, 3, 4, 5]);
        assert_eq!(tap.dropped(), 2);
    }

    #[test]
    fn events_serialise_with_their_kind_and_payload_text() {
        let sender = TapSender::new(1);
        let mut tap = sender.subscribe();
        sender.emit(
            Duration::from_millis(1500),
            EventKind::PublishIn {
                conn: 3,
                client_id: "dev".into(),
                message: MessageInfo {
                    topic: "dev/sensors".into(),
                    payload: Bytes::from_static(b"{\"Light\":1}"),
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    dup: false,
                    pkid: 9,
                },
                refused: None,
            },
        );
        let event = tap.receiver.try_recv().unwrap();
        let json = serde_json::to_value(&*event).unwrap();
        assert_eq!(json["event"], "publish_in");
        assert_eq!(json["at"], 1500.0);
        assert_eq!(json["topic"], "dev/sensors");
        assert_eq!(json["payload"], "{\"Light\":1}");
        assert_eq!(json["qos"], 1);
        assert!(json.get("refused").is_none(), "absent when accepted");
    }

    #[test]
    fn a_handshake_says_how_long_it_took_in_milliseconds() {
        let sender = TapSender::new(1);
        let mut tap = sender.subscribe();
        sender.emit(
            Duration::from_secs(2),
            EventKind::TlsRejected {
                peer: "127.0.0.1:4000".parse().unwrap(),
                reason: "revoked".into(),
                certificate_id: Some("ab".into()),
                cipher_suites: Vec::new(),
                handshake: Duration::from_micros(4250),
            },
        );
        let event = tap.receiver.try_recv().unwrap();
        let json = serde_json::to_value(&*event).unwrap();
        assert_eq!(json["event"], "tls_rejected");
        assert_eq!(json["handshake_ms"], 4.25);
        assert!(
            json.get("cipher_suites").is_none(),
            "absent without a ClientHello"
        );
    }
}
