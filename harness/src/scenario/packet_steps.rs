//! The step types that judge a board's packets as the broker's tap recorded them:
//! `expect_retry` (an unacknowledged PUBLISH or SUBSCRIBE resent as MQTT and Device
//! Advisor want it), `expect_packet` (how many packets of a kind the board has sent) and
//! `expect_cipher_suites` (the cipher suites of the board's TLS ClientHello). Field docs
//! become the descriptions in the generated JSON Schema.

use super::{BoardName, Span};
use schemars::JsonSchema;
use serde::Deserialize;

/// A packet a board sends, as the packet steps name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BoardPacket {
    /// CONNECT.
    Connect,
    /// PUBLISH (any QoS).
    Publish,
    /// PUBACK for a QoS 1 message the broker delivered.
    Puback,
    /// SUBSCRIBE.
    Subscribe,
    /// PINGREQ.
    Pingreq,
    /// DISCONNECT.
    Disconnect,
}

impl BoardPacket {
    /// The MQTT packet name, e.g. `SUBSCRIBE`.
    pub fn name(self) -> &'static str {
        match self {
            BoardPacket::Connect => "CONNECT",
            BoardPacket::Publish => "PUBLISH",
            BoardPacket::Puback => "PUBACK",
            BoardPacket::Subscribe => "SUBSCRIBE",
            BoardPacket::Pingreq => "PINGREQ",
            BoardPacket::Disconnect => "DISCONNECT",
        }
    }

    /// The broker tap's event for this packet coming from a client.
    pub fn tap_event(self) -> &'static str {
        match self {
            BoardPacket::Connect => "connect",
            BoardPacket::Publish => "publish_in",
            BoardPacket::Puback => "puback_in",
            BoardPacket::Subscribe => "subscribe",
            BoardPacket::Pingreq => "pingreq",
            BoardPacket::Disconnect => "disconnect",
        }
    }
}

/// A packet whose acknowledgement a board waits for, and resends without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetriedPacket {
    /// A QoS 1 PUBLISH without its PUBACK: resent with the same packet id and DUP set,
    /// before the connection closes (Device Advisor's MQTT_Publish_Retry_No_Puback).
    Publish,
    /// A SUBSCRIBE without its SUBACK: resent with the same packet id and filters
    /// (MQTT_Subscribe_Retry_No_Suback).
    Subscribe,
}

/// `expect_retry`: the board resends a packet the broker did not acknowledge (withhold the
/// acknowledgement first with a `fault`). The packet judged is the board's first one of
/// the kind, sent after the step before this one, that the broker did not acknowledge.
/// A pass leaves a timeline note with the packet id and both times.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectRetryStep {
    /// Board (its thing name is its client id).
    pub board: BoardName,
    /// `publish` or `subscribe`.
    pub packet: RetriedPacket,
    /// Deadline for the resend, from the step's start (board time).
    pub within: Span<String>,
}

/// `expect_packet`: the board has sent exactly `count` packets of a kind since the scenario
/// began (waiting up to `within` for the count to be reached; more than `count` fails at
/// once). For instance, one SUBSCRIBE in all after resuming a persistent session.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectPacketStep {
    /// Board (its thing name is its client id).
    pub board: BoardName,
    /// `connect`, `publish`, `puback`, `subscribe`, `pingreq` or `disconnect`.
    pub packet: BoardPacket,
    /// How many, since the scenario began.
    pub count: u32,
    /// Deadline for the count to be reached, from the step's start (board time).
    pub within: Span<String>,
}

/// `long_duration`: Device Advisor's long-duration suite, locally. For `for` (board time;
/// `hil qualify --long-duration D` overrides it), the broker and the rig disrupt the board
/// every `every` in turn: a server disconnect, withheld PUBACKs while the shadow's desired
/// state changes, a Wi-Fi loss while it changes, and three withheld CONNACKs. After each,
/// telemetry must resume within `recover`, the desired change (a QoS 1 delta to the board,
/// a QoS 1 report back) must arrive (no QoS 1 message lost), and at the end the board's
/// memory (the emulated board's resident set) must not have grown by more than 10% (and
/// 1 MiB) since the first disruption. Each disruption leaves a timeline note.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LongDurationStep {
    /// Board (provisioned and connected).
    pub board: BoardName,
    /// How long, in board time (Device Advisor's default: 2 hours).
    #[serde(rename = "for")]
    pub for_: Span<String>,
    /// Time between disruptions, in board time (default 10 minutes).
    pub every: Option<Span<String>>,
    /// How long the board may take to stream again after a disruption (default 2 minutes).
    pub recover: Option<Span<String>>,
}

/// `expect_cipher_suites`: the cipher suites the board offers in its TLS ClientHello,
/// judged against AWS IoT Core's default security policy as Device Advisor's "TLS Device
/// Support for AWS IoT recommended Cipher Suites" does: a pass when they hold a
/// recommended suite and nothing AWS does not support, a pass with a warning when they
/// hold a supported suite but no recommended one or something unsupported, a failure when
/// they hold no supported suite. The handshake judged is the board's latest accepted one
/// (waiting up to `within` for one). Each suite offered is noted on the timeline.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectCipherSuitesStep {
    /// Board (its certificate identifies its handshakes).
    pub board: BoardName,
    /// Deadline for an accepted handshake of the board, from the step's start (board
    /// time); with `offer_each`, for each of its handshakes.
    pub within: Span<String>,
    /// Then the broker offers only AWS IoT's recommended suites, then each suite it can
    /// negotiate alone (the TLS 1.3 ones and the ECDHE-ECDSA GCM ones: the test PKI's
    /// server key is P-256), dropping the board before each so that it connects again,
    /// and notes which it accepts; finally every suite again, and the board must connect.
    /// Refusing the recommended offer warns; accepting none of the offers fails.
    #[serde(default)]
    pub offer_each: bool,
}
