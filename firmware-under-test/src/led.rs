//! The four status LEDs and their patterns.
//!
//! [`LedBank`] holds one [`LedMode`] per LED and turns modes into levels at a given time:
//! solid on or off, blinking with a half period (on first), or a pulse that ends at a set
//! time. [`LedBank::update`] reports each level change once, and [`LedBank::poll_at`] says
//! when the next change is due, so the caller can sleep until then. Which pattern each LED
//! shows is the application's decision ([`crate::board`]); the pins and their polarity are
//! the platform's.

use crate::time::{Duration, Instant, earliest};

/// Half period of the Wi-Fi and cloud blink: 250 ms on, 250 ms off.
pub const BLINK_HALF_PERIOD: Duration = Duration::from_millis(250);
/// Length of the data pulse on each telemetry publish.
pub const PULSE: Duration = Duration::from_millis(500);

/// One of the board's LEDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Led {
    /// Wi-Fi.
    Blue,
    /// Cloud connection.
    Green,
    /// Data.
    Yellow,
    /// Error.
    Red,
}

impl Led {
    /// All LEDs, in a fixed order.
    pub const ALL: [Led; 4] = [Led::Blue, Led::Green, Led::Yellow, Led::Red];

    /// The LED's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            Led::Blue => "blue",
            Led::Green => "green",
            Led::Yellow => "yellow",
            Led::Red => "red",
        }
    }

    /// Parses a name as printed by [`Led::name`].
    pub fn from_name(name: &str) -> Option<Led> {
        Led::ALL.into_iter().find(|led| led.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What an LED shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedMode {
    /// Dark.
    Off,
    /// Lit.
    On,
    /// Blinking, lit for the first half period after `since`.
    Blink {
        /// Time lit, then time dark.
        half_period: Duration,
        /// Phase origin.
        since: Instant,
    },
    /// Lit until the given time, then dark.
    PulseUntil(Instant),
}

impl LedMode {
    fn level(self, now: Instant) -> bool {
        match self {
            LedMode::Off => false,
            LedMode::On => true,
            LedMode::Blink { half_period, since } => {
                let half = half_period.millis().max(1);
                ((now - since).millis() / half).is_multiple_of(2)
            }
            LedMode::PulseUntil(end) => now < end,
        }
    }

    fn next_change(self, now: Instant) -> Option<Instant> {
        match self {
            LedMode::Off | LedMode::On => None,
            LedMode::Blink { half_period, since } => {
                let half = half_period.millis().max(1);
                let periods = (now - since).millis() / half;
                Some(since + Duration::from_millis((periods + 1) * half))
            }
            LedMode::PulseUntil(end) => (now < end).then_some(end),
        }
    }
}

/// The four LEDs' modes and the levels last reported.
#[derive(Debug, Clone)]
pub struct LedBank {
    modes: [LedMode; 4],
    levels: [bool; 4],
}

impl Default for LedBank {
    fn default() -> Self {
        LedBank {
            modes: [LedMode::Off; 4],
            levels: [false; 4],
        }
    }
}

impl LedBank {
    /// The mode of `led`.
    pub fn mode(&self, led: Led) -> LedMode {
        self.modes[led.index()]
    }

    /// The level of `led` as last reported by [`LedBank::update`].
    pub fn level(&self, led: Led) -> bool {
        self.levels[led.index()]
    }

    /// Sets `led` solid on or off.
    pub fn set(&mut self, led: Led, on: bool) {
        self.modes[led.index()] = if on { LedMode::On } else { LedMode::Off };
    }

    /// Makes `led` blink; a LED already blinking keeps its phase.
    pub fn blink(&mut self, led: Led, now: Instant) {
        if !matches!(self.modes[led.index()], LedMode::Blink { .. }) {
            self.modes[led.index()] = LedMode::Blink {
                half_period: BLINK_HALF_PERIOD,
                since: now,
            };
        }
    }

    /// Lights `led` for [`PULSE`] from `now`.
    pub fn pulse(&mut self, led: Led, now: Instant) {
        self.modes[led.index()] = LedMode::PulseUntil(now + PULSE);
    }

    /// Reports every LED whose level at `now` differs from the last reported one.
    pub fn update(&mut self, now: Instant, mut changed: impl FnMut(Led, bool)) {
        for led in Led::ALL {
            let level = self.modes[led.index()].level(now);
            if level != self.levels[led.index()] {
                self.levels[led.index()] = level;
                changed(led, level);
            }
        }
    }

    /// When [`LedBank::update`] is next due: `now` if a level changed since the last
    /// report (the caller woke late), else the next change of a blinking or pulsing LED.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        let unreported = self
            .modes
            .iter()
            .zip(self.levels)
            .any(|(mode, reported)| mode.level(now) != reported);
        if unreported {
            return Some(now);
        }
        self.modes
            .iter()
            .fold(None, |acc, mode| earliest(acc, mode.next_change(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(bank: &mut LedBank, now: u64) -> heapless::Vec<(Led, bool), 4> {
        let mut out = heapless::Vec::new();
        bank.update(Instant(now), |led, on| {
            let _ = out.push((led, on));
        });
        out
    }

    #[test]
    fn a_blink_toggles_every_250_ms_on_first() {
        let mut bank = LedBank::default();
        bank.blink(Led::Blue, Instant(1000));
        assert_eq!(changes(&mut bank, 1000).as_slice(), &[(Led::Blue, true)]);
        assert_eq!(bank.poll_at(Instant(1000)), Some(Instant(1250)));
        assert!(changes(&mut bank, 1249).is_empty());
        assert_eq!(changes(&mut bank, 1250).as_slice(), &[(Led::Blue, false)]);
        assert_eq!(changes(&mut bank, 1500).as_slice(), &[(Led::Blue, true)]);
    }

    #[test]
    fn a_change_not_yet_reported_is_due_at_once() {
        let mut bank = LedBank::default();
        bank.blink(Led::Green, Instant(0));
        assert_eq!(changes(&mut bank, 0).as_slice(), &[(Led::Green, true)]);
        // The caller asks for the next deadline a little after the edge at 250 ms,
        // without having updated at 250: the edge is due now, not at 500.
        assert_eq!(bank.poll_at(Instant(251)), Some(Instant(251)));
        assert_eq!(changes(&mut bank, 251).as_slice(), &[(Led::Green, false)]);
        assert_eq!(bank.poll_at(Instant(251)), Some(Instant(500)));
    }

    #[test]
    fn blinking_again_keeps_the_phase() {
        let mut bank = LedBank::default();
        bank.blink(Led::Green, Instant(0));
        changes(&mut bank, 0);
        bank.blink(Led::Green, Instant(100));
        assert_eq!(bank.poll_at(Instant(100)), Some(Instant(250)));
    }

    #[test]
    fn a_pulse_lasts_500_ms() {
        let mut bank = LedBank::default();
        bank.pulse(Led::Yellow, Instant(10));
        assert_eq!(changes(&mut bank, 10).as_slice(), &[(Led::Yellow, true)]);
        assert_eq!(bank.poll_at(Instant(10)), Some(Instant(510)));
        assert_eq!(changes(&mut bank, 510).as_slice(), &[(Led::Yellow, false)]);
        assert_eq!(bank.poll_at(Instant(510)), None);
    }

    #[test]
    fn solid_leds_need_no_attention() {
        let mut bank = LedBank::default();
        bank.set(Led::Red, true);
        assert_eq!(changes(&mut bank, 0).as_slice(), &[(Led::Red, true)]);
        assert_eq!(bank.poll_at(Instant(0)), None);
        assert!(bank.level(Led::Red));
    }

    #[test]
    fn names_round_trip() {
        for led in Led::ALL {
            assert_eq!(Led::from_name(led.name()), Some(led));
        }
        assert_eq!(Led::from_name("purple"), None);
    }
}
