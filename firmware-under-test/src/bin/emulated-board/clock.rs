//! Firmware time from the host clock, scaled by `--speed`.

use firmware_under_test::time::Instant;

/// Maps host time to firmware time and back.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: tokio::time::Instant,
    speed: f64,
}

impl Clock {
    pub fn new(speed: f64) -> Self {
        Clock {
            start: tokio::time::Instant::now(),
            speed,
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
}
