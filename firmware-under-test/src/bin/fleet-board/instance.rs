//! One board of the fleet ([`Instance`]): the firmware core with its own secure element
//! (a P-256 key in memory), credential store (what the core saves, in memory: its flash)
//! and console (bytes in, replies out, no terminal), the emulated board's network stack,
//! and a Wi-Fi join that takes `join_ms` of board time. What it does is reported as
//! [`Line`]s on the fleet's event channel.
//!
//! Provisioning goes through the core as on a real board: the console's `csr`, then
//! `cert`, `signer`, `rootca`, `endpoint` and `wifi`, each answered `OK` and saved by the
//! core to the credential store, and `thing`. Power-on boots a fresh core from the store.
//!
//! Time is the fleet's one clock ([`Clock`]). As in the emulated board, a deadline is fed
//! at its own time even when the host runs the board late, and time never goes back.

use crate::clock::Clock;
use crate::mqtt;
use crate::network::{ConnectParams, Connection, NetEvent};
use crate::protocol::{Line, What};
use crate::secure_element::SecureElement;
use firmware_under_test::board::{Action, Board, Config, Input, TransportError};
use firmware_under_test::console::EOT;
use firmware_under_test::credentials::Credentials;
use firmware_under_test::time::{Duration, Instant, earliest};
use rumqttc::mqttbytes::v4::{ConnectReturnCode, Packet};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events a board's connections report, tagged with the connection's number.
pub type NetEvents = mpsc::UnboundedReceiver<(u64, NetEvent)>;

/// Inputs the instance itself makes for the core, fed after the actions that caused them.
#[derive(Debug, Clone, Copy)]
enum Local {
    WifiJoined,
    WifiJoinFailed,
    TransportFailed(TransportError),
}

/// How far the current connection got, to say why the board dropped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Opening,
    TlsUp,
    Connected,
}

/// What every board of the fleet shares.
#[derive(Clone)]
pub struct Shared {
    /// The fleet's clock.
    pub clock: Clock,
    /// How long a Wi-Fi join takes.
    pub join: Duration,
    /// Endpoint names and the addresses they resolve to.
    pub hosts: Arc<[(String, IpAddr)]>,
    /// Where lines for stdout go (`None` ends the output).
    pub lines: mpsc::UnboundedSender<Option<Line>>,
}

/// One board; see the module documentation.
pub struct Instance {
    index: usize,
    board: Board,
    config: Config,
    hardware: SecureElement,
    /// The credential store: what the core saved last.
    store: Credentials,
    shared: Shared,
    last_now: Instant,
    /// While a deadline is handled: its time.
    due: Option<Instant>,
    join_at: Option<Instant>,
    connection: Option<Connection>,
    connection_id: u64,
    link: Option<Link>,
    attempts: u32,
    net: mpsc::UnboundedSender<(u64, NetEvent)>,
    local: VecDeque<Local>,
    /// Console output kept while provisioning (dropped once running).
    console: Option<Vec<u8>>,
    telemetry_reported: bool,
    /// After a reconnection, the telemetry count at its CONNACK, until the connection's
    /// first telemetry is reported (`telemetry_resumed`).
    resumed_after: Option<u32>,
}

/// Most deadlines handled before one input from the world.
const MAX_CATCH_UP: usize = 10_000;

impl Instance {
    /// Board `index` with `hardware`, booted without credentials (its console answers);
    /// returns the receiver its connections report to, for [`Instance::run`].
    pub fn new(
        index: usize,
        config: Config,
        hardware: SecureElement,
        shared: Shared,
    ) -> (Self, NetEvents) {
        let (net, events) = mpsc::unbounded_channel();
        let mut instance = Instance {
            index,
            board: Board::new(config.clone(), Credentials::default()),
            config,
            hardware,
            store: Credentials::default(),
            shared,
            last_now: Instant::ZERO,
            due: None,
            join_at: None,
            connection: None,
            connection_id: 0,
            link: None,
            attempts: 0,
            net,
            local: VecDeque::new(),
            console: Some(Vec::new()),
            telemetry_reported: false,
            resumed_after: None,
        };
        instance.feed(Input::Boot);
        (instance, events)
    }

    /// The device serial number.
    pub fn serial(&self) -> &str {
        self.hardware.serial()
    }

    /// Types `text` on the console; returns the reply (log lines left out, lines joined
    /// by LF, without the EOT).
    pub fn type_on_console(&mut self, text: &str) -> String {
        self.console = Some(Vec::new());
        self.feed(Input::Console(text.as_bytes()));
        let output = self.console.take().unwrap_or_default();
        self.console = Some(Vec::new());
        let text = String::from_utf8_lossy(&output);
        let reply = text.split(char::from(EOT)).next().unwrap_or_default();
        reply
            .split("\r\n")
            .filter(|line| !line.is_empty() && !is_log(line))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The CSR the console's `csr` prints, or its error.
    pub fn csr(&mut self) -> Result<String, String> {
        let reply = self.type_on_console("csr\r\n");
        if reply.starts_with("-----BEGIN CERTIFICATE REQUEST-----") {
            Ok(reply + "\n")
        } else {
            Err(reply)
        }
    }

    /// Types the credentials on the console, each of which must be answered `OK`; returns
    /// the thing name the console then reports, or the refused command and its reply.
    pub fn provision(
        &mut self,
        certificate: &str,
        common: &Common,
    ) -> Result<String, (String, String)> {
        let steps = [
            ("cert", pem_block("cert", certificate)),
            ("signer", pem_block("signer", &common.signer)),
            ("rootca", pem_block("rootca", &common.root_ca)),
            ("endpoint", format!("endpoint {}\r\n", common.endpoint)),
            ("wifi", format!("wifi {}\r\n", common.wifi)),
        ];
        for (command, text) in steps {
            let reply = self.type_on_console(&text);
            if reply != "OK" {
                return Err((command.to_owned(), reply));
            }
        }
        Ok(self.type_on_console("thing\r\n"))
    }

    /// Power-on: a fresh core booted from the credential store.
    pub fn power_on(&mut self) {
        self.console = None;
        self.telemetry_reported = false;
        self.resumed_after = None;
        self.attempts = 0;
        let now = self.now();
        self.emit(now, What::PowerOn);
        self.due = Some(now);
        self.boot();
        self.due = None;
    }

    /// Runs the board: network events and deadlines, until the task is dropped.
    pub async fn run(mut self, mut net: NetEvents) {
        loop {
            let deadline = self.next_deadline();
            let wake = deadline.map(|at| self.shared.clock.host_instant(at));
            tokio::select! {
                Some((id, event)) = net.recv() => {
                    // One reading of the clock for the deadlines before it, the event's
                    // line and the core's handling: so a retry the core schedules is
                    // exactly its delay after the close the line reports.
                    let now = self.shared.clock.now();
                    self.catch_up(now);
                    self.due = Some(now.max(self.last_now));
                    self.network(id, event);
                    self.due = None;
                }
                _ = sleep_until(wake) => self.tick(deadline),
            }
        }
    }

    fn emit(&self, now: Instant, what: What) {
        let _ = self.shared.lines.send(Some(Line {
            board: Some(self.index),
            t_ms: now.millis(),
            what,
        }));
    }

    fn next_deadline(&self) -> Option<Instant> {
        earliest(self.board.poll_at(self.last_now), self.join_at)
    }

    fn now(&mut self) -> Instant {
        let now = self
            .due
            .unwrap_or_else(|| self.shared.clock.now())
            .max(self.last_now);
        self.last_now = now;
        now
    }

    /// Handles every deadline that passed by `now`, each at its own time.
    fn catch_up(&mut self, now: Instant) {
        for _ in 0..MAX_CATCH_UP {
            match self.next_deadline() {
                Some(due) if due <= now && due >= self.last_now => self.tick(Some(due)),
                _ => return,
            }
        }
    }

    fn tick(&mut self, due: Option<Instant>) {
        self.due = due;
        let now = self.now();
        if self.join_at.is_some_and(|at| now >= at) {
            self.join_at = None;
            if self.board.credentials().wifi.is_some() {
                self.emit(now, What::WifiJoined);
                self.local.push_back(Local::WifiJoined);
            } else {
                self.local.push_back(Local::WifiJoinFailed);
            }
        }
        self.feed(Input::Tick);
        self.due = None;
    }

    fn feed(&mut self, input: Input<'_>) {
        self.feed_one(input);
        while let Some(local) = self.local.pop_front() {
            let input = match local {
                Local::WifiJoined => Input::WifiJoined,
                Local::WifiJoinFailed => Input::WifiJoinFailed,
                Local::TransportFailed(kind) => Input::TransportFailed(kind),
            };
            self.feed_one(input);
        }
    }

    fn feed_one(&mut self, input: Input<'_>) {
        let now = self.now();
        self.hardware.sensors.set_time(now);
        let actions = self.board.handle(now, input, &mut self.hardware);
        let output = self.board.take_console();
        if let Some(console) = &mut self.console {
            console.extend_from_slice(&output);
        }
        for action in actions {
            self.apply(now, action);
        }
        if !self.telemetry_reported && self.board.telemetry_sent() > 0 {
            self.telemetry_reported = true;
            self.emit(now, What::FirstTelemetry);
        }
        if let Some(before) = self.resumed_after
            && self.board.telemetry_sent() > before
        {
            self.resumed_after = None;
            self.emit(now, What::TelemetryResumed);
        }
    }

    fn apply(&mut self, now: Instant, action: Action) {
        match action {
            Action::SetLed { .. } => {}
            Action::JoinWifi => self.join_at = Some(now + self.shared.join),
            Action::LeaveWifi => self.join_at = None,
            Action::OpenTransport => self.open_transport(now),
            Action::CloseTransport => {
                if self.connection.take().is_some() {
                    let reason = match self.link {
                        Some(Link::Opening) | None => "TLS not up within the connect timeout",
                        Some(Link::TlsUp) => "no CONNACK within the connect timeout",
                        Some(Link::Connected) => "dropped by the board (keep-alive or ack timeout)",
                    };
                    self.emit(
                        now,
                        What::GaveUp {
                            reason: reason.into(),
                        },
                    );
                }
                self.link = None;
            }
            action @ (Action::MqttConnect { .. }
            | Action::MqttPublish { .. }
            | Action::MqttSubscribe { .. }
            | Action::MqttPubAck { .. }
            | Action::MqttPing) => {
                if let Some(packet) = mqtt::packet_of(&action) {
                    self.send(packet);
                }
            }
            Action::SaveCredentials => self.store = self.board.credentials().clone(),
            Action::Reset => {
                let saved = self.due.replace(now);
                self.boot();
                self.due = saved;
            }
        }
    }

    fn send(&self, packet: Packet) {
        if let Some(connection) = &self.connection {
            connection.send(packet);
        }
    }

    /// A fresh core from the credential store, booted.
    fn boot(&mut self) {
        self.connection = None;
        self.link = None;
        self.join_at = None;
        self.local.clear();
        self.board = Board::new(self.config.clone(), self.store.clone());
        self.feed_one(Input::Boot);
    }

    fn open_transport(&mut self, now: Instant) {
        self.connection_id += 1;
        self.attempts += 1;
        self.emit(
            now,
            What::Connecting {
                attempt: self.attempts,
            },
        );
        let credentials = self.board.credentials();
        let (Some(endpoint), Some(root_ca), Some(cert)) = (
            &credentials.endpoint,
            &credentials.root_ca,
            &credentials.device_cert,
        ) else {
            self.emit(
                now,
                What::TransportFailed {
                    reason: "credentials missing".into(),
                    fatal: false,
                },
            );
            self.local
                .push_back(Local::TransportFailed(TransportError::Other));
            return;
        };
        let host = endpoint.host.to_string();
        let addr = self
            .shared
            .hosts
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, ip)| SocketAddr::new(*ip, endpoint.port));
        let mut chain_pem = vec![cert.to_string()];
        if let Some(signer) = &credentials.signer {
            chain_pem.push(signer.to_string());
        }
        let params = ConnectParams {
            host,
            addr,
            port: endpoint.port,
            root_ca_pem: root_ca.to_string(),
            chain_pem,
            key_pkcs8_der: self.hardware.key_der(),
            flaws: self.config.flaws,
        };
        self.link = Some(Link::Opening);
        self.connection = Some(Connection::open(
            self.connection_id,
            params,
            self.net.clone(),
        ));
    }

    fn network(&mut self, id: u64, event: NetEvent) {
        if id != self.connection_id || self.connection.is_none() {
            return;
        }
        let now = self.now();
        match event {
            NetEvent::Up { local_port } => {
                self.link = Some(Link::TlsUp);
                self.emit(now, What::TlsUp { port: local_port });
                self.feed(Input::TransportUp);
            }
            NetEvent::Failed(kind, reason) => {
                self.connection = None;
                self.link = None;
                let fatal = kind == TransportError::ServerCertificate;
                self.emit(now, What::TransportFailed { reason, fatal });
                self.feed(Input::TransportFailed(kind));
            }
            NetEvent::Closed(reason) => {
                let connected = self.link == Some(Link::Connected);
                self.connection = None;
                self.link = None;
                self.emit(now, What::Closed { reason, connected });
                self.feed(Input::TransportClosed);
            }
            NetEvent::Packet(packet) => {
                if let Packet::ConnAck(ack) = &packet {
                    let accepted = ack.code == ConnectReturnCode::Success;
                    if accepted {
                        self.link = Some(Link::Connected);
                        if self.telemetry_reported {
                            self.resumed_after = Some(self.board.telemetry_sent());
                        }
                    }
                    self.emit(now, What::Connack { accepted });
                }
                if let Some(input) = mqtt::input_of(&packet) {
                    self.feed(input);
                }
            }
        }
    }
}

/// The credentials every board gets besides its certificate.
#[derive(Debug, Clone)]
pub struct Common {
    /// Signer CA, PEM.
    pub signer: String,
    /// The server's root CA, PEM.
    pub root_ca: String,
    /// `host:port`.
    pub endpoint: String,
    /// `ssid,password,auth` (or `ssid` for an open network).
    pub wifi: String,
}

/// A console command followed by a PEM block and the empty line that ends it.
fn pem_block(command: &str, pem: &str) -> String {
    let mut text = format!("{command}\r\n");
    for line in pem.lines() {
        text.push_str(line.trim_end());
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text
}

/// A console log line (`[E] `, `[W] `, `[I] `, `[D] `), not part of a reply.
fn is_log(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() >= 4
        && bytes[0] == b'['
        && matches!(bytes[1], b'E' | b'W' | b'I' | b'D')
        && bytes[2] == b']'
        && bytes[3] == b' '
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
