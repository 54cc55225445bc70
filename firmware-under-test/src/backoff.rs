//! Reconnect delays: capped exponential backoff with full jitter.
//!
//! Attempt `n` (from 0) waits a uniformly random time in `[0, min(cap, base * 2^n)]`, the
//! "full jitter" of the AWS architecture blog that AWS IoT Device Advisor checks for. The
//! random numbers come from a PCG generator seeded by the caller, so tests are repeatable.
//! Microchip's original firmware retried at a fixed rate; this is one of the fixed flaws.
//! The two [`Mode`]s besides full jitter exist to bring such flaws back on purpose
//! ([`crate::flaws::Flaw::NoBackoff`], [`crate::flaws::Flaw::NoJitter`]).

use crate::time::Duration;

/// How a delay is drawn from its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Uniformly random in `[0, ceiling]`: the reference firmware.
    FullJitter,
    /// Always `base`: no growth, no jitter (a flaw).
    Fixed,
    /// Exactly the ceiling: growth without jitter (a flaw).
    Ceiling,
}

/// Backoff state: the attempt counter and the generator.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: oorandom::Rand32,
    mode: Mode,
}

impl Backoff {
    /// A backoff starting at `base` and never above `cap`, with a seeded generator.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
            rng: oorandom::Rand32::new(seed),
            mode: Mode::FullJitter,
        }
    }

    /// The same backoff drawing its delays the way `mode` says.
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The upper bound of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let grown = self
            .base
            .millis()
            .saturating_mul(1u64 << self.attempt.min(32));
        Duration::from_millis(grown.min(self.cap.millis()))
    }

    /// The next delay (random in `[0, ceiling]` in [`Mode::FullJitter`]), counting one more
    /// attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling().millis();
        self.attempt = self.attempt.saturating_add(1);
        match self.mode {
            Mode::FullJitter => {}
            Mode::Fixed => return self.base,
            Mode::Ceiling => return Duration::from_millis(ceiling),
        }
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

    #[test]
    fn the_flawed_modes_are_fixed_or_exactly_the_ceiling() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(8);
        let mut fixed = Backoff::new(base, cap, 1).with_mode(Mode::Fixed);
        let mut ceiling = Backoff::new(base, cap, 1).with_mode(Mode::Ceiling);
        let fixed: [u64; 5] = core::array::from_fn(|_| fixed.next_delay().millis());
        let ceiling: [u64; 5] = core::array::from_fn(|_| ceiling.next_delay().millis());
        assert_eq!(fixed, [1000; 5]);
        assert_eq!(ceiling, [1000, 2000, 4000, 8000, 8000]);
    }
}
