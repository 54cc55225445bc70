//! The JSON lines `fleet-board` speaks with its parent: [`Command`]s on stdin, [`Line`]s on
//! stdout. `EMULATED_BOARD.md` ("Fleet mode") documents both; this module only says how they
//! are spelled. Reading stdin and writing stdout is the caller's.

use serde::{Deserialize, Serialize};

/// A request from the parent, one JSON object a line with a `cmd`.
#[derive(Debug, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// What every board is provisioned with besides its own certificate. The endpoint and
    /// Wi-Fi are in the console's syntax (`host:port`, `ssid,password,auth`).
    Common {
        signer: String,
        root_ca: String,
        endpoint: String,
        wifi: String,
    },
    /// One board's device certificate (after [`Command::Common`]): typed on its console
    /// with the common credentials, answered by [`What::Provisioned`] or
    /// [`What::ProvisionFailed`].
    Certificate { board: usize, pem: String },
    /// Powers on every provisioned board, the i-th of N at `i * ramp_ms / N` board
    /// milliseconds from now.
    PowerOn {
        #[serde(default)]
        ramp_ms: u64,
    },
    /// Exits (so does the end of stdin).
    Stop,
}

/// One line on stdout: what happened, to which board, at which fleet time.
#[derive(Debug, Serialize)]
pub struct Line {
    /// The board's index (0..N), absent for the process's own lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board: Option<usize>,
    /// Fleet time in milliseconds: one clock for every board, at `--speed`.
    pub t_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub what: What,
}

/// What a [`Line`] reports.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum What {
    /// A board's CSR, as its console's `csr` printed it (PEM, LF line ends).
    Csr { serial: String, csr: String },
    /// Every board has printed its CSR.
    Ready { boards: usize, speed: f64 },
    /// The board took every credential; `thing` is what its console's `thing` says.
    Provisioned { thing: String },
    /// A provisioning command was refused: the command and the board's reply.
    ProvisionFailed { command: String, reply: String },
    /// The board booted with its credentials.
    PowerOn,
    /// The Wi-Fi join finished.
    WifiJoined,
    /// The board opens a connection (its `attempt`-th since power-on, from 1).
    Connecting { attempt: u32 },
    /// TLS is up; `port` is the connection's own TCP port, where the broker sees it (so
    /// the parent can tell which of the broker's connections is this attempt).
    TlsUp { port: Option<u16> },
    /// CONNACK arrived.
    Connack { accepted: bool },
    /// The connection could not be opened; `fatal` when the board will not retry (a server
    /// certificate that does not verify).
    TransportFailed { reason: String, fatal: bool },
    /// The server or the network closed the connection; `connected` when CONNACK had come.
    Closed { reason: String, connected: bool },
    /// The board itself dropped the connection (a timeout of its own).
    GaveUp { reason: String },
    /// The first telemetry message since power-on was handed to the connection.
    FirstTelemetry,
    /// After a reconnection, the connection's first telemetry message was handed to it.
    TelemetryResumed,
    /// A command line could not be read; the process goes on.
    BadCommand { reason: String },
}
