//! One clock for everything a run sees: harness actions, console lines, LED edges, broker
//! events, scenario steps and the output of programs the harness runs.
//!
//! [`Timeline`] stamps each [`Entry`] with the time since the run started, keeps them in
//! order, lets the runner query a window around a failure, serialises to JSON, and
//! broadcasts new entries to whoever waits for one. Producers (console readers, LED
//! observers, the broker tap pump) call [`Timeline::record`] from any thread.

use serde::{Serialize, Serializer};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

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
    /// Time since the run started.
    #[serde(serialize_with = "as_millis")]
    pub at: Duration,
    /// What happened.
    #[serde(flatten)]
    pub what: What,
}

/// The run's timeline; share it as `Arc<Timeline>`. Its clock is tokio's, so tests with
/// paused time see consistent times.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    entries: Mutex<Vec<Entry>>,
    live: broadcast::Sender<Entry>,
}

impl Timeline {
    /// A timeline whose clock starts now.
    pub fn new() -> Arc<Self> {
        let (live, _) = broadcast::channel(16_384);
        Arc::new(Timeline {
            start: Instant::now(),
            entries: Mutex::new(Vec::new()),
            live,
        })
    }

    /// Time since the run started.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// The timeline time of a host instant.
    pub fn at(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.start)
    }

    /// Records `what` now; returns its time.
    pub fn record(&self, what: What) -> Duration {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Stamped under the lock, so times never go backwards in the list.
        let at = self.now();
        let entry = Entry {
            seq: entries.len() as u64,
            at,
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
    /// `timeout`. `None` when none came.
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
        tokio::time::timeout(timeout, waiting).await.ok().flatten()
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
