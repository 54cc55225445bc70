//! The rig's one clock: board time, and its conversion to and from the host's wall time.
//!
//! A rig runs at a speed ([`RigClock`]): one second of wall time is `speed` seconds of
//! board time. Everything time-based follows it: an emulated board runs its firmware clock
//! at that speed, the embedded broker multiplies its timers by `1 / speed`, and the harness
//! reads every duration a scenario writes (`within`, `for`, `wait`, timeouts) as board
//! time, so a scenario file runs unchanged on a lab rig at speed 1. The run's
//! [`Timeline`](crate::timeline::Timeline) owns the clock and stamps entries with both
//! times; this module only converts.
//!
//! What is real work stays in wall time and is not sped up: starting processes, TLS
//! handshakes, key generation, console and socket I/O. The harness's own safety nets
//! around such work (a board's start-up, a control request, provisioning's console
//! commands, a hook's timeout) are wall durations and are never converted.

use crate::errors::SpeedError;
use std::future::IntoFuture;
use std::time::Duration;

/// A rig's clock: how much faster than real time its boards and broker run.
///
/// The speed is kept in millionths, so the conversions are exact integer arithmetic: a
/// wall duration from [`RigClock::to_wall`] is rounded up to the nanosecond, and
/// converting it back never gives less board time than was asked for (a wait that sleeps
/// until a board deadline finds the deadline reached when it wakes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RigClock {
    millionths: u64,
}

/// Slowest and fastest speeds a rig may have.
pub const SPEED_RANGE: (f64, f64) = (1e-6, 1e6);

const MILLION: u128 = 1_000_000;

impl Default for RigClock {
    /// Real time.
    fn default() -> Self {
        RigClock::REAL_TIME
    }
}

impl RigClock {
    /// Speed 1: board time is wall time (a lab rig, or the interactive `hil` tools).
    pub const REAL_TIME: RigClock = RigClock {
        millionths: MILLION as u64,
    };

    /// A clock at `speed` (board seconds per wall second): a positive, finite number in
    /// [`SPEED_RANGE`], kept to a millionth.
    pub fn new(speed: f64) -> Result<Self, SpeedError> {
        if !(speed >= SPEED_RANGE.0 && speed <= SPEED_RANGE.1) {
            return Err(SpeedError { speed });
        }
        Ok(RigClock {
            millionths: (speed * MILLION as f64).round() as u64,
        })
    }

    /// Board seconds per wall second.
    pub fn speed(self) -> f64 {
        self.millionths as f64 / MILLION as f64
    }

    /// Is this real time (speed 1)?
    pub fn is_real_time(self) -> bool {
        self == RigClock::REAL_TIME
    }

    /// The wall time that `board` lasts, rounded up to the nanosecond (saturating at
    /// [`Duration::MAX`]).
    pub fn to_wall(self, board: Duration) -> Duration {
        let scaled = board.as_nanos() * MILLION;
        let speed = u128::from(self.millionths);
        nanos(scaled.div_ceil(speed))
    }

    /// The board time that `wall` lasts, rounded down to the nanosecond (saturating at
    /// [`Duration::MAX`]).
    pub fn to_board(self, wall: Duration) -> Duration {
        nanos(wall.as_nanos() * u128::from(self.millionths) / MILLION)
    }

    /// Sleeps for `board` of board time.
    pub async fn sleep(self, board: Duration) {
        tokio::time::sleep(self.to_wall(board)).await;
    }

    /// Runs `future` for at most `board` of board time.
    pub async fn timeout<F: IntoFuture>(
        self,
        board: Duration,
        future: F,
    ) -> Result<F::Output, tokio::time::error::Elapsed> {
        tokio::time::timeout(self.to_wall(board), future).await
    }
}

/// `n` nanoseconds as a duration, saturating.
fn nanos(n: u128) -> Duration {
    const PER_SECOND: u128 = 1_000_000_000;
    match u64::try_from(n / PER_SECOND) {
        Ok(secs) => Duration::new(secs, (n % PER_SECOND) as u32),
        Err(_) => Duration::MAX,
    }
}

impl std::fmt::Display for RigClock {
    /// `speed 20` (`real time` at 1).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_real_time() {
            f.write_str("real time")
        } else {
            write!(f, "speed {}", self.speed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn board_time_is_wall_time_times_the_speed() {
        let clock = RigClock::new(20.0).unwrap();
        assert_eq!(clock.to_wall(ms(4000)), ms(200));
        assert_eq!(clock.to_board(ms(200)), ms(4000));
        assert_eq!(
            clock.to_wall(Duration::from_micros(250)),
            Duration::from_nanos(12_500)
        );
        let slow = RigClock::new(0.5).unwrap();
        assert_eq!(slow.to_wall(ms(1000)), ms(2000));
        assert_eq!(RigClock::REAL_TIME.to_wall(ms(1234)), ms(1234));
        assert_eq!(slow.to_wall(Duration::MAX), Duration::MAX, "saturates");
        assert_eq!(clock.to_board(Duration::MAX), Duration::MAX, "saturates");
    }

    #[test]
    fn a_wall_time_converted_back_is_never_short_of_the_board_time() {
        for speed in [3.0, 7.0, 12.345_678, 0.3] {
            let clock = RigClock::new(speed).unwrap();
            for board in [1, 999, 1_000_001, 123_456_789_013] {
                let board = Duration::from_nanos(board);
                let wall = clock.to_wall(board);
                assert!(clock.to_board(wall) >= board, "{speed} {board:?}");
                assert!(
                    clock.to_board(wall - Duration::from_nanos(1)) < board,
                    "rounded up by less than a nanosecond: {speed} {board:?}"
                );
            }
        }
    }

    #[test]
    fn a_speed_is_positive_and_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 2e6] {
            let error = RigClock::new(bad).unwrap_err();
            assert!(error.to_string().contains("positive"), "{error}");
        }
        assert_eq!(RigClock::new(1.0), Ok(RigClock::REAL_TIME));
        assert_eq!(RigClock::new(12.5).unwrap().to_string(), "speed 12.5");
        assert_eq!(RigClock::new(20.0).unwrap().speed(), 20.0);
        assert_eq!(RigClock::default().to_string(), "real time");
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_and_timeouts_last_their_board_time_divided_by_the_speed() {
        let clock = RigClock::new(20.0).unwrap();
        let start = tokio::time::Instant::now();
        clock.sleep(Duration::from_secs(4)).await;
        assert_eq!(start.elapsed(), ms(200));

        let start = tokio::time::Instant::now();
        let never = std::future::pending::<()>();
        assert!(clock.timeout(Duration::from_secs(10), never).await.is_err());
        assert_eq!(start.elapsed(), ms(500));

        let quick = clock.timeout(Duration::from_secs(10), async {
            tokio::time::sleep(ms(499)).await;
            7
        });
        assert_eq!(quick.await.ok(), Some(7));
    }
}
