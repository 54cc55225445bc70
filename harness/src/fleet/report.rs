//! What a fleet run found ([`FleetReport`]): the accounting's [`Tally`], the activations,
//! the reconnect storm's [`StormReport`], the wall times of its stages, and the CPU and
//! memory of the broker's process and the fleet's; as JSON (`fleet.json`) and as the summary `hil fleet` prints
//! ([`FleetReport::summary`]). Building it is [`Fleet::run`](super::Fleet::run)'s.

use super::account::{BoardRecord, Tally};
use super::stats::Distribution;
use super::storm::{StormReport, StormVerdict};
use serde::Serialize;
use std::fmt::Write;

/// A fleet run's figures. Board times (the distributions) are on the fleet's clock, at
/// `speed`; wall times are the host's.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// `jitr`, `jitp` or `preregistered`.
    pub mode: String,
    /// The clock's speed (1: real time).
    pub speed: f64,
    /// Flaws every board ran with (none for the reference firmware).
    pub flaws: Vec<String>,
    /// The slice of a larger fleet this run was, if it was one.
    pub partition: Option<super::options::Partition>,
    /// The broker's side was seen (the embedded broker's tap and registry); with an
    /// external endpoint the refusals' reasons, registrations, activations, telemetry
    /// counts and the broker's CPU are not known, and the harness process is no broker.
    pub broker_observed: bool,
    /// The counts.
    #[serde(flatten)]
    pub tally: Tally,
    /// The fleet's certificates JITR registered that were ACTIVE at the end (activated by
    /// the zero-touch rule, or by the harness when the rig has none); `None` when the
    /// broker's registry is not seen.
    pub activations: Option<usize>,
    /// The reconnect storm, when there was one.
    pub storm: Option<StormReport>,
    /// How many boards were connected over time (board time), thinned to at most
    /// [`super::curve::MAX_POINTS`] changes.
    pub connections: Vec<super::curve::CurvePoint>,
    /// Wall times of the run's stages.
    pub wall: WallTimes,
    /// The harness's process, where the embedded broker runs (the harness's own share,
    /// reading events and counting, is small beside the broker's).
    pub broker_process: ProcessFigures,
    /// The `fleet-board` process.
    pub fleet_process: FleetProcessFigures,
    /// Broker events the harness lost by reading the tap too slowly (0 when every
    /// refusal and registration was seen).
    pub tap_events_lost: u64,
    /// Every board's record, by index.
    pub per_board: Vec<BoardRecord>,
}

/// Wall times, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WallTimes {
    /// Starting the broker and the fleet process, and every board's key and CSR.
    pub start_ms: f64,
    /// Signing the CSRs and provisioning every board.
    pub provisioning_ms: f64,
    /// From the power-on command to the end of the run.
    pub run_ms: f64,
    /// From the power-on command until the last board's first telemetry arrived, when
    /// every board sent some.
    pub all_first_telemetry_ms: Option<f64>,
}

/// A process's CPU time and memory over the run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcessFigures {
    /// CPU time (user and system) spent during the run, ms.
    pub cpu_ms: u64,
    /// That CPU time over the run's wall time: cores kept busy on average.
    pub cpu_cores: f64,
    /// Resident memory at the end, bytes.
    pub rss_bytes: u64,
    /// Peak resident memory of the process's life, bytes.
    pub peak_rss_bytes: u64,
}

/// The fleet process's figures, and per board.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FleetProcessFigures {
    /// The process.
    #[serde(flatten)]
    pub process: ProcessFigures,
    /// Resident memory once every board had its key and CSR, before any connected, bytes.
    pub rss_at_ready_bytes: u64,
    /// Peak resident memory over the number of boards, bytes.
    pub peak_rss_per_board_bytes: u64,
}

impl FleetReport {
    /// The summary `hil fleet` prints: counts, the distribution and its histogram,
    /// failures by cause, JITR, CPU and memory.
    pub fn summary(&self) -> String {
        let t = &self.tally;
        let mut out = String::new();
        let flaws = if self.flaws.is_empty() {
            String::new()
        } else {
            format!(", flaws {}", self.flaws.join(", "))
        };
        let slice = self.partition.map_or_else(String::new, |p| {
            format!(
                " (slice {}/{} of {}: boards {}..{})",
                p.index,
                p.count,
                p.fleet_boards,
                p.first_board,
                p.first_board + t.boards
            )
        });
        let _ = writeln!(
            out,
            "fleet: {} boards{slice}, {}, speed {}{flaws}",
            t.boards, self.mode, self.speed
        );
        let _ = writeln!(
            out,
            "  provisioned        {}/{} in {} (wall)",
            t.provisioned,
            t.boards,
            seconds(self.wall.provisioning_ms)
        );
        let all = self
            .wall
            .all_first_telemetry_ms
            .map_or_else(String::new, |ms| {
                format!("; all in {} (wall) after power-on", seconds(ms))
            });
        let _ = writeln!(
            out,
            "  first telemetry    {}/{} ({} failed){all}",
            t.reached_telemetry, t.boards, t.failed
        );
        distribution(
            &mut out,
            "power-on → first telemetry",
            &t.time_to_first_telemetry,
        );
        distribution(&mut out, "power-on → connected", &t.time_to_connected);
        if let Some(d) = &t.time_to_first_telemetry {
            histogram(&mut out, d);
        }
        let _ = writeln!(
            out,
            "  attempts           {} (at most {} by one board)",
            t.attempts, t.max_attempts
        );
        causes(
            &mut out,
            "failed attempts by cause",
            t.attempt_failures_by_cause.iter(),
        );
        causes(
            &mut out,
            "boards without telemetry by cause",
            t.failures_by_cause.iter(),
        );
        if self.broker_observed {
            let _ = writeln!(
                out,
                "  JITR               {} registration events, {} certificates registered, {} activated",
                t.registration_events,
                t.certificates_registered,
                self.activations.unwrap_or(0)
            );
            let _ = writeln!(
                out,
                "  telemetry          {} messages accepted by the broker",
                t.telemetry_messages
            );
        } else {
            let _ = writeln!(
                out,
                "  broker             external: registrations, refusals' reasons and the \
                 broker's figures are not seen from here"
            );
        }
        if let Some(storm) = &self.storm {
            storm_summary(&mut out, storm);
        }
        let b = &self.broker_process;
        let who = if self.broker_observed {
            "broker (hil)      "
        } else {
            "hil (no broker)   "
        };
        let _ = writeln!(
            out,
            "  {who} CPU {} ({:.2} cores), RSS {} (peak {})",
            seconds(b.cpu_ms as f64),
            b.cpu_cores,
            megabytes(b.rss_bytes),
            megabytes(b.peak_rss_bytes)
        );
        let f = &self.fleet_process;
        let _ = writeln!(
            out,
            "  fleet process      CPU {} ({:.2} cores), RSS {} (peak {}, {} at start) = {} KiB per board at peak",
            seconds(f.process.cpu_ms as f64),
            f.process.cpu_cores,
            megabytes(f.process.rss_bytes),
            megabytes(f.process.peak_rss_bytes),
            megabytes(f.rss_at_ready_bytes),
            f.peak_rss_per_board_bytes / 1024
        );
        if self.tap_events_lost > 0 {
            let _ = writeln!(
                out,
                "  warning: {} broker events were lost (the counts above may be short)",
                self.tap_events_lost
            );
        }
        out
    }
}

impl FleetReport {
    /// Did every board send telemetry, and, with a storm, did every dropped board stream
    /// again and not come back as a herd?
    pub fn passed(&self) -> bool {
        self.why_failed().is_none()
    }

    /// The report as `fleet.json` has it: the counts only the broker's side knows
    /// (`registration_events`, `certificates_registered`, `telemetry_messages`) are `null`
    /// when it was not seen (an external endpoint), not zeros.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::to_value(self).unwrap_or_default();
        if !self.broker_observed
            && let Some(object) = json.as_object_mut()
        {
            for unseen in [
                "registration_events",
                "certificates_registered",
                "telemetry_messages",
            ] {
                object.insert(unseen.into(), serde_json::Value::Null);
            }
        }
        json
    }

    /// Why the run failed, in words; `None` when it passed.
    pub fn why_failed(&self) -> Option<String> {
        let t = &self.tally;
        if t.failed > 0 {
            return Some(format!(
                "{} of {} boards sent no telemetry",
                t.failed, t.boards
            ));
        }
        let storm = self.storm.as_ref()?;
        if storm.all_streaming_ms.is_none() {
            return Some(format!(
                "after the storm {} of {} dropped boards stream again",
                storm.streaming, storm.dropped
            ));
        }
        (storm.verdict == StormVerdict::Herd)
            .then(|| "the storm's first retries came back as a herd (no jitter)".to_owned())
    }
}

fn storm_summary(out: &mut String, storm: &StormReport) {
    let _ = writeln!(
        out,
        "  reconnect storm    {} boards dropped at once, {} back, {} streaming again",
        storm.dropped, storm.reconnected, storm.streaming
    );
    distribution(out, "  drop → first retry", &storm.first_retry_delay);
    distribution(out, "  drop → connected", &storm.time_to_reconnect);
    distribution(out, "  drop → streaming", &storm.time_to_streaming);
    let all = match storm.all_streaming_ms {
        Some(ms) => format!(
            "every board streaming again {} after the drop",
            seconds(ms as f64)
        ),
        None => "not every board streams again".to_owned(),
    };
    let _ = writeln!(
        out,
        "    first retries over {}, at most {} within 100 ms; the broker's peak: {} connection \
         attempts and {} CONNACKs in a second; {all}",
        seconds(storm.retry_window_ms as f64),
        storm.peak_retries_in_100ms,
        storm.peak_attempts_per_s,
        storm.peak_connacks_per_s
    );
    let verdict = match storm.verdict {
        StormVerdict::Spread => "spread",
        StormVerdict::Herd => "HERD",
        StormVerdict::Inconclusive => "inconclusive",
    };
    let _ = writeln!(out, "    verdict: {verdict}: {}", storm.reason);
}

fn seconds(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn distribution(out: &mut String, what: &str, d: &Option<Distribution>) {
    let Some(d) = d else {
        let _ = writeln!(out, "  {what}: no board got there");
        return;
    };
    let ms = |v: u64| seconds(v as f64);
    let _ = writeln!(
        out,
        "  {what} (board time): p50 {}  p90 {}  p99 {}  max {}  (min {}, mean {})",
        ms(d.p50_ms),
        ms(d.p90_ms),
        ms(d.p99_ms),
        ms(d.max_ms),
        ms(d.min_ms),
        seconds(d.mean_ms)
    );
}

fn histogram(out: &mut String, d: &Distribution) {
    let widest = d
        .histogram
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1);
    for bucket in &d.histogram {
        let bar = "█".repeat((bucket.count * 40).div_ceil(widest));
        let _ = writeln!(
            out,
            "    {:>8} – {:<8} {:>6}  {bar}",
            seconds(bucket.from_ms as f64),
            seconds(bucket.to_ms as f64),
            bucket.count
        );
    }
}

fn causes<'a, N: std::fmt::Display + 'a>(
    out: &mut String,
    what: &str,
    causes: impl Iterator<Item = (&'a String, &'a N)>,
) {
    let causes: Vec<_> = causes.collect();
    if causes.is_empty() {
        let _ = writeln!(out, "  {what}: none");
        return;
    }
    let _ = writeln!(out, "  {what}:");
    for (cause, count) in causes {
        let _ = writeln!(out, "    {count:>6}  {cause}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::account::Accounting;

    #[test]
    fn the_summary_says_what_failed_and_how_many_boards_made_it() {
        let mut accounting = Accounting::new(2);
        accounting.identify(0, "aa", "bb");
        accounting.provisioning_failed(1, "cert: ERROR: too long");
        let report = FleetReport {
            mode: "jitr".into(),
            speed: 1.0,
            flaws: vec!["no-jitter".into()],
            tally: accounting.tally(),
            partition: None,
            broker_observed: true,
            activations: Some(0),
            storm: None,
            connections: Vec::new(),
            wall: WallTimes::default(),
            broker_process: ProcessFigures::default(),
            fleet_process: FleetProcessFigures::default(),
            tap_events_lost: 3,
            per_board: accounting.boards().to_vec(),
        };
        let text = report.summary();
        assert!(text.contains("first telemetry    0/2 (2 failed)"), "{text}");
        assert!(text.contains("speed 1, flaws no-jitter"), "{text}");
        assert!(!report.passed());
        assert!(
            text.contains("1  provisioning: cert: ERROR: too long"),
            "{text}"
        );
        assert!(text.contains("1  not powered on"), "{text}");
        assert!(text.contains("no board got there"), "{text}");
        assert!(text.contains("3 broker events were lost"), "{text}");
        let json = report.to_json();
        assert_eq!(json["boards"], 2);
        assert_eq!(json["failures_by_cause"]["not powered on"], 1);
        assert_eq!(json["per_board"][0]["thing"], "aa");
        assert_eq!(json["telemetry_messages"], 0);
        // From an external endpoint, what only the broker knows is unknown, not zero.
        let external = FleetReport {
            broker_observed: false,
            activations: None,
            ..report
        };
        let json = external.to_json();
        assert!(json["telemetry_messages"].is_null(), "{json}");
        assert!(json["certificates_registered"].is_null(), "{json}");
        assert!(json["activations"].is_null(), "{json}");
        assert_eq!(json["boards"], 2);
    }
}
