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
//! green holds, the shadow delta and the jobs topics are subscribed to (one SUBSCRIBE),
//! the next job is asked for (`jobs.rs`) and telemetry starts (yellow pulses on each
//! publish). Any failure closes the transport and waits a capped exponential backoff
//! with full jitter before trying again. A server certificate that does not verify is
//! fatal: red lights and the board stops trying until `reconnect` or `reset`.
//!
//! MQTT is handled at the level of packets' meaning; encoding them is the platform's job.

mod commands;
mod config;
mod connection;
mod io;
mod jobs;
mod output;
mod shadow;
#[cfg(test)]
mod tests;

pub use config::{Config, Qos};
pub use io::{Action, Button, Input, TransportError};
pub use jobs::{JobId, MAX_PERIOD_MS, MIN_PERIOD_MS, jobs_filters};
pub use shadow::{delta_topic, find_toggle};

use crate::backoff::{self, Backoff};
use crate::console::LineEditor;
use crate::credentials::{Credentials, ThingName};
use crate::flaws::Flaw;
use crate::hardware::Hardware;
use crate::led::{Led, LedBank};
use crate::time::{Instant, earliest};
use commands::PemInput;
use connection::Session;
use jobs::JobsState;
use output::{LOG_ERROR, LOG_INFO, LOG_WARN};

/// Capacity of the console output buffer; output beyond it is dropped (and a `[E]` line
/// says so), like a UART FIFO nobody reads.
pub const CONSOLE_CAPACITY: usize = 8192;
/// Capacity of an MQTT topic: the longest the board publishes is a job's update,
/// `$aws/things/<40-character thing>/jobs/<64-character job id>/update` (129 bytes).
pub type Topic = heapless::String<144>;
/// The filters of the board's SUBSCRIBE: the shadow delta and [`jobs_filters`].
pub type Filters = heapless::Vec<Topic, 4>;
/// Capacity of a payload the board publishes.
pub type Payload = heapless::String<256>;
/// Actions of one [`Board::handle`] call.
pub type Actions = heapless::Vec<Action, 24>;

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
    /// A SUBACK has come since boot (what [`Flaw::NeverResubscribe`] goes by).
    subscribed_once: bool,
    /// QoS 1 messages sent and not acknowledged yet, kept across connections.
    inflight: heapless::Vec<connection::Inflight, 4>,
    /// The last packet id used.
    next_pkid: u16,
    /// The shadow's reported state has been published since boot.
    reported_at_start: bool,
    /// The Jobs exchange under way.
    jobs: JobsState,
}

impl Board {
    /// A board with saved credentials, not yet booted (feed [`Input::Boot`]).
    pub fn new(config: Config, credentials: Credentials) -> Self {
        let mode = if config.flaws.has(Flaw::NoBackoff) {
            backoff::Mode::Fixed
        } else if config.flaws.has(Flaw::NoJitter) {
            backoff::Mode::Ceiling
        } else {
            backoff::Mode::FullJitter
        };
        let backoff =
            Backoff::new(config.backoff_base, config.backoff_cap, config.seed).with_mode(mode);
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
            subscribed_once: false,
            inflight: heapless::Vec::new(),
            next_pkid: 0,
            reported_at_start: false,
            jobs: JobsState::default(),
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
                if s.ping_sent.is_none() {
                    at = earliest(at, Some(s.ping_due(self.config.keep_alive)));
                }
                at = earliest(at, s.ping_sent.map(|t| t + self.config.ping_timeout));
                at = earliest(at, s.subscription.map(|(_, t)| t + self.config.ack_timeout));
                for m in &self.inflight {
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
        if matches!(
            input,
            Input::Publish { .. } | Input::PubAck { .. } | Input::SubAck { .. } | Input::PingResp
        ) && let Phase::Connected(s) = &mut self.phase
        {
            s.last_received = now;
        }
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
                    let client_id = if self.config.flaws.has(Flaw::WrongClientId) {
                        ThingName::try_from("hil-wrong-client-id").unwrap_or_default()
                    } else {
                        self.thing_name(hw)
                    };
                    push(
                        &mut out,
                        Action::MqttConnect {
                            client_id,
                            keep_alive_secs: u16::try_from(self.config.keep_alive.millis() / 1000)
                                .unwrap_or(u16::MAX),
                            clean_session: self.config.flaws.has(Flaw::CleanSessionAlways),
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
            Input::ConnAck {
                accepted,
                session_present,
            } => self.on_connack(now, accepted, session_present, hw, &mut out),
            Input::Publish {
                topic,
                payload,
                qos,
                pkid,
            } => self.on_publish(now, topic, payload, qos, pkid, hw, &mut out),
            Input::PubAck { pkid } => {
                if self.is_connected() {
                    self.inflight.retain(|m| m.pkid != pkid);
                }
            }
            Input::SubAck { pkid } => {
                if let Phase::Connected(s) = &mut self.phase
                    && s.subscription.is_some_and(|(p, _)| p == pkid)
                {
                    s.subscription = None;
                    self.subscribed_once = true;
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
}

fn push(out: &mut Actions, action: Action) {
    // 24 actions cover the busiest event (LED edges plus a reconnect); dropping one would
    // be a firmware bug, caught by the tests' assertions on actions.
    let _ = out.push(action);
}
