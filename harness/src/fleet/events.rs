//! What the fleet's accounting is fed: a board's own news ([`BoardEvent`], one JSON line
//! of `fleet-board`'s stdout, as `firmware-under-test/EMULATED_BOARD.md` ("Fleet mode")
//! spells it) and the broker's view of the fleet's boards ([`BrokerObservation`], picked
//! out of the embedded broker's tap by [`observe`]). Decoding only; counting is
//! [`Accounting`](super::Accounting)'s. A CONNACK refusal is not an observation of its
//! own: the broker closes the connection after it, and that close says why.

use mock_broker::{CloseReason, EventKind};
use serde::Deserialize;

/// The topic prefix of AWS IoT's JITR event (`.../registered/<caCertificateId>`).
pub const REGISTERED_TOPIC_PREFIX: &str = "$aws/events/certificates/registered/";

/// One line of `fleet-board`'s stdout.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BoardEvent {
    /// The board (0..N); absent on the process's own lines.
    #[serde(default)]
    pub board: Option<usize>,
    /// Fleet time (board time, ms) when it happened.
    pub t_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: BoardEventKind,
}

/// What a [`BoardEvent`] says.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BoardEventKind {
    /// The board's CSR (PEM) and device serial.
    Csr {
        /// Device serial number.
        serial: String,
        /// PEM CSR.
        csr: String,
    },
    /// Every board has printed its CSR.
    Ready {
        /// How many boards.
        boards: usize,
    },
    /// The board took its credentials; its console reports `thing`.
    Provisioned {
        /// Thing name the board reports.
        thing: String,
    },
    /// A provisioning command was refused.
    ProvisionFailed {
        /// The console command.
        command: String,
        /// The board's reply.
        reply: String,
    },
    /// The board booted with its credentials.
    PowerOn,
    /// The Wi-Fi join finished.
    WifiJoined,
    /// The board opens a connection.
    Connecting {
        /// Attempts since power-on, from 1.
        attempt: u32,
    },
    /// TLS is up.
    TlsUp {
        /// The connection's own TCP port, where the broker sees the board.
        #[serde(default)]
        port: Option<u16>,
    },
    /// CONNACK arrived.
    Connack {
        /// Return code 0.
        accepted: bool,
    },
    /// Opening the connection failed.
    TransportFailed {
        /// Why.
        reason: String,
        /// The board will not retry.
        fatal: bool,
    },
    /// The server or the network closed the connection.
    Closed {
        /// Why.
        reason: String,
        /// CONNACK had come.
        connected: bool,
    },
    /// The board dropped the connection itself (a timeout).
    GaveUp {
        /// Why.
        reason: String,
    },
    /// The first telemetry message since power-on.
    FirstTelemetry,
    /// After a reconnection, the connection's first telemetry message.
    TelemetryResumed,
    /// The process could not read a command.
    BadCommand {
        /// Why.
        reason: String,
    },
    /// A line this harness does not know (a newer `fleet-board`).
    #[serde(other)]
    Unknown,
}

impl BoardEvent {
    /// Board `board`'s event `kind` at fleet time `t_ms` (for the accountings' tests).
    #[cfg(test)]
    pub(crate) fn of(board: usize, t_ms: u64, kind: BoardEventKind) -> Self {
        BoardEvent {
            board: Some(board),
            t_ms,
            kind,
        }
    }

    /// Decodes one stdout line.
    pub fn parse(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

/// The broker's view of one of the fleet's boards (or of any client: the accounting keeps
/// those of its boards).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerObservation {
    /// JITR registered a certificate (`$aws/events/certificates/registered/...`).
    Registered {
        /// The certificate's id.
        certificate_id: String,
    },
    /// A TLS handshake completed: connection `conn` is the client at TCP port `port`.
    Accepted {
        /// The broker's connection id.
        conn: u64,
        /// The client's TCP port.
        port: u16,
    },
    /// The broker refused or closed a client after CONNECT.
    Refused {
        /// The broker's connection id.
        conn: u64,
        /// The client id.
        client_id: String,
        /// Why, as the broker says it.
        reason: String,
    },
    /// The TLS handshake of a known certificate was refused.
    TlsRefused {
        /// The certificate's id.
        certificate_id: String,
        /// Why.
        reason: String,
    },
    /// A telemetry message (`<thing>/sensors`) arrived and was accepted.
    Telemetry {
        /// The client id.
        client_id: String,
    },
}

/// What a tap event says about the fleet, if anything.
pub fn observe(event: &EventKind) -> Option<BrokerObservation> {
    match event {
        EventKind::BrokerPublish { message } => {
            message.topic.strip_prefix(REGISTERED_TOPIC_PREFIX)?;
            let payload: serde_json::Value = serde_json::from_slice(&message.payload).ok()?;
            Some(BrokerObservation::Registered {
                certificate_id: payload["certificateId"].as_str()?.to_owned(),
            })
        }
        EventKind::TlsAccepted { conn, peer, .. } => Some(BrokerObservation::Accepted {
            conn: *conn,
            port: peer.port(),
        }),
        EventKind::Closed {
            conn,
            client_id: Some(client_id),
            reason,
        } => {
            let reason = match reason {
                CloseReason::ClientInitiatedDisconnect | CloseReason::ServerShutdown => {
                    return None;
                }
                CloseReason::AuthError { detail } => detail.clone(),
                CloseReason::Io { error } => format!("socket: {error}"),
                CloseReason::ProtocolViolation { violation } => {
                    format!("protocol violation: {violation:?}")
                }
                other => other.aws_disconnect_reason().to_owned(),
            };
            Some(BrokerObservation::Refused {
                conn: *conn,
                client_id: client_id.clone(),
                reason,
            })
        }
        EventKind::TlsRejected {
            certificate_id: Some(certificate_id),
            reason,
            ..
        } => Some(BrokerObservation::TlsRefused {
            certificate_id: certificate_id.clone(),
            reason: reason.clone(),
        }),
        EventKind::PublishIn {
            client_id,
            message,
            refused: None,
            ..
        } if message.topic.ends_with("/sensors") => Some(BrokerObservation::Telemetry {
            client_id: client_id.clone(),
        }),
        _ => None,
    }
}
