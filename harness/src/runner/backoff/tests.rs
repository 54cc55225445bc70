//! Tests of the backoff verdict, its warning and its error rates (by seeded simulation), and
//! of reading attempts off a timeline.

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
        BackoffVerdict::Fail(why) | BackoffVerdict::NoJitter(why) => {
            assert!(why.contains(words), "{why}")
        }
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
    assert!(matches!(
        backoff_verdict(&secs(&[1.0, 2.0, 4.0, 8.0, 16.0]), 5),
        BackoffVerdict::NoJitter(why) if why.contains("without jitter")
    ));
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
/// as the step judges it (one more attempt while undecided); how many passed, and how
/// many of those with a warning.
fn judged(outages: usize, seed: u64, delay: impl Fn(usize, f64) -> f64) -> (usize, usize) {
    let mut random = Seeded(seed);
    let (mut passed, mut warned) = (0, 0);
    for _ in 0..outages {
        let mut delays = Vec::new();
        loop {
            delays.push(delay(delays.len(), random.next()));
            let attempts = secs(&delays);
            match backoff_verdict(&attempts, 5) {
                BackoffVerdict::Pass => {
                    passed += 1;
                    warned += usize::from(backoff_warning(&attempts, 5).is_some());
                    break;
                }
                BackoffVerdict::Fail(_) | BackoffVerdict::NoJitter(_) => break,
                BackoffVerdict::Undecided(_) => {}
            }
        }
    }
    (passed, warned)
}

/// How many of `outages` passed (see [`judged`]).
fn passes(outages: usize, seed: u64, delay: impl Fn(usize, f64) -> f64) -> usize {
    judged(outages, seed, delay).0
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
fn the_documented_warning_rates_hold() {
    // 0.17% of the reference firmware's passes warn; 2.3% and 5.4% of all outages of
    // devices whose delays do not grow pass with a warning.
    let firmware = |k: usize, u: f64| u * 32f64.min(2f64.powi(k as i32 + 1));
    let (passed, warned) = judged(20_000, 17, firmware);
    assert!(
        passed > 19_950 && warned <= 80,
        "{warned} of {passed} warned"
    );
    let (_, uniform) = judged(20_000, 19, |_, u| 8.0 * u);
    assert!((300..650).contains(&uniform), "{uniform} of 20000 warned");
    let (_, exponential) = judged(20_000, 23, |_, u| -4.0 * (1.0 - u).ln());
    assert!(
        (850..1350).contains(&exponential),
        "{exponential} of 20000 warned"
    );
}

#[test]
fn a_pass_on_the_final_ratio_warns_and_a_clear_pass_does_not() {
    // Growth of 2.2 times, seen only after the tenth delay.
    let late = [1.0, 1.5, 1.2, 2.0, 0.7, 2.0, 2.5, 3.0, 4.0, 2.5];
    for n in 4..late.len() {
        assert!(
            matches!(
                backoff_verdict(&secs(&late[..n]), 5),
                BackoffVerdict::Undecided(_)
            ),
            "{n} delays"
        );
    }
    let attempts = secs(&late);
    assert_eq!(backoff_verdict(&attempts, 5), BackoffVerdict::Pass);
    let doubt = backoff_warning(&attempts, 5).expect("a weak pass warns");
    assert!(
        doubt.starts_with(
            "weak evidence of growth: after 10 delays the later half is only 2.2 times"
        ),
        "{doubt}"
    );
    assert!(doubt.ends_with("4.00s, 2.50s"), "{doubt}");
    // A pass as soon as the step's attempts are in is clear: no warning.
    let full_jitter = secs(&[0.4, 1.7, 1.3, 3.3, 6.1]);
    assert_eq!(backoff_verdict(&full_jitter, 5), BackoffVerdict::Pass);
    assert_eq!(backoff_warning(&full_jitter, 5), None);
    // Nor is a pass after ten delays whose growth is 3 times or more.
    let grown = [1.0, 1.5, 1.2, 2.0, 0.7, 1.9, 1.1, 2.4, 9.0, 14.0];
    assert_eq!(backoff_warning(&secs(&grown), 5), None);
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
