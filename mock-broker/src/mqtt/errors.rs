//! Error types of the mock broker.
//!
//! [`StartError`] is what [`crate::MockBroker::start`] returns. [`Violation`] and
//! [`CloseReason`] are not errors of the broker: they say why the broker closed one
//! client's connection, and they travel on the tap ([`crate::mqtt::tap`]).

use serde::Serialize;
use std::path::PathBuf;

/// The broker could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The listen address could not be bound (in use, or not a local address).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The server certificate, key or client trust roots were refused by rustls.
    #[error("invalid TLS configuration")]
    Tls(#[from] TlsConfigError),
    /// The state directory could not be read or created.
    #[error("cannot use state directory {path}")]
    StateDir {
        /// The state directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The state directory holds a state file that does not parse; move it away to start
    /// with empty state.
    #[error("state file {path} is corrupt")]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// A certificate, key or trust root could not be turned into a TLS configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file held no item of the expected kind.
    #[error("{path} holds no {what}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// "certificate" or "private key".
        what: &'static str,
    },
    /// A PEM file could not be parsed.
    #[error("{path} is not valid PEM")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the certificate, key or trust roots.
    #[error("rustls refused the configuration")]
    Rustls(#[from] rustls::Error),
    /// The client trust roots could not be turned into a verifier.
    #[error("invalid client trust roots")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A test certificate could not be generated.
    #[error("cannot generate certificate")]
    Generate(#[from] rcgen::Error),
    /// Cipher suites to offer of which the broker can negotiate none (AWS IoT Core's
    /// default policy, as rustls implements it): their IANA codes.
    #[error("the broker negotiates none of the cipher suites {0:04X?}")]
    NoCipherSuite(Vec<u16>),
}

/// A client broke a rule of MQTT 3.1.1 or of AWS IoT Core; the broker closes its
/// connection and taps the violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "violation", content = "detail")]
#[non_exhaustive]
pub enum Violation {
    /// The bytes do not decode as an MQTT 3.1.1 packet.
    #[error("malformed packet: {0}")]
    Malformed(String),
    /// The connection ended in the middle of a packet.
    #[error("truncated packet: the connection closed after {0} bytes of an incomplete packet")]
    Truncated(usize),
    /// The fixed header announces more bytes than the broker accepts.
    #[error("packet too large: remaining length over the {max}-byte limit")]
    PacketTooLarge {
        /// The limit.
        max: usize,
    },
    /// A topic or client id is not valid UTF-8.
    #[error("a string in the packet is not valid UTF-8")]
    NotUtf8,
    /// The first packet on a connection was not CONNECT.
    #[error("{0} received before CONNECT")]
    BeforeConnect(&'static str),
    /// A second CONNECT on a connection.
    #[error("second CONNECT on one connection")]
    SecondConnect,
    /// The client sent a packet that only a server sends, or a QoS 2 flow packet.
    #[error("unexpected {0} from a client")]
    UnexpectedPacket(&'static str),
    /// QoS 2 publish or subscription: AWS IoT Core does not support QoS 2.
    #[error("QoS 2 is not supported")]
    Qos2Unsupported,
    /// A Last Will with QoS 2.
    #[error("a Last Will with QoS 2 is not supported")]
    WillQos2,
    /// `+` or `#` in a PUBLISH topic.
    #[error("wildcard in publish topic {0:?}")]
    WildcardInTopic(String),
    /// A client published to `$aws/events/...`.
    #[error("clients cannot publish to the reserved topic {0:?}")]
    ReservedTopic(String),
    /// A retained publish to a `$` topic.
    #[error("retained messages are not supported on reserved topic {0:?}")]
    RetainedReservedTopic(String),
    /// A string (client id, topic name or filter) holding U+0000, which MQTT 3.1.1
    /// forbids [MQTT-1.5.3-2]; shown with the character escaped.
    #[error("{what} {text:?} holds U+0000, which MQTT forbids")]
    NulCharacter {
        /// `client id`, `topic` or `topic filter`.
        what: &'static str,
        /// The string.
        text: String,
    },
    /// An empty topic name or filter.
    #[error("empty topic")]
    EmptyTopic,
    /// A topic filter with a misplaced wildcard.
    #[error("invalid topic filter {0:?}")]
    InvalidFilter(String),
    /// More than seven `/` in a topic or filter.
    #[error("topic {topic:?} has {slashes} slashes, AWS IoT Core allows at most 7")]
    TooManySlashes {
        /// The topic or filter.
        topic: String,
        /// How many slashes it has.
        slashes: usize,
    },
    /// More than eight filters in one SUBSCRIBE.
    #[error("SUBSCRIBE with {0} filters, AWS IoT Core allows at most 8")]
    TooManyFilters(usize),
    /// A payload over 128 KiB.
    #[error("payload of {0} bytes exceeds the 128 KiB limit")]
    PayloadTooLarge(usize),
    /// A client id over 128 bytes.
    #[error("client id of {0} bytes exceeds the 128-byte limit")]
    ClientIdTooLong(usize),
    /// An empty client id with a persistent session.
    #[error("empty client id with a persistent session")]
    EmptyClientId,
    /// Packet type 0 or 15, which MQTT 3.1.1 reserves [MQTT-2.2.1].
    #[error("reserved packet type {0}")]
    ReservedPacketType(u8),
    /// The fixed header's flag bits are not the ones MQTT 3.1.1 mandates for the packet
    /// type [MQTT-2.2.2-1] (UNSUBSCRIBE sent as `0xA0` instead of `0xA2`, say).
    #[error("{packet} with fixed-header flags {flags:#06b}, MQTT 3.1.1 requires {required:#06b}")]
    ReservedFlags {
        /// The packet type.
        packet: &'static str,
        /// The flags sent (the low four bits of the first byte).
        flags: u8,
        /// The flags the specification requires.
        required: u8,
    },
    /// A QoS of 3 (a PUBLISH's flags, a Will, or a SUBSCRIBE's requested QoS)
    /// [MQTT-3.3.1-4].
    #[error("QoS 3 in {0}")]
    Qos3(&'static str),
    /// A QoS 0 PUBLISH with the DUP flag set [MQTT-3.3.1-2].
    #[error("DUP set on a QoS 0 PUBLISH")]
    DupOnQos0,
    /// The reserved bit of CONNECT's flags is set [MQTT-3.1.2-3].
    #[error("CONNECT with its reserved flag bit set")]
    ReservedConnectFlag,
    /// CONNECT's Will QoS or Will retain set without the Will flag [MQTT-3.1.2-11].
    #[error("CONNECT with Will QoS or Will retain but no Will")]
    WillFlagsWithoutWill,
    /// CONNECT with a password but no user name [MQTT-3.1.2-22].
    #[error("CONNECT with a password but no user name")]
    PasswordWithoutUsername,
    /// A SUBSCRIBE's requested-QoS byte has its reserved upper bits set [MQTT-3.8.3-4].
    #[error("SUBSCRIBE options byte {0:#04x} has reserved bits set")]
    ReservedSubscribeOptions(u8),
    /// Packet identifier 0 where one is required [MQTT-2.3.1-1].
    #[error("{0} with packet identifier 0")]
    PacketIdZero(&'static str),
    /// A SUBSCRIBE or UNSUBSCRIBE without a topic filter [MQTT-3.8.3-3], [MQTT-3.10.3-2].
    #[error("{0} without a topic filter")]
    NoTopicFilter(&'static str),
}

/// Why a client's connection ended, as the tap reports it.
///
/// The names follow AWS IoT Core's `disconnectReason` where one exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DISCONNECT (no Last Will).
    ClientInitiatedDisconnect,
    /// The client closed the socket without DISCONNECT.
    ConnectionLost,
    /// A socket or TLS error.
    Io {
        /// The error text.
        error: String,
    },
    /// The client broke a protocol rule.
    ProtocolViolation {
        /// Which rule.
        #[serde(flatten)]
        violation: Violation,
    },
    /// Nothing came from the client for 1.5 times its keep-alive.
    MqttKeepAliveTimeout,
    /// TLS completed but no CONNECT came in time.
    ConnectTimeout,
    /// Another connection took over the client id.
    DuplicateClientid,
    /// The authorization hook refused the client.
    AuthError {
        /// The hook's reason.
        detail: String,
    },
    /// Closed by the broker on request (fault injection).
    ServerInitiatedDisconnect,
    /// The broker is shutting down.
    ServerShutdown,
}

impl CloseReason {
    /// AWS IoT's `disconnectReason` for a lifecycle event.
    pub fn aws_disconnect_reason(&self) -> &'static str {
        match self {
            CloseReason::ClientInitiatedDisconnect => "CLIENT_INITIATED_DISCONNECT",
            CloseReason::ConnectionLost | CloseReason::Io { .. } => "CONNECTION_LOST",
            CloseReason::ProtocolViolation { .. } | CloseReason::ConnectTimeout => "CLIENT_ERROR",
            CloseReason::MqttKeepAliveTimeout => "MQTT_KEEP_ALIVE_TIMEOUT",
            CloseReason::DuplicateClientid => "DUPLICATE_CLIENTID",
            CloseReason::AuthError { .. } => "AUTH_ERROR",
            CloseReason::ServerInitiatedDisconnect | CloseReason::ServerShutdown => {
                "SERVER_INITIATED_DISCONNECT"
            }
        }
    }

    /// True when the Last Will must be published: any close but a clean DISCONNECT.
    pub fn publishes_will(&self) -> bool {
        !matches!(self, CloseReason::ClientInitiatedDisconnect)
    }
}

impl From<Violation> for CloseReason {
    fn from(violation: Violation) -> Self {
        CloseReason::ProtocolViolation { violation }
    }
}
