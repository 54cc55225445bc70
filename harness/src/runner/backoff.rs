//! The `expect_backoff` step: a board's connection attempts, read from the broker's tap,
//! judged for exponential growth and jitter ([`backoff_verdict`], a sequential test: it
//! decides once the step's attempts are in if the evidence is clear, else waits for more,
//! up to [`MAX_DELAYS`] delays). Times are board time.

use super::world::{Mismatch, World, mismatch};
use crate::clock::RigClock;
use crate::scenario::{ExpectBackoffStep, Scenario};
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
/// distributed), almost always after 10 delays; one without jitter always fails (a fixed
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
            BackoffVerdict::Fail(format!("delays grow without jitter: {shown}"))
        };
    }
    let half = delays.len() / 2;
    let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len() as f64;
    let (early, late) = (mean(&delays[..half]), mean(&delays[delays.len() - half..]));
    let growth = if early > 0.0 {
        late / early
    } else {
        f64::INFINITY
    };
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
        let since = self.last_connected(&thing, self.timeline.now());
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
                        self.timeline.record(What::Action {
                            text: passed_note(s.board.get(), &attempts, wanted),
                        });
                        return Ok(());
                    }
                    BackoffVerdict::Fail(seen) => return Err(mismatch(expected, seen)),
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
                        BackoffVerdict::Undecided(so_far) | BackoffVerdict::Fail(so_far) => so_far,
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
mod tests {
    use super::*;

    /// Instant attempts (refused handshakes) `list` seconds apart.
    fn secs(list: &[f64]) -> Vec<Attempt> {
        let mut t = 0.0;
        let instant = |t: f64| Attempt {
            start: Duration::from_secs_f64(t),
            end: Some(Duration::from_secs_f64(t)),
        };
        let mut out = vec![instant(0.0)];
        for d in list {
            t += d;
            out.push(instant(t));
        }
        out
    }

    fn fails_with(verdict: BackoffVerdict, words: &str) {
        match verdict {
            BackoffVerdict::Fail(why) => assert!(why.contains(words), "{why}"),
            other => panic!("expected a failure ({words}), got {other:?}"),
        }
    }

    #[test]
    fn the_time_an_attempt_takes_is_not_backoff() {
        // Each attempt waits 10 s for a CONNACK that never comes. Start to start, the
        // attempts are an exact doubling (10.5, 21, 42, 84, 168 s: "without jitter"); the
        // backoff between them (0.5, 11, 32, 74, 158 s) grows with jitter.
        let attempt = |start: f64, end: Option<f64>| Attempt {
            start: Duration::from_secs_f64(start),
            end: end.map(Duration::from_secs_f64),
        };
        let attempts = [
            attempt(0.0, Some(10.0)),
            attempt(10.5, Some(20.5)),
            attempt(31.5, Some(41.5)),
            attempt(73.5, Some(83.5)),
            attempt(157.5, Some(167.5)),
            attempt(325.5, None),
        ];
        assert_eq!(backoff_verdict(&attempts, 5), BackoffVerdict::Pass);
        assert!(
            passed_note("dut", &attempts, 5).starts_with("expect_backoff dut: passed on "),
            "{}",
            passed_note("dut", &attempts, 5)
        );
        let start_to_start: Vec<Attempt> = attempts
            .iter()
            .map(|a| attempt(a.start.as_secs_f64(), Some(a.start.as_secs_f64())))
            .collect();
        fails_with(backoff_verdict(&start_to_start, 5), "without jitter");
    }

    #[test]
    fn growth_with_jitter_passes_as_soon_as_it_is_clear() {
        // Later half 4.7 s on average, earlier half 1.05 s: 4.5 times.
        let full_jitter = secs(&[0.4, 1.7, 1.3, 3.3, 6.1]);
        assert_eq!(backoff_verdict(&full_jitter, 5), BackoffVerdict::Pass);
        // A growth of 1.3 times after 4 delays is not clear yet...
        let unclear = [1.0, 1.5, 1.2, 2.0];
        assert_eq!(
            backoff_verdict(&secs(&unclear), 5),
            BackoffVerdict::Undecided(
                "the later half 1.3 times the earlier: 1.00s, 1.50s, 1.20s, 2.00s".into()
            )
        );
        // ...until the delays that follow grow.
        let grown = [1.0, 1.5, 1.2, 2.0, 9.0, 14.0];
        assert_eq!(backoff_verdict(&secs(&grown), 5), BackoffVerdict::Pass);
    }

    #[test]
    fn a_device_without_jitter_fails() {
        // One ratio over four delays can be chance; over five it is not.
        assert!(matches!(
            backoff_verdict(&secs(&[1.0, 2.0, 4.0, 8.0]), 5),
            BackoffVerdict::Undecided(_)
        ));
        fails_with(
            backoff_verdict(&secs(&[1.0, 2.0, 4.0, 8.0, 16.0]), 5),
            "without jitter",
        );
        // Jittered delays that once failed the seed suite as "without jitter".
        assert!(matches!(
            backoff_verdict(&secs(&[1.43, 3.20, 7.05, 14.98]), 5),
            BackoffVerdict::Undecided(_)
        ));
        assert_eq!(
            backoff_verdict(&secs(&[1.43, 3.20, 7.05, 14.98, 4.1]), 5),
            BackoffVerdict::Pass
        );
        // Equal delays fail at once.
        fails_with(
            backoff_verdict(&secs(&[2.0, 2.05, 1.95, 2.0]), 5),
            "do not grow",
        );
        fails_with(backoff_verdict(&secs(&[5.0; 4]), 5), "do not grow");
    }

    #[test]
    fn a_device_without_growth_fails_after_the_most_delays() {
        let flat = [1.0, 1.5, 1.2, 2.0, 0.7, 1.9, 1.1, 0.4, 1.6, 1.3];
        for n in 4..MAX_DELAYS {
            assert!(
                matches!(
                    backoff_verdict(&secs(&flat[..n]), 5),
                    BackoffVerdict::Undecided(_)
                ),
                "{n} delays"
            );
        }
        fails_with(backoff_verdict(&secs(&flat), 5), "do not grow enough");
        // Delays after the tenth are not judged: the verdict was reached without them.
        let late_growth = [&flat[..], &[30.0, 60.0]].concat();
        fails_with(backoff_verdict(&secs(&late_growth), 5), "1.0 times");
        // A step asking for more attempts than that judges them all.
        assert_eq!(
            backoff_verdict(&secs(&late_growth), 13),
            BackoffVerdict::Pass
        );
        // Twice as long at the end is not enough.
        let doubled = [1.0, 1.5, 1.2, 2.0, 0.7, 1.9, 1.1, 2.4, 3.6, 2.9];
        fails_with(backoff_verdict(&secs(&doubled), 5), "1.9 times");
    }

    #[test]
    fn too_few_delays_are_undecided() {
        assert_eq!(
            backoff_verdict(&secs(&[1.0, 2.0]), 5),
            BackoffVerdict::Undecided("only 2 delays (1.00s, 2.00s)".into())
        );
        assert!(matches!(
            backoff_verdict(&secs(&[1.0, 2.0, 9.0]), 5),
            BackoffVerdict::Undecided(_)
        ));
    }

    /// A small seeded generator (xorshift64*), uniform in [0, 1).
    struct Seeded(u64);

    impl Seeded {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Runs `outages` outages whose `k`-th delay comes from `delay(k, uniform)`, each judged
    /// as the step judges it (one more attempt while undecided); how many passed.
    fn passes(outages: usize, seed: u64, delay: impl Fn(usize, f64) -> f64) -> usize {
        let mut random = Seeded(seed);
        (0..outages)
            .filter(|_| {
                let mut delays = Vec::new();
                loop {
                    delays.push(delay(delays.len(), random.next()));
                    match backoff_verdict(&secs(&delays), 5) {
                        BackoffVerdict::Pass => return true,
                        BackoffVerdict::Fail(_) => return false,
                        BackoffVerdict::Undecided(_) => {}
                    }
                }
            })
            .count()
    }

    #[test]
    fn the_documented_error_rates_hold() {
        // The reference firmware: full jitter under a ceiling from 2 s doubling to 32 s.
        let firmware = |k: usize, u: f64| u * 32f64.min(2f64.powi(k as i32 + 1));
        let failed = 20_000 - passes(20_000, 7, firmware);
        assert!(failed <= 30, "{failed} of 20000 correct devices failed");
        // Jitter without growth: uniform in [0, 8 s], and exponential with a 4 s mean.
        let uniform = passes(20_000, 11, |_, u| 8.0 * u);
        assert!((2000..3000).contains(&uniform), "{uniform} of 20000 passed");
        let exponential = passes(20_000, 13, |_, u| -4.0 * (1.0 - u).ln());
        assert!(
            (6300..7500).contains(&exponential),
            "{exponential} of 20000 passed"
        );
    }

    #[test]
    fn an_attempt_starts_when_its_handshake_began_at_any_speed() {
        use serde_json::json;
        // Recorded at speed 100: a handshake of 5 ms is 0.5 s of board time.
        let entry = |at_ms: u64, event: serde_json::Value| Entry {
            seq: 0,
            at: Duration::from_millis(at_ms),
            wall: Duration::from_millis(at_ms / 100),
            what: What::Broker { event },
        };
        let entries = [
            entry(
                1000,
                json!({"event": "tls_rejected", "certificate_id": "other", "handshake_ms": 5.0}),
            ),
            entry(
                2000,
                json!({"event": "tls_accepted", "conn": 1, "certificate_id": "dev", "handshake_ms": 5.0}),
            ),
            entry(2100, json!({"event": "closed", "conn": 1})),
            entry(
                5000,
                json!({"event": "tls_rejected", "certificate_id": "dev", "handshake_ms": 4.0}),
            ),
            entry(
                9000,
                json!({"event": "tls_accepted", "conn": 2, "certificate_id": "dev"}),
            ),
        ];
        let clock = RigClock::new(100.0).unwrap();
        let ms = Duration::from_millis;
        assert_eq!(
            attempts_in(&entries, "dev", Duration::ZERO, clock),
            vec![
                Attempt {
                    start: ms(1500),
                    end: Some(ms(2100))
                },
                Attempt {
                    start: ms(4600),
                    end: Some(ms(5000))
                },
                Attempt {
                    start: ms(9000),
                    end: None
                },
            ]
        );
        assert_eq!(
            attempts_in(&entries, "dev", ms(2000), clock).len(),
            2,
            "after `since`"
        );
    }
}
