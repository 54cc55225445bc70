//! One clock for everything a run sees: harness actions, console lines, LED edges, broker
//! events, scenario steps and the output of programs the harness runs.
//!
//! [`Timeline`] owns the run's [`RigClock`]. It stamps each [`Entry`] with the board time
//! since the run started (`at`: wall time × the rig's speed, what queries, reports and the
//! SVG use) and the wall time (`wall`: what the host spent), keeps the entries in the
//! order they were recorded, lets the runner query a window around a failure, serialises
//! to JSON, and broadcasts new entries to whoever waits for one. Producers (console
//! readers, LED observers, the broker tap pump) call [`Timeline::record`] from any
//! thread; a producer that knows when something happened on the board's own clock (an
//! emulated board's LED edge) calls [`Timeline::record_at`].
//!
//! Waiting on board time goes through the timeline too: [`Timeline::instant`] is the host
//! instant of a board time, for tokio's deadlines, and [`Timeline::sleep_until`] sleeps
//! until one.

use crate::clock::RigClock;
use serde::{Serialize, Serializer};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// What [`Timeline::instant`] gives for a board time beyond what a host instant can hold.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Serialises a duration as fractional milliseconds.
pub fn as_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// Something the harness did ("flash dut", "provision dut with jitr").
    Action {
        /// Description.
        text: String,
    },
    /// What a judging step concluded, for the reports: the evidence of its verdict
    /// (`expect_backoff dut: passed on 6 attempts, delays ...`), or with `warning` a doubt
    /// about a step that passed. Any step may leave one; a run that passed with a warning
    /// on its timeline passed with warnings (`Report::warnings`).
    Note {
        /// The note, starting with the step's kind and board (`expect_backoff dut: ...`).
        text: String,
        /// A warning: the step passed, but this deserves a look.
        warning: bool,
    },
    /// A scenario step started or ended.
    Step {
        /// Step index.
        index: usize,
        /// Description.
        text: String,
        /// `started`, `passed`, `failed` or `skipped`.
        status: String,
    },
    /// A line on a board's console (received, or sent with `sent`).
    Console {
        /// Board name.
        board: String,
        /// The line, without CR LF.
        line: String,
        /// Sent by the harness (else received from the board).
        sent: bool,
    },
    /// A board's console port went away (a USB device re-enumerating around a reset) and
    /// was opened again; the entry's time is when it came back.
    ConsoleReopened {
        /// Board name.
        board: String,
        /// The path it was opened under (a device node, or a `/dev/serial/by-id/` link).
        path: String,
        /// The device node behind `path` (`path` itself when it is not a link).
        device: String,
        /// How long it was gone.
        #[serde(serialize_with = "as_millis")]
        gone: Duration,
        /// How many times it was tried.
        attempts: u32,
    },
    /// An LED changed.
    Led {
        /// Board name.
        board: String,
        /// LED name.
        led: String,
        /// Lit after the edge.
        on: bool,
    },
    /// A broker event (from the tap or an observer client), as JSON.
    Broker {
        /// The event.
        event: serde_json::Value,
    },
    /// A line printed by a program the harness ran (a board's provisioning hook).
    Program {
        /// Which program (`dut provisioning hook`).
        program: String,
        /// `stdout` or `stderr`.
        stream: String,
        /// The line, without its end.
        line: String,
    },
    /// An event of a scenario's MQTT client (connected, subscribed, received, closed).
    Client {
        /// Client name in the scenario.
        client: String,
        /// The event, as JSON with an `event` field.
        event: serde_json::Value,
    },
}

/// One stamped event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Position in the timeline, from 0.
    pub seq: u64,
    /// Board time since the run started: the wall time it was recorded at × the rig's
    /// speed, or, for an LED edge an emulated board stamped, the board's own time of the
    /// edge (at most the time it was recorded; so it may precede the entry before it by
    /// the edge's delivery time).
    #[serde(serialize_with = "as_millis")]
    pub at: Duration,
    /// Wall time since the run started, when it was recorded.
    #[serde(serialize_with = "as_millis")]
    pub wall: Duration,
    /// What happened.
    #[serde(flatten)]
    pub what: What,
}

/// The run's timeline; share it as `Arc<Timeline>`. Its host clock is tokio's, so tests
/// with paused time see consistent times.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    clock: RigClock,
    entries: Mutex<Vec<Entry>>,
    live: broadcast::Sender<Entry>,
}

impl Timeline {
    /// A timeline in real time (speed 1) whose clock starts now.
    pub fn new() -> Arc<Self> {
        Self::with_clock(RigClock::REAL_TIME)
    }

    /// A timeline on `clock` (the rig's speed) whose clock starts now.
    pub fn with_clock(clock: RigClock) -> Arc<Self> {
        let (live, _) = broadcast::channel(16_384);
        Arc::new(Timeline {
            start: Instant::now(),
            clock,
            entries: Mutex::new(Vec::new()),
            live,
        })
    }

    /// The rig's clock this timeline runs on.
    pub fn clock(&self) -> RigClock {
        self.clock
    }

    /// Board time since the run started.
    pub fn now(&self) -> Duration {
        self.clock.to_board(self.start.elapsed())
    }

    /// Wall time since the run started.
    pub fn wall_now(&self) -> Duration {
        self.start.elapsed()
    }

    /// The board time of a host instant.
    pub fn at(&self, instant: Instant) -> Duration {
        self.clock
            .to_board(instant.saturating_duration_since(self.start))
    }

    /// The host instant at board time `at` (for tokio's deadlines); far in the future for
    /// a time too far to say.
    pub fn instant(&self, at: Duration) -> Instant {
        self.start
            .checked_add(self.clock.to_wall(at))
            .unwrap_or_else(|| self.start + FAR_FUTURE)
    }

    /// Sleeps until board time `at`.
    pub async fn sleep_until(&self, at: Duration) {
        tokio::time::sleep_until(self.instant(at)).await;
    }

    /// Records `what` now; returns its board time.
    pub fn record(&self, what: What) -> Duration {
        self.push(None, what)
    }

    /// Records `what` that happened at board time `at` by the board's own clock (clamped
    /// to now: it cannot be later); returns the time it got.
    pub fn record_at(&self, at: Duration, what: What) -> Duration {
        self.push(Some(at), what)
    }

    fn push(&self, at: Option<Duration>, what: What) -> Duration {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Stamped under the lock, so record times never go backwards in the list.
        let wall = self.wall_now();
        let now = self.clock.to_board(wall);
        let at = at.map_or(now, |at| at.min(now));
        let entry = Entry {
            seq: entries.len() as u64,
            at,
            wall,
            what,
        };
        let _ = self.live.send(entry.clone());
        entries.push(entry);
        at
    }

    /// New entries from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Entry> {
        self.live.subscribe()
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The first entry that satisfies `pred`: one already recorded, or one recorded within
    /// `timeout` (board time). `None` when none came.
    pub async fn first(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Entry) -> bool,
    ) -> Option<Entry> {
        // Subscribed before reading the history, so nothing falls in between; an entry in
        // both is skipped by its sequence number.
        let mut live = self.subscribe();
        let history = self.entries();
        if let Some(found) = history.iter().find(|entry| pred(entry)) {
            return Some(found.clone());
        }
        let last = history.last().map(|entry| entry.seq);
        let waiting = async {
            loop {
                match live.recv().await {
                    Ok(entry) if last.is_none_or(|l| entry.seq > l) && pred(&entry) => {
                        return Some(entry);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        self.clock.timeout(timeout, waiting).await.ok().flatten()
    }

    /// The entries in `[at - before, at + after]`.
    pub fn around(&self, at: Duration, before: Duration, after: Duration) -> Vec<Entry> {
        let from = at.saturating_sub(before);
        let to = at + after;
        self.entries()
            .into_iter()
            .filter(|e| e.at >= from && e.at <= to)
            .collect()
    }

    /// The whole timeline as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.entries()).unwrap_or_else(|_| "[]".into())
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.at.as_secs_f64();
        match &self.what {
            What::Action { text } => write!(f, "{t:>9.3}s  harness  {text}"),
            What::Note { text, warning } => {
                let label = if *warning { "WARNING" } else { "note   " };
                write!(f, "{t:>9.3}s  {label}  {text}")
            }
            What::Step {
                index,
                text,
                status,
            } => write!(f, "{t:>9.3}s  step {index}  {status}: {text}"),
            What::Console { board, line, sent } => {
                let arrow = if *sent { ">>" } else { "<<" };
                write!(f, "{t:>9.3}s  {board} {arrow} {line}")
            }
            What::ConsoleReopened {
                board,
                path,
                device,
                gone,
                attempts,
            } => {
                let device = if device == path {
                    String::new()
                } else {
                    format!(" ({device})")
                };
                write!(
                    f,
                    "{t:>9.3}s  {board} console back on {path}{device} after {:.3}s gone ({attempts} attempts)",
                    gone.as_secs_f64()
                )
            }
            What::Led { board, led, on } => {
                write!(
                    f,
                    "{t:>9.3}s  {board} led {led} {}",
                    if *on { "ON" } else { "off" }
                )
            }
            What::Broker { event } => {
                let (kind, detail) = event_summary(event);
                write!(f, "{t:>9.3}s  broker   {kind} {detail}")
            }
            What::Client { client, event } => {
                let (kind, detail) = event_summary(event);
                write!(f, "{t:>9.3}s  {client} (client) {kind} {detail}")
            }
            What::Program {
                program,
                stream,
                line,
            } => write!(f, "{t:>9.3}s  {program} [{stream}] {line}"),
        }
    }
}

/// An event's kind and its most telling fields, for one line of a report.
fn event_summary(event: &serde_json::Value) -> (&str, String) {
    let kind = event
        .get("event")
        .and_then(|v| v.as_str())
        .unwrap_or("event");
    let detail = ["client_id", "topic", "reason", "code"]
        .iter()
        .filter_map(|k| {
            event
                .get(*k)
                .and_then(|v| v.as_str())
                .map(|v| format!("{k}={v}"))
        })
        .collect::<Vec<_>>()
        .join(" ");
    (kind, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(text: &str) -> What {
        What::Action { text: text.into() }
    }

    fn is_action(entry: &Entry, wanted: &str) -> bool {
        matches!(&entry.what, What::Action { text } if text == wanted)
    }

    #[tokio::test]
    async fn first_finds_recorded_and_coming_entries_and_gives_up() {
        let timeline = Timeline::new();
        timeline.record(action("early"));
        let found = timeline
            .first(Duration::ZERO, |e| is_action(e, "early"))
            .await
            .expect("an entry recorded before the call");
        assert_eq!(found.seq, 0);

        let later = {
            let timeline = timeline.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                timeline.record(action("late"));
            })
        };
        let found = timeline
            .first(Duration::from_secs(10), |e| is_action(e, "late"))
            .await
            .expect("an entry recorded during the call");
        assert_eq!(found.seq, 1);
        later.await.unwrap();

        assert!(
            timeline
                .first(Duration::from_millis(20), |e| is_action(e, "never"))
                .await
                .is_none()
        );
    }

    #[test]
    fn entries_are_ordered_and_queryable_around_a_time() {
        let timeline = Timeline::new();
        let first = timeline.record(What::Action { text: "one".into() });
        let second = timeline.record(What::Led {
            board: "dut".into(),
            led: "blue".into(),
            on: true,
        });
        assert!(second >= first);
        assert_eq!(timeline.entries().len(), 2);
        assert_eq!(
            timeline
                .around(second, Duration::ZERO, Duration::ZERO)
                .len(),
            1 + usize::from(first == second)
        );
        let json: serde_json::Value = serde_json::from_str(&timeline.to_json()).unwrap();
        assert_eq!(json[1]["kind"], "led");
        assert_eq!(json[1]["led"], "blue");
    }

    #[tokio::test(start_paused = true)]
    async fn entries_carry_board_time_and_wall_time() {
        let clock = RigClock::new(20.0).unwrap();
        let timeline = Timeline::with_clock(clock);
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(timeline.now(), Duration::from_secs(4));
        assert_eq!(timeline.wall_now(), Duration::from_millis(200));
        let at = timeline.record(action("four seconds in"));
        assert_eq!(at, Duration::from_secs(4));
        let entry = &timeline.entries()[0];
        assert_eq!((entry.at, entry.wall), (at, Duration::from_millis(200)));
        let json: serde_json::Value = serde_json::from_str(&timeline.to_json()).unwrap();
        assert_eq!(
            (json[0]["at"].as_f64(), json[0]["wall"].as_f64()),
            (Some(4000.0), Some(200.0))
        );
        assert!(entry.to_string().starts_with("    4.000s"), "{entry}");

        // A board's own stamp is kept, but never later than now.
        let earlier = timeline.record_at(Duration::from_millis(3990), action("edge"));
        assert_eq!(earlier, Duration::from_millis(3990));
        let later = timeline.record_at(Duration::from_secs(9), action("early edge"));
        assert_eq!(later, Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_on_the_timeline_last_board_time_divided_by_the_speed() {
        let timeline = Timeline::with_clock(RigClock::new(20.0).unwrap());
        let start = tokio::time::Instant::now();
        assert_eq!(
            timeline.instant(Duration::from_secs(4)),
            start + Duration::from_millis(200)
        );
        timeline.sleep_until(Duration::from_secs(4)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        assert_eq!(timeline.now(), Duration::from_secs(4));
        assert_eq!(
            timeline.at(start + Duration::from_millis(50)),
            Duration::from_secs(1)
        );

        let none = timeline.first(Duration::from_secs(10), |_| false).await;
        assert!(none.is_none());
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(700),
            "10 s of board time"
        );
        let real_time = Timeline::new();
        assert_eq!(
            real_time.instant(Duration::MAX),
            tokio::time::Instant::now() + FAR_FUTURE,
            "a time beyond any instant"
        );
    }

    #[test]
    fn a_note_is_a_warning_or_evidence_in_json_and_in_reports() {
        let timeline = Timeline::new();
        timeline.record(What::Note {
            text: "expect_backoff dut: passed".into(),
            warning: false,
        });
        timeline.record(What::Note {
            text: "expect_backoff dut: weak".into(),
            warning: true,
        });
        let json: serde_json::Value = serde_json::from_str(&timeline.to_json()).unwrap();
        assert_eq!(
            (&json[1]["kind"], &json[1]["warning"], &json[1]["text"]),
            (
                &serde_json::json!("note"),
                &serde_json::json!(true),
                &serde_json::json!("expect_backoff dut: weak")
            )
        );
        let entries = timeline.entries();
        assert!(
            entries[0]
                .to_string()
                .ends_with("s  note     expect_backoff dut: passed"),
            "{}",
            entries[0]
        );
        assert!(
            entries[1]
                .to_string()
                .ends_with("s  WARNING  expect_backoff dut: weak"),
            "{}",
            entries[1]
        );
    }

    #[tokio::test]
    async fn subscribers_see_new_entries() {
        let timeline = Timeline::new();
        let mut live = timeline.subscribe();
        timeline.record(What::Action { text: "go".into() });
        let entry = live.recv().await.unwrap();
        assert_eq!(entry.what, What::Action { text: "go".into() });
        assert!(entry.to_string().contains("harness  go"));
    }
}
