//! The application: a sans-IO state machine that is the whole firmware's behaviour.
//!
//! [`Board::handle`] takes an [`Input`] (console bytes, Wi-Fi and transport news, MQTT
//! packets, or just the passing of time) with `now`, and returns [`Actions`]: LED levels,
//! Wi-Fi and transport requests, MQTT packets to send, a request to save the credentials or
//! to reset. Console replies go to a buffer the platform drains with
//! [`Board::take_console`]. [`Board::poll_at`] says when the board next needs a
//! [`Input::Tick`] (an LED edge, telemetry, a ping, a timeout, a backoff expiry).
//!
//! Life of a connection: join Wi-Fi (blue blinks, then holds); open the transport (TLS to
//! the endpoint, green blinks); send CONNECT with the thing name as client id; on CONNACK
//! green holds, the shadow delta is subscribed to and telemetry starts (yellow pulses on
//! each publish). Any failure closes the transport and waits a capped exponential backoff
//! with full jitter before trying again. A server certificate that does not verify is
//! fatal: red lights and the board stops trying until `reconnect` or `reset`.
//!
//! MQTT is handled at the level of packets' meaning; encoding them is the platform's job.

use crate::backoff::Backoff;
use crate::console::{
    self, CLI_VERSION, COMMAND_LIST, Command, CommandError, EOT, LineEditor, LineError,
};
use crate::credentials::{Credentials, Pem, ThingName};
use crate::hardware::{CertificateError, Hardware};
use crate::led::{Led, LedBank};
use crate::telemetry;
use crate::time::{Duration, Instant, earliest};
use core::fmt::Write;

/// Capacity of the console output buffer; output beyond it is dropped (and a `[E]` line
/// says so), like a UART FIFO nobody reads.
pub const CONSOLE_CAPACITY: usize = 8192;
/// Capacity of an MQTT topic.
pub type Topic = heapless::String<128>;
/// Capacity of a payload the board publishes.
pub type Payload = heapless::String<256>;
/// Actions of one [`Board::handle`] call.
pub type Actions = heapless::Vec<Action, 24>;

/// MQTT quality of service the board uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// At most once.
    AtMostOnce,
    /// At least once.
    AtLeastOnce,
}

/// Settings of the application.
#[derive(Debug, Clone)]
pub struct Config {
    /// Telemetry period.
    pub telemetry_interval: Duration,
    /// QoS of telemetry and shadow reports.
    pub telemetry_qos: Qos,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// How long to wait for a PINGRESP before dropping the connection.
    pub ping_timeout: Duration,
    /// How long to wait for the transport to open, and then for CONNACK.
    pub connect_timeout: Duration,
    /// How long to wait for PUBACK or SUBACK before resending with the same packet id.
    pub ack_timeout: Duration,
    /// First backoff ceiling.
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_cap: Duration,
    /// A connection that stays up this long resets the backoff.
    pub stable_after: Duration,
    /// Wait between failed Wi-Fi joins.
    pub wifi_retry: Duration,
    /// Seed of the jitter generator.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            telemetry_interval: Duration::from_secs(1),
            telemetry_qos: Qos::AtMostOnce,
            keep_alive: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(32),
            stable_after: Duration::from_secs(30),
            wifi_retry: Duration::from_secs(2),
            seed: 0x5eed,
        }
    }
}

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
    },
    /// Send SUBSCRIBE for one filter.
    MqttSubscribe {
        /// Filter.
        filter: Topic,
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

/// Where the connection stands.
// Without an allocator the session (with its in-flight messages) is kept inline.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Credentials missing: red, waiting for provisioning.
    Unprovisioned,
    /// A fatal error: red, waiting for `reconnect` or `reset`.
    Fatal,
    /// Joining Wi-Fi; retry at the given time after a failure.
    JoiningWifi { retry_at: Option<Instant> },
    /// Wi-Fi up, waiting before the next connection attempt.
    Backoff { until: Instant },
    /// Waiting for the transport to open.
    Opening { deadline: Instant },
    /// CONNECT sent, waiting for CONNACK.
    AwaitingConnAck { deadline: Instant },
    /// MQTT connected.
    Connected(Session),
}

/// A QoS 1 message waiting for its PUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inflight {
    topic: Topic,
    payload: Payload,
    pkid: u16,
    sent_at: Instant,
}

/// State of a live MQTT connection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    since: Instant,
    next_telemetry: Instant,
    last_sent: Instant,
    ping_sent: Option<Instant>,
    subscription: Option<(u16, Instant)>,
    inflight: heapless::Vec<Inflight, 4>,
    next_pkid: u16,
}

impl Session {
    fn allocate_pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        self.next_pkid
    }
}

/// Which certificate a PEM block being typed is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PemTarget {
    Device,
    Signer,
    RootCa,
}

/// A PEM block being typed over the console.
#[derive(Debug)]
struct PemInput {
    target: PemTarget,
    text: Pem,
    overflow: bool,
}

/// The firmware; see the module documentation.
#[derive(Debug)]
pub struct Board {
    config: Config,
    credentials: Credentials,
    phase: Phase,
    wifi_up: bool,
    yellow_held: Option<bool>,
    leds: LedBank,
    backoff: Backoff,
    editor: LineEditor,
    pem: Option<PemInput>,
    log_level: u8,
    console: heapless::Vec<u8, CONSOLE_CAPACITY>,
    console_overflow: bool,
    telemetry_sent: u32,
}

const LOG_ERROR: u8 = 1;
const LOG_WARN: u8 = 2;
const LOG_INFO: u8 = 3;

impl Board {
    /// A board with saved credentials, not yet booted (feed [`Input::Boot`]).
    pub fn new(config: Config, credentials: Credentials) -> Self {
        let backoff = Backoff::new(config.backoff_base, config.backoff_cap, config.seed);
        Board {
            config,
            credentials,
            phase: Phase::Unprovisioned,
            wifi_up: false,
            yellow_held: None,
            leds: LedBank::default(),
            backoff,
            editor: LineEditor::default(),
            pem: None,
            log_level: LOG_INFO,
            console: heapless::Vec::new(),
            console_overflow: false,
            telemetry_sent: 0,
        }
    }

    /// The credentials, as saved and used.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The level each LED was last driven to.
    pub fn led(&self, led: Led) -> bool {
        self.leds.level(led)
    }

    /// Telemetry messages published since boot.
    pub fn telemetry_sent(&self) -> u32 {
        self.telemetry_sent
    }

    /// Is MQTT connected?
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected(_))
    }

    /// Console output produced since the last call.
    pub fn take_console(&mut self) -> heapless::Vec<u8, CONSOLE_CAPACITY> {
        self.console_overflow = false;
        core::mem::take(&mut self.console)
    }

    /// When the board next needs an [`Input::Tick`].
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Unprovisioned | Phase::Fatal => None,
            Phase::JoiningWifi { retry_at } => *retry_at,
            Phase::Backoff { until } => Some(*until),
            Phase::Opening { deadline } | Phase::AwaitingConnAck { deadline } => Some(*deadline),
            Phase::Connected(s) => {
                let mut at = Some(s.next_telemetry);
                at = earliest(at, Some(s.last_sent + self.config.keep_alive));
                at = earliest(at, s.ping_sent.map(|t| t + self.config.ping_timeout));
                at = earliest(at, s.subscription.map(|(_, t)| t + self.config.ack_timeout));
                for m in &s.inflight {
                    at = earliest(at, Some(m.sent_at + self.config.ack_timeout));
                }
                at
            }
        };
        earliest(phase, self.leds.poll_at(now))
    }

    /// Handles one input at `now`.
    pub fn handle(&mut self, now: Instant, input: Input<'_>, hw: &mut dyn Hardware) -> Actions {
        let mut out = Actions::new();
        match input {
            Input::Boot => self.boot(now, hw, &mut out),
            Input::Tick => self.tick(now, hw, &mut out),
            Input::Console(bytes) => {
                for byte in bytes {
                    if let Some(line) = self.editor.push(*byte) {
                        self.on_line(now, line, hw, &mut out);
                    }
                }
            }
            Input::WifiJoined => {
                if matches!(self.phase, Phase::JoiningWifi { .. }) {
                    self.wifi_up = true;
                    self.log(LOG_INFO, format_args!("wifi: joined"));
                    self.phase = Phase::Backoff { until: now };
                }
            }
            Input::WifiJoinFailed => {
                if matches!(self.phase, Phase::JoiningWifi { .. }) {
                    self.log(LOG_WARN, format_args!("wifi: join failed, retrying"));
                    self.phase = Phase::JoiningWifi {
                        retry_at: Some(now + self.config.wifi_retry),
                    };
                }
            }
            Input::WifiLost => {
                if self.wifi_up {
                    self.wifi_up = false;
                    self.log(LOG_WARN, format_args!("wifi: lost"));
                    if !matches!(self.phase, Phase::Unprovisioned | Phase::Fatal) {
                        if !matches!(self.phase, Phase::Backoff { .. }) {
                            push(&mut out, Action::CloseTransport);
                        }
                        self.phase = Phase::JoiningWifi {
                            retry_at: Some(now + self.config.wifi_retry),
                        };
                    }
                }
            }
            Input::TransportUp => {
                if matches!(self.phase, Phase::Opening { .. }) {
                    let client_id = self.thing_name(hw);
                    push(
                        &mut out,
                        Action::MqttConnect {
                            client_id,
                            keep_alive_secs: u16::try_from(self.config.keep_alive.millis() / 1000)
                                .unwrap_or(u16::MAX),
                        },
                    );
                    self.phase = Phase::AwaitingConnAck {
                        deadline: now + self.config.connect_timeout,
                    };
                }
            }
            Input::TransportFailed(TransportError::ServerCertificate) => {
                if matches!(self.phase, Phase::Opening { .. }) {
                    self.log(
                        LOG_ERROR,
                        format_args!("tls: server certificate rejected, not retrying"),
                    );
                    self.phase = Phase::Fatal;
                }
            }
            Input::TransportFailed(TransportError::Other) | Input::TransportClosed => {
                if matches!(
                    self.phase,
                    Phase::Opening { .. } | Phase::AwaitingConnAck { .. } | Phase::Connected(_)
                ) {
                    self.log(LOG_WARN, format_args!("mqtt: connection closed"));
                    self.retry_later(now, false, &mut out);
                }
            }
            Input::ConnAck { accepted } => self.on_connack(now, accepted, hw, &mut out),
            Input::Publish {
                topic,
                payload,
                qos,
                pkid,
            } => self.on_publish(now, topic, payload, qos, pkid, hw, &mut out),
            Input::PubAck { pkid } => {
                if let Phase::Connected(s) = &mut self.phase {
                    s.inflight.retain(|m| m.pkid != pkid);
                }
            }
            Input::SubAck { pkid } => {
                if let Phase::Connected(s) = &mut self.phase
                    && s.subscription.is_some_and(|(p, _)| p == pkid)
                {
                    s.subscription = None;
                }
            }
            Input::PingResp => {
                if let Phase::Connected(s) = &mut self.phase {
                    s.ping_sent = None;
                }
            }
            Input::Button(button) => {
                let name = match button {
                    Button::Sw0 => "sw0",
                    Button::Sw1 => "sw1",
                };
                self.log(LOG_INFO, format_args!("button: {name} pressed"));
            }
        }
        self.refresh_leds(now, &mut out);
        out
    }

    fn boot(&mut self, now: Instant, hw: &mut dyn Hardware, out: &mut Actions) {
        self.say(format_args!(
            "HIL reference firmware {} (device {})",
            crate::FIRMWARE_VERSION,
            hw.device_serial()
        ));
        self.start(now, out);
        self.end_reply();
    }

    /// Starts connecting if the board has everything it needs.
    fn start(&mut self, now: Instant, out: &mut Actions) {
        let missing = self.credentials.missing();
        if !missing.is_empty() {
            self.phase = Phase::Unprovisioned;
            let mut list: heapless::String<64> = heapless::String::new();
            for (i, name) in missing.iter().enumerate() {
                let _ = write!(list, "{}{name}", if i == 0 { "" } else { ", " });
            }
            self.log(LOG_WARN, format_args!("missing credentials: {list}"));
            return;
        }
        self.backoff.reset();
        push(out, Action::JoinWifi);
        self.phase = Phase::JoiningWifi { retry_at: None };
        let _ = now;
    }

    fn tick(&mut self, now: Instant, hw: &mut dyn Hardware, out: &mut Actions) {
        match &mut self.phase {
            Phase::JoiningWifi { retry_at } if retry_at.is_some_and(|t| now >= t) => {
                *retry_at = None;
                push(out, Action::JoinWifi);
            }
            Phase::Backoff { until } if now >= *until => {
                self.log(
                    LOG_INFO,
                    format_args!("mqtt: connecting (attempt {})", self.backoff.attempts() + 1),
                );
                push(out, Action::OpenTransport);
                self.phase = Phase::Opening {
                    deadline: now + self.config.connect_timeout,
                };
            }
            Phase::Opening { deadline } | Phase::AwaitingConnAck { deadline }
                if now >= *deadline =>
            {
                self.log(LOG_WARN, format_args!("mqtt: connect timed out"));
                self.retry_later(now, true, out);
            }
            Phase::Connected(_) => self.tick_connected(now, hw, out),
            _ => {}
        }
    }

    fn tick_connected(&mut self, now: Instant, hw: &mut dyn Hardware, out: &mut Actions) {
        let config = self.config.clone();
        let thing = self.thing_name(hw);
        let Phase::Connected(s) = &mut self.phase else {
            return;
        };
        if s.ping_sent.is_some_and(|t| now >= t + config.ping_timeout) {
            self.log(LOG_WARN, format_args!("mqtt: no PINGRESP, disconnecting"));
            self.retry_later(now, true, out);
            return;
        }
        // Resend what was not acknowledged in time, with the same packet id.
        if let Some((pkid, sent)) = s.subscription
            && now >= sent + config.ack_timeout
        {
            s.subscription = Some((pkid, now));
            s.last_sent = now;
            let filter = delta_topic(&thing);
            push(out, Action::MqttSubscribe { filter, pkid });
        }
        for m in s.inflight.iter_mut() {
            if now >= m.sent_at + config.ack_timeout {
                m.sent_at = now;
                s.last_sent = now;
                push(
                    out,
                    Action::MqttPublish {
                        topic: m.topic.clone(),
                        payload: m.payload.clone(),
                        qos: Qos::AtLeastOnce,
                        pkid: m.pkid,
                        dup: true,
                    },
                );
            }
        }
        let telemetry_due = now >= s.next_telemetry;
        if telemetry_due {
            s.next_telemetry = now + config.telemetry_interval;
        }
        if now - s.since >= config.stable_after {
            self.backoff.reset();
        }
        if telemetry_due {
            self.publish_telemetry(now, &thing, hw, out);
        }
        if let Phase::Connected(s) = &mut self.phase
            && s.ping_sent.is_none()
            && now >= s.last_sent + config.keep_alive
        {
            s.ping_sent = Some(now);
            s.last_sent = now;
            push(out, Action::MqttPing);
        }
    }

    fn publish_telemetry(
        &mut self,
        now: Instant,
        thing: &str,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        let Ok(json) = telemetry::payload(hw.sensors()) else {
            return;
        };
        let mut topic = Topic::new();
        let _ = write!(topic, "{thing}/sensors");
        let payload = Payload::try_from(json.as_str()).unwrap_or_default();
        if self.publish(now, topic, payload, out) {
            self.telemetry_sent = self.telemetry_sent.saturating_add(1);
            if self.yellow_held.is_none() {
                self.leds.pulse(Led::Yellow, now);
            }
        }
    }

    /// Publishes with the configured QoS; false when QoS 1 has no room in flight.
    fn publish(&mut self, now: Instant, topic: Topic, payload: Payload, out: &mut Actions) -> bool {
        let qos = self.config.telemetry_qos;
        let Phase::Connected(s) = &mut self.phase else {
            return false;
        };
        let pkid = match qos {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => {
                if s.inflight.is_full() {
                    self.log(
                        LOG_WARN,
                        format_args!("mqtt: too many unacknowledged messages"),
                    );
                    return false;
                }
                let pkid = s.allocate_pkid();
                let _ = s.inflight.push(Inflight {
                    topic: topic.clone(),
                    payload: payload.clone(),
                    pkid,
                    sent_at: now,
                });
                pkid
            }
        };
        s.last_sent = now;
        push(
            out,
            Action::MqttPublish {
                topic,
                payload,
                qos,
                pkid,
                dup: false,
            },
        );
        true
    }

    fn on_connack(
        &mut self,
        now: Instant,
        accepted: bool,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        if !matches!(self.phase, Phase::AwaitingConnAck { .. }) {
            return;
        }
        if !accepted {
            self.log(LOG_WARN, format_args!("mqtt: connection refused"));
            self.retry_later(now, true, out);
            return;
        }
        let thing = self.thing_name(hw);
        self.log(LOG_INFO, format_args!("mqtt: connected as {thing}"));
        let mut session = Session {
            since: now,
            next_telemetry: now,
            last_sent: now,
            ping_sent: None,
            subscription: None,
            inflight: heapless::Vec::new(),
            next_pkid: 0,
        };
        let pkid = session.allocate_pkid();
        session.subscription = Some((pkid, now));
        push(
            out,
            Action::MqttSubscribe {
                filter: delta_topic(&thing),
                pkid,
            },
        );
        self.phase = Phase::Connected(session);
        self.tick_connected(now, hw, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_publish(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &[u8],
        qos: Qos,
        pkid: u16,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        if !self.is_connected() {
            return;
        }
        if qos == Qos::AtLeastOnce {
            push(out, Action::MqttPubAck { pkid });
        }
        let thing = self.thing_name(hw);
        if topic != delta_topic(&thing).as_str() {
            return;
        }
        let Some(toggle) = find_toggle(payload) else {
            self.log(LOG_WARN, format_args!("shadow: delta without toggle"));
            return;
        };
        self.yellow_held = Some(toggle != 0);
        self.leds.set(Led::Yellow, toggle != 0);
        self.log(LOG_INFO, format_args!("shadow: toggle {toggle}"));
        let mut topic = Topic::new();
        let _ = write!(topic, "$aws/things/{thing}/shadow/update");
        let mut report = Payload::new();
        let _ = write!(
            report,
            "{{\"state\":{{\"reported\":{{\"toggle\":{toggle}}}}}}}"
        );
        self.publish(now, topic, report, out);
    }

    /// Closes the connection (when asked) and schedules the next attempt after a jittered
    /// backoff delay.
    fn retry_later(&mut self, now: Instant, close: bool, out: &mut Actions) {
        if close {
            push(out, Action::CloseTransport);
        }
        let delay = self.backoff.next_delay();
        self.log(
            LOG_INFO,
            format_args!("mqtt: retrying in {} ms", delay.millis()),
        );
        self.phase = Phase::Backoff { until: now + delay };
    }

    /// The thing name: from the device certificate, or derived from the key before there
    /// is one (the two agree for a certificate issued from the board's CSR).
    fn thing_name(&self, hw: &dyn Hardware) -> ThingName {
        self.credentials
            .thing
            .clone()
            .unwrap_or_else(|| hw.key_id())
    }

    /// Sets the LED patterns for the current state and reports level changes.
    fn refresh_leds(&mut self, now: Instant, out: &mut Actions) {
        let joining = matches!(self.phase, Phase::JoiningWifi { .. });
        match (self.wifi_up, joining) {
            (true, _) => self.leds.set(Led::Blue, true),
            (false, true) => self.leds.blink(Led::Blue, now),
            (false, false) => self.leds.set(Led::Blue, false),
        }
        match self.phase {
            Phase::Connected(_) => self.leds.set(Led::Green, true),
            Phase::Backoff { .. } | Phase::Opening { .. } | Phase::AwaitingConnAck { .. } => {
                self.leds.blink(Led::Green, now)
            }
            _ => self.leds.set(Led::Green, false),
        }
        let fatal = matches!(self.phase, Phase::Unprovisioned | Phase::Fatal);
        self.leds.set(Led::Red, fatal);
        self.leds
            .update(now, |led, on| push(out, Action::SetLed { led, on }));
    }

    fn on_line(
        &mut self,
        now: Instant,
        line: Result<console::Line, LineError>,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        if self.pem.is_some() {
            return self.on_pem_line(line, hw, out);
        }
        let line = match line {
            Ok(line) => line,
            Err(LineError::TooLong) => {
                return self.error(format_args!(
                    "line too long (at most {} characters)",
                    console::MAX_LINE
                ));
            }
            Err(LineError::Garbage) => {
                return self.error(format_args!("invalid characters in line"));
            }
        };
        match console::parse(&line) {
            Ok(command) => self.execute(now, command, hw, out),
            Err(CommandError::Unknown) => {
                self.say(format_args!("ERROR: unknown command; commands:"));
                for command in COMMAND_LIST {
                    self.say(format_args!("  {command}"));
                }
                self.end_reply();
            }
            Err(usage) => self.error(format_args!("{usage}")),
        }
    }

    fn execute(
        &mut self,
        now: Instant,
        command: Command,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        match command {
            Command::Nothing => self.end_reply(),
            Command::Reset => {
                self.ok();
                push(out, Action::Reset);
            }
            Command::Reconnect => {
                self.ok();
                self.reconnect(now, out);
            }
            Command::Wifi(wifi) => {
                self.credentials.wifi = Some(wifi);
                push(out, Action::SaveCredentials);
                self.ok();
            }
            Command::Thing => {
                let thing = self.thing_name(hw);
                self.reply(format_args!("{thing}"));
            }
            Command::Device => {
                let serial: heapless::String<64> =
                    heapless::String::try_from(hw.device_serial()).unwrap_or_default();
                self.reply(format_args!("{serial}"));
            }
            Command::Version => self.reply(format_args!("{}", crate::FIRMWARE_VERSION)),
            Command::CliVersion => self.reply(format_args!("{CLI_VERSION}")),
            Command::Debug(level) => {
                self.log_level = level;
                self.ok();
            }
            Command::Csr => {
                let mut pem: heapless::String<1024> = heapless::String::new();
                match hw.write_csr(&mut pem) {
                    Ok(()) => {
                        for line in pem.lines() {
                            self.say(format_args!("{line}"));
                        }
                        self.end_reply();
                    }
                    Err(_) => {
                        self.phase = Phase::Fatal;
                        self.error(format_args!("crypto failure: cannot create the CSR"));
                    }
                }
            }
            Command::Cert => self.begin_pem(PemTarget::Device),
            Command::Signer => self.begin_pem(PemTarget::Signer),
            Command::RootCa => self.begin_pem(PemTarget::RootCa),
            Command::Endpoint(endpoint) => {
                self.credentials.endpoint = Some(endpoint);
                push(out, Action::SaveCredentials);
                self.ok();
            }
            Command::Erase => {
                self.credentials = Credentials::default();
                push(out, Action::SaveCredentials);
                self.disconnect_all(out);
                self.phase = Phase::Unprovisioned;
                self.ok();
            }
        }
    }

    fn reconnect(&mut self, now: Instant, out: &mut Actions) {
        self.disconnect_all(out);
        self.start(now, out);
    }

    fn disconnect_all(&mut self, out: &mut Actions) {
        if matches!(
            self.phase,
            Phase::Opening { .. } | Phase::AwaitingConnAck { .. } | Phase::Connected(_)
        ) {
            push(out, Action::CloseTransport);
        }
        if self.wifi_up || matches!(self.phase, Phase::JoiningWifi { .. }) {
            push(out, Action::LeaveWifi);
        }
        self.wifi_up = false;
    }

    fn begin_pem(&mut self, target: PemTarget) {
        self.pem = Some(PemInput {
            target,
            text: Pem::new(),
            overflow: false,
        });
    }

    fn on_pem_line(
        &mut self,
        line: Result<console::Line, LineError>,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        let Some(pem) = self.pem.as_mut() else {
            return;
        };
        match line {
            Ok(line) if line.trim().is_empty() => {}
            Ok(line) => {
                if pem.text.push_str(line.trim()).is_err() || pem.text.push('\n').is_err() {
                    pem.overflow = true;
                }
                return;
            }
            Err(_) => {
                pem.overflow = true;
                return;
            }
        }
        let Some(pem) = self.pem.take() else {
            return;
        };
        let result = if pem.overflow {
            Err(CertificateError::TooLong)
        } else {
            match pem.target {
                PemTarget::Device => hw.check_device_certificate(&pem.text).map(|thing| {
                    self.credentials.device_cert = Some(pem.text.clone());
                    self.credentials.thing = Some(thing);
                }),
                PemTarget::Signer => hw
                    .check_ca_certificate(&pem.text)
                    .map(|()| self.credentials.signer = Some(pem.text.clone())),
                PemTarget::RootCa => hw
                    .check_ca_certificate(&pem.text)
                    .map(|()| self.credentials.root_ca = Some(pem.text.clone())),
            }
        };
        match result {
            Ok(()) => {
                push(out, Action::SaveCredentials);
                self.ok();
            }
            Err(e) => self.error(format_args!("{e}")),
        }
    }

    fn log(&mut self, level: u8, message: core::fmt::Arguments<'_>) {
        if level <= self.log_level {
            let tag = match level {
                LOG_ERROR => 'E',
                LOG_WARN => 'W',
                LOG_INFO => 'I',
                _ => 'D',
            };
            self.say(format_args!("[{tag}] {message}"));
        }
    }

    fn ok(&mut self) {
        self.reply(format_args!("OK"));
    }

    fn error(&mut self, message: core::fmt::Arguments<'_>) {
        self.reply(format_args!("ERROR: {message}"));
    }

    fn reply(&mut self, message: core::fmt::Arguments<'_>) {
        self.say(message);
        self.end_reply();
    }

    fn end_reply(&mut self) {
        self.write_console(&[EOT]);
    }

    /// Writes one console line, ended by CR LF.
    fn say(&mut self, message: core::fmt::Arguments<'_>) {
        let mut writer = ConsoleWriter(self);
        let _ = writer.write_fmt(message);
        let _ = writer.write_str("\r\n");
    }

    fn write_console(&mut self, bytes: &[u8]) {
        if self.console.extend_from_slice(bytes).is_err() {
            self.console_overflow = true;
        }
    }
}

struct ConsoleWriter<'a>(&'a mut Board);

impl Write for ConsoleWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write_console(s.as_bytes());
        Ok(())
    }
}

fn push(out: &mut Actions, action: Action) {
    // 24 actions cover the busiest event (LED edges plus a reconnect); dropping one would
    // be a firmware bug, caught by the tests' assertions on actions.
    let _ = out.push(action);
}

/// The shadow delta topic of `thing`.
pub fn delta_topic(thing: &str) -> Topic {
    let mut topic = Topic::new();
    let _ = write!(topic, "$aws/things/{thing}/shadow/update/delta");
    topic
}

/// Finds `"toggle":` and the number after it, the way Microchip's firmware reads the delta
/// (so the delta must be compact JSON).
pub fn find_toggle(payload: &[u8]) -> Option<u32> {
    const KEY: &[u8] = b"\"toggle\":";
    let start = payload.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    payload[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(None, |acc: Option<u32>, b| {
            Some(
                acc.unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(u32::from(b - b'0')),
            )
        })
}

#[cfg(test)]
mod tests;
