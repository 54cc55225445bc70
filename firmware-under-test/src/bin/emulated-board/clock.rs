//! Firmware time from the host clock, scaled by `--speed`.

use firmware_under_test::time::Instant;

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
        let start = tokio::time::Instant::now();
        // Read right after `start`, so a program on this host can map firmware times onto
        // its own clock to the microsecond.
        let origin_ns = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| {
                u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
                    + u64::try_from(t.tv_nsec()).unwrap_or(0)
            })
            .unwrap_or(0);
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
