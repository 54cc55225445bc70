//! The `expect_backoff` step: a board's connection attempts, read from the broker's tap,
//! judged for exponential growth and jitter ([`backoff_verdict`], a sequential test: it
//! decides once the step's attempts are in if the evidence is clear, else waits for more,
//! up to [`MAX_DELAYS`] delays). Times are board time.
//!
//! A pass leaves a note on the timeline ([`What::Note`]) with the attempts judged and
//! their delays, the evidence reports show; a pass in doubt ([`backoff_warning`]) leaves a
//! second note, a warning: the step passes, the run passes with warnings.

use super::world::{Mismatch, World, mismatch};
use crate::clock::RigClock;
use crate::scenario::{BackoffSince, ExpectBackoffStep, Scenario, WithoutJitter};
use crate::timeline::{Entry, What};
use std::time::Duration;

/// Is `entry` a TLS handshake the broker finished (accepted or refused)?
fn is_handshake(entry: &Entry) -> bool {
    matches!(&entry.what, What::Broker { event }
        if matches!(event["event"].as_str(), Some("tls_accepted" | "tls_rejected")))
}

/// One connection attempt on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// When it began: its TCP connection was accepted.
    pub start: Duration,
    /// When the connection closed; `None` while it is open. A refused handshake ends
    /// when it is refused.
    pub end: Option<Duration>,
}

/// Delays the verdict looks at, at most, before it decides (unless the step asks for more
/// attempts).
pub const MAX_DELAYS: usize = 10;
/// The later half's mean delay over the earlier half's at which the verdict passes as soon
/// as it has the step's attempts.
pub const PASS_RATIO: f64 = 3.0;
/// The ratio the verdict needs once it has [`MAX_DELAYS`] delays.
pub const FINAL_RATIO: f64 = 2.0;
/// Delays that must keep one ratio from each to the next (within 5%) for the verdict to
/// say they carry no jitter.
pub const NO_JITTER_DELAYS: usize = 5;

/// What a board's connection attempts say about its backoff.
#[derive(Debug, Clone, PartialEq)]
pub enum BackoffVerdict {
    /// The delays grow and carry jitter.
    Pass,
    /// They do not; why, with the delays.
    Fail(String),
    /// They grow by one fixed ratio: exponential backoff without jitter (the delays).
    /// Device Advisor passes this with a warning in its backoff cases other than the
    /// jitter one (MQTT_Connect_Jitter_Backoff_Retries says "If the device under test has
    /// a strictly exponential backoff delay, this test case will pass with warnings");
    /// the step's `without_jitter` says which it is.
    NoJitter(String),
    /// Not clear yet: the next attempt may decide (the delays so far).
    Undecided(String),
}

/// The delays between `attempts` (from the end of one to the start of the next, in
/// seconds), the first `most` of them: what [`backoff_verdict`] judges.
fn judged_delays(attempts: &[Attempt], most: usize) -> Vec<f64> {
    attempts
        .windows(2)
        .take(most)
        .map(|w| {
            w[1].start
                .saturating_sub(w[0].end.unwrap_or(w[0].start))
                .as_secs_f64()
        })
        .collect()
}

/// The later half's mean delay over the earlier half's (the middle delay left out when
/// their number is odd); infinite when the earlier half's is zero.
fn growth(delays: &[f64]) -> f64 {
    let half = delays.len() / 2;
    let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len().max(1) as f64;
    let (early, late) = (mean(&delays[..half]), mean(&delays[delays.len() - half..]));
    if early > 0.0 {
        late / early
    } else {
        f64::INFINITY
    }
}

/// Delays as the verdicts and the timeline show them: `1.20s, 3.05s`.
fn show(delays: &[f64]) -> String {
    delays
        .iter()
        .map(|d| format!("{d:.2}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The timeline note of a passed `expect_backoff`: the step, the board, how many
/// attempts were judged and their delays (the evidence `hil qualify` reports).
pub fn passed_note(board: &str, attempts: &[Attempt], minimum: usize) -> String {
    let delays = judged_delays(attempts, MAX_DELAYS.max(minimum.saturating_sub(1)));
    format!(
        "expect_backoff {board}: passed on {} attempts, delays {}",
        attempts.len(),
        show(&delays)
    )
}

/// Judges connection attempts, in order, as capped exponential backoff with jitter.
///
/// The delays are the times between one attempt's end and the next one's start (the
/// backoff, without the time an attempt took, e.g. a CONNACK timeout, nor the next TLS
/// handshake's real time: see [`attempts_in`]). They must carry jitter: all equal (within
/// 5%) fails at once, and one ratio from each delay to the next (within 5%) fails once
/// [`NO_JITTER_DELAYS`] delays show it. And they must grow: the later half's mean over the
/// earlier half's (the middle delay left out when their number is odd) passes at
/// [`PASS_RATIO`] once there are `minimum - 1` delays (the step's attempts); below it the
/// verdict is undecided and waits for more attempts, up to [`MAX_DELAYS`] delays (or
/// `minimum - 1` if more), where a ratio over [`FINAL_RATIO`] passes and anything else
/// fails. Only the first delays up to that many are judged.
///
/// Full jitter is noisy (a delay drawn from `[0, ceiling]` may be near 0), so the verdict
/// is a test with error rates. For the reference firmware's backoff (the first judged
/// delay uniform in `[0, 2 s]`, each ceiling doubling to a 32 s cap) and `minimum` = 5
/// attempts, by simulation (a million outages): it fails a correct device 0.076% of the
/// time (0.12% when 0.25 s of real time is in every delay, 0.47% with 1 s: what a
/// millisecond of the host's own reaction adds at speeds 250 and 1000), deciding after 4
/// delays 67% of the time, 5 delays 26%, 10 delays 0.4%, in 23.5 s of board time on
/// average (99.9% within 85 s; at most 223 s). A device whose delays carry jitter but do
/// not grow passes 12.6% of the time (uniform in a fixed range) to 34.3% (exponentially
/// distributed), about half of those passes after 4 delays and a fifth after 10 (see
/// [`backoff_warning`]); one without jitter always fails (a fixed
/// delay after 4 delays, an exact doubling after 5). A device growing 1.5 times per
/// attempt with full jitter passes 99.86%. Fewer delays cannot do much better: a test
/// that knows the firmware's exact ceilings still passes a jittered device without growth
/// 12% of the time with 7 delays at a 0.1% false-fail rate.
pub fn backoff_verdict(attempts: &[Attempt], minimum: usize) -> BackoffVerdict {
    let most = MAX_DELAYS.max(minimum.saturating_sub(1));
    let delays = judged_delays(attempts, most);
    let shown = show(&delays);
    let needed = minimum.saturating_sub(1).max(3);
    if delays.len() < needed {
        return BackoffVerdict::Undecided(format!("only {} delays ({shown})", delays.len()));
    }
    let ratios: Vec<f64> = delays
        .windows(2)
        .filter(|w| w[0] > 0.0)
        .map(|w| w[1] / w[0])
        .collect();
    let fixed_ratio = ratios
        .windows(2)
        .all(|r| (r[1] - r[0]).abs() <= 0.05 * r[0].abs().max(1e-9));
    let all_equal = delays
        .iter()
        .all(|d| (d - delays[0]).abs() <= 0.05 * delays[0].abs().max(1e-9));
    if all_equal {
        return BackoffVerdict::Fail(format!("delays do not grow: {shown}"));
    }
    if fixed_ratio {
        // Three ratios this close happen by chance to 0.08% of jittered devices; four,
        // to 0.004%.
        return if delays.len() < NO_JITTER_DELAYS {
            BackoffVerdict::Undecided(format!(
                "the same ratio from one delay to the next so far: {shown}"
            ))
        } else {
            BackoffVerdict::NoJitter(format!("delays grow without jitter: {shown}"))
        };
    }
    let growth = growth(&delays);
    if growth >= PASS_RATIO {
        return BackoffVerdict::Pass;
    }
    let judged = format!("the later half {growth:.1} times the earlier: {shown}");
    if delays.len() < most {
        BackoffVerdict::Undecided(judged)
    } else if growth > FINAL_RATIO {
        BackoffVerdict::Pass
    } else {
        BackoffVerdict::Fail(format!("delays do not grow enough ({judged})"))
    }
}

/// Why a pass of [`backoff_verdict`] on `attempts` is in doubt, if it is: the pass that
/// leaves the step passing with a warning (a [`What::Note`] with `warning`).
///
/// The warning is for the weakest pass the verdict gives: it took all [`MAX_DELAYS`]
/// delays (or `minimum - 1` if more) and the later half's mean was under [`PASS_RATIO`]
/// times the earlier half's, over [`FINAL_RATIO`] only. By simulation (as for the verdict's
/// rates), the reference firmware passes this way 0.17% of the time (1.1% with 1 s of real
/// time in every delay), a device growing 1.5 times per attempt 0.15%, while a jittered
/// device whose delays do not grow does 2.3% (uniform in a fixed range) to 5.4%
/// (exponentially distributed) of the time: such a pass is 14 to 32 times likelier from a
/// device that does not back off than from one that does. The device passed, but its
/// delays deserve a look (or a run with more attempts).
///
/// Device Advisor documents its own warning for its jitter case: a device with a strict
/// exponential backoff (no jitter) passes it with a warning. This verdict fails such a
/// device instead (see [`backoff_verdict`]); what this one warns of, Device Advisor would
/// pass, as a device whose delays only grow late.
pub fn backoff_warning(attempts: &[Attempt], minimum: usize) -> Option<String> {
    let most = MAX_DELAYS.max(minimum.saturating_sub(1));
    let delays = judged_delays(attempts, most);
    let growth = growth(&delays);
    (delays.len() >= most && growth < PASS_RATIO).then(|| {
        format!(
            "weak evidence of growth: after {} delays the later half is only {growth:.1} times \
             the earlier (a clear pass needs {PASS_RATIO:.1}): {}",
            delays.len(),
            show(&delays)
        )
    })
}

/// Connection attempts (TLS handshakes, accepted or refused, as the embedded broker taps
/// them) with the certificate `certificate_id` recorded after `since`, each with when its
/// connection closed. An attempt starts when its TCP connection was accepted: the
/// handshake's real time (the tap's `handshake_ms`, converted to board time with `clock`)
/// is taken off the time the handshake ended, so it does not count as backoff at any
/// speed.
pub fn attempts_in(
    entries: &[Entry],
    certificate_id: &str,
    since: Duration,
    clock: RigClock,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let What::Broker { event } = &entry.what else {
            continue;
        };
        if entry.at <= since || event["certificate_id"].as_str() != Some(certificate_id) {
            continue;
        }
        let handshake = event["handshake_ms"]
            .as_f64()
            .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
            .unwrap_or_default();
        let start = entry.at.saturating_sub(clock.to_board(handshake));
        match event["event"].as_str() {
            Some("tls_rejected") => attempts.push(Attempt {
                start,
                end: Some(entry.at),
            }),
            Some("tls_accepted") => {
                let conn = &event["conn"];
                let end = entries[index + 1..]
                    .iter()
                    .find(|later| {
                        matches!(&later.what, What::Broker { event }
                            if event["event"] == "closed" && &event["conn"] == conn)
                    })
                    .map(|later| later.at);
                attempts.push(Attempt { start, end });
            }
            _ => {}
        }
    }
    attempts
}

impl World {
    /// The board's connection attempts after `since` ([`attempts_in`] on the timeline).
    pub(super) fn attempts_of(&self, certificate_id: &str, since: Duration) -> Vec<Attempt> {
        let entries = self.timeline.entries();
        attempts_in(&entries, certificate_id, since, self.timeline.clock())
    }

    /// When the board's last accepted connection before `before` was accepted (zero if
    /// none): the attempts after it are the retries of the current outage.
    fn last_connected(&self, thing: &str, before: Duration) -> Duration {
        self.timeline
            .entries()
            .iter()
            .rev()
            .find(|entry| {
                entry.at <= before
                    && matches!(&entry.what, What::Broker { event }
                        if event["event"] == "connack"
                            && event["client_id"] == thing
                            && event["code"] == "Success")
            })
            .map_or(Duration::ZERO, |entry| entry.at)
    }

    pub(super) async fn expect_backoff(&self, s: &ExpectBackoffStep) -> Result<(), Mismatch> {
        let provisioned = self.provisioned(&s.board)?;
        let (id, thing) = (provisioned.certificate_id, provisioned.thing);
        // The retries of the outage under way: the board's connection that succeeded last
        // (before this step) is not one of them, nor is anything before it.
        let since = match s.since {
            BackoffSince::Outage => self.last_connected(&thing, self.timeline.now()),
            BackoffSince::Step => self.previous_step_started(),
        };
        let wanted = s.attempts as usize;
        let within = Scenario::checked_duration(&s.within);
        let deadline = self.timeline.instant(self.timeline.now() + within);
        let mut live = self.timeline.subscribe();
        let expected = "connection attempts backing off exponentially with jitter";
        loop {
            let attempts = self.attempts_of(&id, since);
            let verdict = backoff_verdict(&attempts, wanted);
            if attempts.len() >= wanted {
                match &verdict {
                    BackoffVerdict::Pass => {
                        self.timeline.record(What::Note {
                            text: passed_note(s.board.get(), &attempts, wanted),
                            warning: false,
                        });
                        if let Some(doubt) = backoff_warning(&attempts, wanted) {
                            self.timeline.record(What::Note {
                                text: format!("expect_backoff {}: {doubt}", s.board.get()),
                                warning: true,
                            });
                        }
                        return Ok(());
                    }
                    BackoffVerdict::NoJitter(seen) if s.without_jitter == WithoutJitter::Warn => {
                        self.timeline.record(What::Note {
                            text: format!("expect_backoff {}: {seen}", s.board.get()),
                            warning: true,
                        });
                        return Ok(());
                    }
                    BackoffVerdict::Fail(seen) | BackoffVerdict::NoJitter(seen) => {
                        return Err(mismatch(expected, seen));
                    }
                    BackoffVerdict::Undecided(_) => {}
                }
            }
            // Only a new handshake changes the count: wait for one (or for a gap in what
            // was seen) before counting again.
            let handshake = async {
                loop {
                    match live.recv().await {
                        Ok(entry) if is_handshake(&entry) => return true,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return false,
                    }
                }
            };
            match tokio::time::timeout_at(deadline, handshake).await {
                Ok(true) => {}
                _ if attempts.len() >= wanted => {
                    let so_far = match verdict {
                        BackoffVerdict::Undecided(so_far)
                        | BackoffVerdict::Fail(so_far)
                        | BackoffVerdict::NoJitter(so_far) => so_far,
                        BackoffVerdict::Pass => String::new(),
                    };
                    return Err(mismatch(
                        expected,
                        format!(
                            "still undecided after {} attempts within {within:?} ({so_far}); give the step more time",
                            attempts.len()
                        ),
                    ));
                }
                _ => {
                    return Err(mismatch(
                        format!("{wanted} connection attempts by {}", s.board.get()),
                        format!(
                            "{} attempts since its last accepted connection",
                            attempts.len()
                        ),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
