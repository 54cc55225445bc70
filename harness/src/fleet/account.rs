//! The fleet's accounting ([`Accounting`]): per-board records built from the boards' own
//! events and the broker's observations, and the counts a report is made of
//! ([`Accounting::tally`]). Sans-IO: fed in the order things arrived, it never reads a
//! clock; board times come in the events. The run loop that feeds it is
//! [`Fleet::run`](super::Fleet::run).
//!
//! Failure causes are short texts grouped as they are (ids in them replaced by `…`, so
//! one cause is one line in a report). A board's cause for a failed attempt is the
//! broker's reason when the broker refused that attempt (it knows why: "certificate is
//! REVOKED"), else what the board saw ("closed before CONNACK: closed by the server").
//!
//! The two views of one failure come on two streams (the broker's tap, the board's lines)
//! in no fixed order, and a board may be back with its next attempt before the broker's
//! word on the last one is read. So a broker close is matched to its attempt exactly: the
//! broker's connection is the client at a TCP port (its TLS accept), the board says which
//! port each attempt has (`tls_up`). Whichever view comes first waits for the other; a
//! board-view count moves to the broker's reason when that comes later. Without a port
//! (a connection whose port is not known), a close is the board's attempt under way.

use super::events::{BoardEvent, BoardEventKind, BrokerObservation};
use super::stats::Distribution;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What is known of one board.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BoardRecord {
    /// Thing name (its MQTT client id), once provisioned.
    pub thing: Option<String>,
    /// Its certificate's id, once signed.
    pub certificate_id: Option<String>,
    /// Why provisioning failed, if it did.
    pub provisioning_failure: Option<String>,
    /// Fleet time of its power-on (ms).
    pub power_on_ms: Option<u64>,
    /// Fleet time of its first accepted CONNACK (ms).
    pub connected_ms: Option<u64>,
    /// Fleet time of its first telemetry message (ms).
    pub first_telemetry_ms: Option<u64>,
    /// Connection attempts since power-on.
    pub attempts: u32,
    /// JITR registered its certificate.
    pub registered: bool,
    /// The board stopped trying (a fatal error).
    pub fatal: bool,
    /// The cause of its last failed attempt.
    pub last_failure: Option<String>,
    /// Attempts whose failure is waiting for its other view, by attempt number.
    #[serde(skip)]
    pending: HashMap<u32, Attempt>,
    /// The attempt `last_failure` is of.
    #[serde(skip)]
    last_failed_attempt: u32,
}

/// One attempt's failure, as far as it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Attempt {
    /// The broker's reason, come before the board's view.
    broker: Option<String>,
    /// The cause counted, and whether it was the broker's.
    counted: Option<(String, bool)>,
}

impl BoardRecord {
    /// Power-on to first telemetry (ms), once both happened.
    pub fn time_to_telemetry(&self) -> Option<u64> {
        Some(self.first_telemetry_ms?.saturating_sub(self.power_on_ms?))
    }

    /// Power-on to the first accepted CONNACK (ms), once both happened.
    pub fn time_to_connected(&self) -> Option<u64> {
        Some(self.connected_ms?.saturating_sub(self.power_on_ms?))
    }

    /// Why the board has no telemetry (`None` when it has).
    pub fn failure_cause(&self) -> Option<String> {
        if self.first_telemetry_ms.is_some() {
            return None;
        }
        Some(if let Some(why) = &self.provisioning_failure {
            format!("provisioning: {why}")
        } else if self.power_on_ms.is_none() {
            "not powered on".to_owned()
        } else if let Some(why) = &self.last_failure {
            why.clone()
        } else if self.attempts == 0 {
            "never tried to connect".to_owned()
        } else {
            "no telemetry yet (an attempt under way)".to_owned()
        })
    }
}

/// Counts over the fleet; see [`Accounting::tally`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tally {
    /// Boards in the fleet.
    pub boards: usize,
    /// Boards that were provisioned.
    pub provisioned: usize,
    /// Boards powered on.
    pub powered_on: usize,
    /// Boards that got an accepted CONNACK.
    pub connected: usize,
    /// Boards that sent telemetry.
    pub reached_telemetry: usize,
    /// Boards without telemetry.
    pub failed: usize,
    /// Power-on to first telemetry, board time.
    pub time_to_first_telemetry: Option<Distribution>,
    /// Power-on to the first accepted CONNACK, board time.
    pub time_to_connected: Option<Distribution>,
    /// Connection attempts, all boards.
    pub attempts: u64,
    /// The most attempts one board made.
    pub max_attempts: u32,
    /// Boards without telemetry, by cause.
    pub failures_by_cause: BTreeMap<String, usize>,
    /// Failed connection attempts by cause (the broker's reason when it refused, else the
    /// board's); a JITR board's first attempt is one of them.
    pub attempt_failures_by_cause: BTreeMap<String, u64>,
    /// JITR registered events for the fleet's certificates.
    pub registration_events: u64,
    /// The fleet's certificates JITR registered.
    pub certificates_registered: usize,
    /// Telemetry messages the broker accepted from the fleet.
    pub telemetry_messages: u64,
}

/// Per-board records and fleet-wide counts; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Accounting {
    boards: Vec<BoardRecord>,
    by_thing: HashMap<String, usize>,
    by_certificate: HashMap<String, usize>,
    attempt_failures: BTreeMap<String, u64>,
    registration_events: u64,
    telemetry_messages: u64,
    counts: Counts,
    /// The broker's connection ids and their clients' TCP ports (TLS accepted).
    conn_ports: HashMap<u64, u16>,
    /// TCP ports and the board and attempt using them (`tls_up`).
    port_attempts: HashMap<u16, (usize, u32)>,
    /// Broker refusals whose port no board has claimed yet.
    early_refusals: HashMap<u16, String>,
}

/// Running counts, cheap to read after every event (for progress displays).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Boards with an accepted CONNACK.
    pub connected: usize,
    /// Boards that sent telemetry.
    pub reached_telemetry: usize,
    /// Failed connection attempts.
    pub failed_attempts: u64,
}

impl Accounting {
    /// Accounting for `boards` boards, indexed from 0.
    pub fn new(boards: usize) -> Self {
        Accounting {
            boards: vec![BoardRecord::default(); boards],
            ..Accounting::default()
        }
    }

    /// The records, by board index.
    pub fn boards(&self) -> &[BoardRecord] {
        &self.boards
    }

    /// Says which certificate the harness signed for `board` and its thing name, so the
    /// broker's observations can be matched to it.
    pub fn identify(&mut self, board: usize, thing: &str, certificate_id: &str) {
        let Some(record) = self.boards.get_mut(board) else {
            return;
        };
        record.thing = Some(thing.to_owned());
        record.certificate_id = Some(certificate_id.to_owned());
        self.by_thing.insert(thing.to_owned(), board);
        self.by_certificate.insert(certificate_id.to_owned(), board);
    }

    /// Records that provisioning `board` failed, and why.
    pub fn provisioning_failed(&mut self, board: usize, why: &str) {
        if let Some(record) = self.boards.get_mut(board) {
            record.provisioning_failure = Some(group(why));
        }
    }

    /// Feeds one of the boards' events (lines without a board, or for a board out of
    /// range, are ignored).
    pub fn record(&mut self, event: &BoardEvent) {
        let Some(board) = event.board.filter(|&b| b < self.boards.len()) else {
            return;
        };
        let record = &mut self.boards[board];
        let t = event.t_ms;
        let failure = match &event.kind {
            BoardEventKind::PowerOn => {
                record.power_on_ms = Some(t);
                None
            }
            BoardEventKind::Connecting { .. } => {
                record.attempts += 1;
                None
            }
            BoardEventKind::TlsUp { port: Some(port) } => {
                let attempt = record.attempts;
                match self.early_refusals.remove(port) {
                    Some(cause) => self.refuse_attempt(board, attempt, cause),
                    None => {
                        self.port_attempts.insert(*port, (board, attempt));
                    }
                }
                None
            }
            BoardEventKind::Connack { accepted: true } => {
                if record.connected_ms.is_none() {
                    record.connected_ms = Some(t);
                    self.counts.connected += 1;
                }
                None
            }
            BoardEventKind::Connack { accepted: false } => Some("CONNACK refused".to_owned()),
            BoardEventKind::FirstTelemetry => {
                if record.first_telemetry_ms.is_none() {
                    record.first_telemetry_ms = Some(t);
                    self.counts.reached_telemetry += 1;
                }
                None
            }
            BoardEventKind::TransportFailed { reason, fatal } => {
                record.fatal |= *fatal;
                Some(format!("connect failed: {reason}"))
            }
            BoardEventKind::Closed {
                reason,
                connected: false,
            } => Some(format!("closed before CONNACK: {reason}")),
            BoardEventKind::Closed {
                reason,
                connected: true,
            } => Some(format!("connection lost: {reason}")),
            BoardEventKind::GaveUp { reason } => Some(reason.clone()),
            BoardEventKind::ProvisionFailed { command, reply } => {
                record.provisioning_failure = Some(group(&format!("{command}: {reply}")));
                None
            }
            _ => None,
        };
        if let Some(board_view) = failure {
            self.attempt_failed(board, group(&board_view));
        }
    }

    /// The board's attempt under way failed as the board saw it: counted with the broker's
    /// reason if that is in, else with the board's (which the broker's replaces later).
    fn attempt_failed(&mut self, board: usize, board_view: String) {
        let record = &mut self.boards[board];
        let attempt = record.pending.entry(record.attempts).or_default();
        if attempt.counted.is_some() {
            return;
        }
        let (cause, brokers) = match attempt.broker.take() {
            Some(cause) => (cause, true),
            None => (board_view, false),
        };
        attempt.counted = Some((cause.clone(), brokers));
        if brokers {
            record.pending.remove(&record.attempts);
        }
        record.last_failure = Some(cause.clone());
        record.last_failed_attempt = record.attempts;
        *self.attempt_failures.entry(cause).or_default() += 1;
        self.counts.failed_attempts += 1;
    }

    /// The broker refused `board`'s attempt `number`; see the module documentation.
    fn refuse_attempt(&mut self, board: usize, number: u32, cause: String) {
        let record = &mut self.boards[board];
        let attempt = record.pending.entry(number).or_default();
        match attempt.counted.take() {
            Some((counted, false)) => {
                record.pending.remove(&number);
                if let Some(count) = self.attempt_failures.get_mut(&counted) {
                    *count -= 1;
                    if *count == 0 {
                        self.attempt_failures.remove(&counted);
                    }
                }
                *self.attempt_failures.entry(cause.clone()).or_default() += 1;
                if number == record.last_failed_attempt {
                    record.last_failure = Some(cause);
                }
            }
            // Counted with the broker's reason already: a second close of one attempt.
            Some(counted @ (_, true)) => attempt.counted = Some(counted),
            None => attempt.broker = Some(cause),
        }
    }

    /// Feeds one of the broker's observations (those of clients that are not the fleet's
    /// boards are ignored).
    pub fn observe(&mut self, observation: &BrokerObservation) {
        match observation {
            BrokerObservation::Registered { certificate_id } => {
                if let Some(&board) = self.by_certificate.get(certificate_id) {
                    self.registration_events += 1;
                    self.boards[board].registered = true;
                }
            }
            BrokerObservation::Accepted { conn, port } => {
                self.conn_ports.insert(*conn, *port);
            }
            BrokerObservation::Refused {
                conn,
                client_id,
                reason,
            } => {
                let port = self.conn_ports.remove(conn);
                let Some(&board) = self.by_thing.get(client_id) else {
                    return;
                };
                let cause = group(reason);
                match port.map(|port| (port, self.port_attempts.remove(&port))) {
                    Some((_, Some((board, attempt)))) => self.refuse_attempt(board, attempt, cause),
                    Some((port, None)) => {
                        self.early_refusals.insert(port, cause);
                    }
                    None => {
                        let attempt = self.boards[board].attempts;
                        self.refuse_attempt(board, attempt, cause);
                    }
                }
            }
            BrokerObservation::TlsRefused {
                certificate_id,
                reason,
            } => {
                if let Some(&board) = self.by_certificate.get(certificate_id) {
                    let attempt = self.boards[board].attempts;
                    self.refuse_attempt(board, attempt, group(&format!("TLS: {reason}")));
                }
            }
            BrokerObservation::Telemetry { client_id } => {
                if self.by_thing.contains_key(client_id) {
                    self.telemetry_messages += 1;
                }
            }
        }
    }

    /// The running counts.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Has every board sent telemetry?
    pub fn all_reached_telemetry(&self) -> bool {
        self.counts.reached_telemetry == self.boards.len()
    }

    /// Has every board sent telemetry or failed for good (provisioning, a fatal error)?
    pub fn settled(&self) -> bool {
        self.boards
            .iter()
            .all(|b| b.first_telemetry_ms.is_some() || b.provisioning_failure.is_some() || b.fatal)
    }

    /// The counts so far.
    pub fn tally(&self) -> Tally {
        let times: Vec<u64> = self
            .boards
            .iter()
            .filter_map(BoardRecord::time_to_telemetry)
            .collect();
        let connected: Vec<u64> = self
            .boards
            .iter()
            .filter_map(BoardRecord::time_to_connected)
            .collect();
        let mut failures_by_cause = BTreeMap::new();
        for cause in self.boards.iter().filter_map(BoardRecord::failure_cause) {
            *failures_by_cause.entry(cause).or_default() += 1;
        }
        let count = |pred: fn(&BoardRecord) -> bool| self.boards.iter().filter(|b| pred(b)).count();
        Tally {
            boards: self.boards.len(),
            provisioned: count(|b| b.thing.is_some() && b.provisioning_failure.is_none()),
            powered_on: count(|b| b.power_on_ms.is_some()),
            connected: connected.len(),
            reached_telemetry: times.len(),
            failed: self.boards.len() - times.len(),
            time_to_first_telemetry: Distribution::of(&times),
            time_to_connected: Distribution::of(&connected),
            attempts: self.boards.iter().map(|b| u64::from(b.attempts)).sum(),
            max_attempts: self.boards.iter().map(|b| b.attempts).max().unwrap_or(0),
            failures_by_cause,
            attempt_failures_by_cause: self.attempt_failures.clone(),
            registration_events: self.registration_events,
            certificates_registered: count(|b| b.registered),
            telemetry_messages: self.telemetry_messages,
        }
    }
}

/// A cause as it is grouped: hex runs of 16 characters or more (certificate, CA and
/// thing ids) become `…`, so causes that differ only by whose they are count as one.
pub fn group(cause: &str) -> String {
    let mut out = String::with_capacity(cause.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 16 {
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in cause.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests;
