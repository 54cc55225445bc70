//! An emulated board's firmware time on the timeline: [`FirmwareClock`] maps the time a
//! board stamps on its LED edges onto the run's board time.

use std::time::Duration;

/// Maps an emulated board's firmware time (its edges' `t_ms`, its `state`'s
/// `firmware_ms`, milliseconds since the process started) onto the timeline's board time.
/// Both clocks run at the rig's speed from the host's monotonic clock, so one offset
/// holds for the process's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareClock {
    /// Timeline board time at firmware time 0, in nanoseconds (negative when the board
    /// started before the timeline).
    offset_ns: i128,
    /// How far off the offset may be: half the exchange it was measured with.
    uncertainty: Duration,
}

impl FirmwareClock {
    /// The mapping from one `state` exchange: sent at board time `sent`, answered at
    /// `answered`, reporting `firmware_ms` (truncated to the millisecond) somewhere in
    /// between.
    pub fn from_exchange(sent: Duration, answered: Duration, firmware_ms: u64) -> Self {
        let answered = answered.max(sent);
        let middle = (sent.as_nanos() + answered.as_nanos()) / 2;
        let firmware = u128::from(firmware_ms) * 1_000_000 + 500_000;
        FirmwareClock {
            offset_ns: middle as i128 - firmware as i128,
            uncertainty: (answered - sent) / 2,
        }
    }

    /// The exact mapping, for a board on this host that says where its firmware time 0
    /// is on the host's monotonic clock (`origin_ns`): `host_now_ns` on that clock and the
    /// timeline's `board_now` were read together, and board time runs at `clock`'s speed.
    pub fn from_origin(
        origin_ns: u64,
        host_now_ns: u64,
        board_now: Duration,
        clock: crate::clock::RigClock,
    ) -> Self {
        let since_origin =
            clock.to_board(Duration::from_nanos(host_now_ns.saturating_sub(origin_ns)));
        FirmwareClock {
            offset_ns: board_now.as_nanos() as i128 - since_origin.as_nanos() as i128,
            uncertainty: Duration::ZERO,
        }
    }

    /// The timeline's board time of firmware time `t_ms` (zero if before the run).
    pub fn to_timeline(self, t_ms: u64) -> Duration {
        let at = i128::from(t_ms) * 1_000_000 + self.offset_ns;
        u64::try_from(at.max(0)).map_or(Duration::MAX, Duration::from_nanos)
    }

    /// How far off a mapped time may be (half the exchange it was measured with).
    pub fn uncertainty(self) -> Duration {
        self.uncertainty
    }
}

/// The host's monotonic clock (CLOCK_MONOTONIC, what tokio's and std's instants read), in
/// nanoseconds.
pub(super) fn monotonic_ns() -> Option<u64> {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    let secs = u64::try_from(now.tv_sec()).ok()?;
    let nanos = u64::try_from(now.tv_nsec()).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn firmware_time_maps_onto_the_timeline_from_the_middle_of_the_exchange() {
        // Asked at 10 ms, answered at 12 ms: the board said 5 ms (so 5.0 to 5.999 ms) at
        // about 11 ms of timeline time.
        let clock = FirmwareClock::from_exchange(ms(10), ms(12), 5);
        assert_eq!(clock.uncertainty(), ms(1));
        assert_eq!(clock.to_timeline(5), Duration::from_micros(10_500));
        assert_eq!(clock.to_timeline(1005), Duration::from_micros(1_010_500));
    }

    #[test]
    fn a_board_that_gives_its_clock_origin_maps_exactly() {
        // At speed 20: the board's firmware time 0 was 3 ms of host time before the moment
        // the timeline said 1 s of board time (60 ms of board time before it).
        let clock = crate::clock::RigClock::new(20.0).unwrap();
        let exact = FirmwareClock::from_origin(5_000_000, 8_000_000, ms(1000), clock);
        assert_eq!(exact.uncertainty(), Duration::ZERO);
        assert_eq!(exact.to_timeline(0), ms(940));
        assert_eq!(exact.to_timeline(250), ms(1190));
        assert_eq!(
            monotonic_ns().map(|ns| ns > 0),
            Some(true),
            "the host's monotonic clock reads"
        );
    }

    #[test]
    fn a_board_older_than_the_timeline_maps_its_early_times_to_zero() {
        let clock = FirmwareClock::from_exchange(ms(1), ms(1), 100);
        assert_eq!(clock.uncertainty(), Duration::ZERO);
        assert_eq!(clock.to_timeline(50), Duration::ZERO);
        assert_eq!(clock.to_timeline(200), Duration::from_micros(100_500));
    }
}
