//! What happens to the board ([`Input`]) and what it asks the platform to do ([`Action`]).

use super::{Filters, Payload, Qos, Topic};
use crate::credentials::ThingName;
use crate::led::Led;

/// How opening the transport failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// The server certificate did not verify against the root CA, or is for another name,
    /// or has expired: fatal, the board stops trying.
    ServerCertificate,
    /// Anything else (refused, unreachable, the server refused our certificate, reset):
    /// retried with backoff.
    Other,
}

/// Something that happened to the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Power-on or reset: the firmware starts.
    Boot,
    /// Time passed (a deadline from [`Board::poll_at`], or any wake-up).
    Tick,
    /// Bytes typed on the console.
    Console(&'a [u8]),
    /// The access point was joined.
    WifiJoined,
    /// Joining the access point failed.
    WifiJoinFailed,
    /// The access point went away.
    WifiLost,
    /// The TLS connection to the endpoint is up.
    TransportUp,
    /// The TLS connection could not be opened.
    TransportFailed(TransportError),
    /// The open connection closed (by the server or the network).
    TransportClosed,
    /// CONNACK arrived; `accepted` when its return code is 0.
    ConnAck {
        /// Return code 0.
        accepted: bool,
        /// The broker resumed the session the board asked to keep (MQTT 3.1.1 §3.2.2.2).
        session_present: bool,
    },
    /// A PUBLISH arrived.
    Publish {
        /// Topic.
        topic: &'a str,
        /// Payload.
        payload: &'a [u8],
        /// QoS.
        qos: Qos,
        /// Packet id (QoS 1).
        pkid: u16,
    },
    /// PUBACK for our QoS 1 publish.
    PubAck {
        /// Packet id.
        pkid: u16,
    },
    /// SUBACK for our subscription.
    SubAck {
        /// Packet id.
        pkid: u16,
    },
    /// PINGRESP.
    PingResp,
    /// A user button was pressed.
    Button(Button),
}

/// The board's user buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// SW0.
    Sw0,
    /// SW1.
    Sw1,
}

/// Something the board wants done.
// Without an allocator a publish is carried inline; the size is the price of no_std.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Drive an LED.
    SetLed {
        /// Which.
        led: Led,
        /// Lit or dark.
        on: bool,
    },
    /// Join the access point in [`Credentials::wifi`].
    JoinWifi,
    /// Leave the access point.
    LeaveWifi,
    /// Open TLS to [`Credentials::endpoint`], verifying the server against the root CA and
    /// presenting the device certificate (and signer).
    OpenTransport,
    /// Close the connection.
    CloseTransport,
    /// Send CONNECT.
    MqttConnect {
        /// Client id: the thing name.
        client_id: ThingName,
        /// Keep-alive in seconds.
        keep_alive_secs: u16,
        /// Clean session flag: false (a persistent session, the subscription and QoS 1
        /// messages kept across connections) unless [`crate::flaws::Flaw::CleanSessionAlways`].
        clean_session: bool,
    },
    /// Send PUBLISH.
    MqttPublish {
        /// Topic.
        topic: Topic,
        /// Payload.
        payload: Payload,
        /// QoS.
        qos: Qos,
        /// Packet id (QoS 1).
        pkid: u16,
        /// Resent after no PUBACK.
        dup: bool,
        /// The broker is to keep it as the topic's retained message.
        retain: bool,
    },
    /// Send one SUBSCRIBE for these filters, each at QoS 1.
    MqttSubscribe {
        /// Filters, in order.
        filters: Filters,
        /// Packet id.
        pkid: u16,
    },
    /// Acknowledge a QoS 1 PUBLISH.
    MqttPubAck {
        /// Packet id.
        pkid: u16,
    },
    /// Send PINGREQ.
    MqttPing,
    /// Save [`Board::credentials`] to non-volatile memory.
    SaveCredentials,
    /// Restart the firmware (the platform boots a fresh [`Board`] from saved credentials).
    Reset,
}
