//! Reconnect delays: capped exponential backoff with full jitter.
//!
//! Attempt `n` (from 0) waits a uniformly random time in `[0, min(cap, base * 2^n)]`, the
//! "full jitter" of the AWS architecture blog that AWS IoT Device Advisor checks for. The
//! random numbers come from a PCG generator seeded by the caller, so tests are repeatable.
//! Microchip's original firmware retried at a fixed rate; this is one of the fixed flaws.

use crate::time::Duration;

/// Backoff state: the attempt counter and the generator.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: oorandom::Rand32,
}

impl Backoff {
    /// A backoff starting at `base` and never above `cap`, with a seeded generator.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
            rng: oorandom::Rand32::new(seed),
        }
    }

    /// The upper bound of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let grown = self
            .base
            .millis()
            .saturating_mul(1u64 << self.attempt.min(32));
        Duration::from_millis(grown.min(self.cap.millis()))
    }

    /// The next delay (random in `[0, ceiling]`), counting one more attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling().millis();
        self.attempt = self.attempt.saturating_add(1);
        let bound = u32::try_from(ceiling.saturating_add(1)).unwrap_or(u32::MAX);
        Duration::from_millis(u64::from(self.rng.rand_range(0..bound)))
    }

    /// Attempts since the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the first delay, after a successful connection.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
        let mut ceilings = [0u64; 7];
        for c in ceilings.iter_mut() {
            *c = backoff.ceiling().millis();
            backoff.next_delay();
        }
        assert_eq!(ceilings, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    }

    #[test]
    fn delays_stay_within_the_ceiling_and_are_jittered() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(8), 42);
        let mut seen = [0u64; 20];
        for d in seen.iter_mut() {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(delay <= ceiling);
            *d = delay.millis();
        }
        // Full jitter: at the cap, the delays differ from each other.
        let capped = &seen[5..];
        assert!(capped.iter().any(|d| *d != capped[0]));
    }

    #[test]
    fn the_same_seed_gives_the_same_delays_and_reset_starts_over() {
        let mut a = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 9);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 9);
        for _ in 0..10 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
        a.reset();
        assert_eq!(a.attempts(), 0);
        assert_eq!(a.ceiling(), Duration::from_secs(1));
    }
}
