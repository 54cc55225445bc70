//! Firmware time from the host clock, scaled by `--speed`.

use firmware_under_test::time::{Duration, Instant};

/// Maps host time to firmware time and back.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: tokio::time::Instant,
    speed: f64,
    /// The host's monotonic clock (CLOCK_MONOTONIC) at firmware time 0, in nanoseconds.
    origin_ns: u64,
}

impl Clock {
    pub fn new(speed: f64) -> Self {
        let (start, origin_ns) = start_and_origin();
        Clock {
            start,
            speed,
            origin_ns,
        }
    }

    /// Firmware time now.
    pub fn now(&self) -> Instant {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0 * self.speed;
        Instant(ms as u64)
    }

    /// The host instant at which firmware time reaches `at`.
    pub fn host_instant(&self, at: Instant) -> tokio::time::Instant {
        let secs = at.millis() as f64 / 1000.0 / self.speed;
        self.start + std::time::Duration::from_secs_f64(secs.max(0.0))
    }

    /// The host's monotonic clock at firmware time 0, in nanoseconds.
    pub fn origin_ns(&self) -> u64 {
        self.origin_ns
    }
}

/// Firmware time 0 as a tokio instant and on the host's monotonic clock (CLOCK_MONOTONIC,
/// in nanoseconds), read together so a program on this host can map firmware times onto
/// its own clock to the microsecond: the monotonic clock is read just before and just
/// after the instant, the origin is the middle, and the reads are repeated (at most five
/// times) while the thread was preempted between them for more than 20 µs.
fn start_and_origin() -> (tokio::time::Instant, u64) {
    let monotonic_ns = || {
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
                + u64::try_from(t.tv_nsec()).unwrap_or(0)
        })
    };
    let mut best: Option<(tokio::time::Instant, u64, u64)> = None;
    for _ in 0..5 {
        let before = monotonic_ns();
        let start = tokio::time::Instant::now();
        let gap = monotonic_ns().saturating_sub(before);
        if best.is_none_or(|(_, _, best_gap)| gap < best_gap) {
            best = Some((start, before + gap / 2, gap));
        }
        if gap < 20_000 {
            break;
        }
    }
    best.map_or_else(
        || (tokio::time::Instant::now(), monotonic_ns()),
        |(start, origin, _)| (start, origin),
    )
}

/// The firmware's transport-open timeout at `speed`: its 10 s, but never less than 2 s of
/// the host's own time. Opening TCP and TLS is real work on the host that does not speed
/// up with the clock: at speed 500 the firmware's 10 s are 20 ms, which a loaded host's
/// handshake can exceed.
pub fn open_timeout(speed: f64) -> Duration {
    let floor = (2_000.0 * speed).min(u64::MAX as f64) as u64;
    Duration::from_millis(
        floor.max(
            firmware_under_test::board::Config::default()
                .open_timeout
                .millis(),
        ),
    )
}

#[cfg(test)]
mod open_timeout_tests {
    use super::*;

    #[test]
    fn the_open_timeout_is_the_firmwares_or_two_seconds_of_host_time() {
        assert_eq!(open_timeout(1.0).millis(), 10_000);
        assert_eq!(open_timeout(500.0).millis(), 1_000_000, "2 s of wall time");
        assert_eq!(open_timeout(0.001).millis(), 10_000);
    }
}
