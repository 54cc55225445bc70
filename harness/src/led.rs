//! LED observation: per-LED edge timelines and the classifier that says what an LED shows.
//!
//! [`LedTrack`] is one LED's history: its level when observation began and every edge
//! since, on the harness's clock. [`LedTrack::classify`] looks at a window and answers
//! [`Pattern::Off`], [`Pattern::On`], [`Pattern::Blinking`] (with frequency and duty cycle)
//! or [`Pattern::Irregular`]. The queries scenarios use — is it on (solid) by now, has it
//! held a state for a while, has it blinked at a rate for a while — are functions of a
//! track and two times, so they are tested with synthetic edge trains. Waiting for edges
//! to arrive is the board backends' business ([`crate::board`]).

use serde::Serialize;
use std::time::Duration;

/// The board's LEDs, by their role.
pub const LED_NAMES: [&str; 4] = ["blue", "green", "yellow", "red"];

/// One level change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// When, on the harness's clock.
    #[serde(serialize_with = "crate::timeline::as_millis")]
    pub at: Duration,
    /// Lit after the edge.
    pub on: bool,
}

/// What an LED shows over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "pattern", rename_all = "snake_case")]
pub enum Pattern {
    /// Dark throughout.
    Off,
    /// Lit throughout.
    On,
    /// Regular on/off cycles.
    Blinking {
        /// Cycles per second.
        hz: f64,
        /// Fraction of each cycle lit, 0..1.
        duty: f64,
    },
    /// Changes, but not regularly (or too few cycles to tell).
    Irregular,
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Off => f.write_str("off"),
            Pattern::On => f.write_str("on"),
            Pattern::Blinking { hz, duty } => {
                write!(f, "blinking at {hz:.2} Hz, {:.0}% duty", duty * 100.0)
            }
            Pattern::Irregular => f.write_str("irregular"),
        }
    }
}

/// How regular periods must be to count as blinking: the largest period may differ from
/// the mean by at most this fraction.
pub const PERIOD_TOLERANCE: f64 = 0.3;
/// Periods (rising-to-rising or falling-to-falling) needed to call a pattern blinking.
pub const MIN_CYCLES: usize = 2;

/// One LED's level history.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LedTrack {
    /// Level when observation began.
    pub initial: bool,
    /// Edges in time order.
    pub edges: Vec<Edge>,
}

impl LedTrack {
    /// A track that starts at `initial`.
    pub fn new(initial: bool) -> Self {
        LedTrack {
            initial,
            edges: Vec::new(),
        }
    }

    /// Records a level at `at`; only a change is an edge. Out-of-order times are clamped
    /// to the last edge.
    pub fn record(&mut self, at: Duration, on: bool) {
        if self.level_at(Duration::MAX) == on {
            return;
        }
        let at = self.edges.last().map_or(at, |last| at.max(last.at));
        self.edges.push(Edge { at, on });
    }

    /// The level at `t` (a binary search: the edges are in time order, and a board
    /// blinking at speed 500 makes a thousand a second).
    pub fn level_at(&self, t: Duration) -> bool {
        let after = self.edges.partition_point(|e| e.at <= t);
        after
            .checked_sub(1)
            .map_or(self.initial, |last| self.edges[last].on)
    }

    /// The edges in `[from, to]`.
    pub fn edges_in(&self, from: Duration, to: Duration) -> impl Iterator<Item = &Edge> {
        self.edges
            .iter()
            .filter(move |e| e.at >= from && e.at <= to)
    }

    /// When the LED last changed at or before `t` (the start of its current level).
    pub fn last_change(&self, t: Duration) -> Option<Duration> {
        self.edges
            .iter()
            .take_while(|e| e.at <= t)
            .last()
            .map(|e| e.at)
    }

    /// What the LED showed over `[from, to]`.
    pub fn classify(&self, from: Duration, to: Duration) -> Pattern {
        let edges: Vec<&Edge> = self.edges_in(from, to).collect();
        if edges.is_empty() {
            return if self.level_at(from) {
                Pattern::On
            } else {
                Pattern::Off
            };
        }
        // Periods between edges of the same direction: rising to rising and falling to
        // falling, so a window that spans two periods is enough whatever its phase.
        let times = |on: bool| -> Vec<Duration> {
            edges.iter().filter(|e| e.on == on).map(|e| e.at).collect()
        };
        let (rising, falling) = (times(true), times(false));
        let periods: Vec<f64> = rising
            .windows(2)
            .chain(falling.windows(2))
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        if periods.len() < MIN_CYCLES {
            return Pattern::Irregular;
        }
        let mean = periods.iter().sum::<f64>() / periods.len() as f64;
        if mean <= 0.0
            || periods
                .iter()
                .any(|p| (p - mean).abs() > PERIOD_TOLERANCE * mean)
        {
            return Pattern::Irregular;
        }
        // Lit time: each rising edge to the falling edge after it.
        let lit: Vec<f64> = rising
            .iter()
            .filter_map(|rise| {
                edges
                    .iter()
                    .find(|e| !e.on && e.at > *rise)
                    .map(|fall| (fall.at - *rise).as_secs_f64())
            })
            .collect();
        if lit.is_empty() {
            return Pattern::Irregular;
        }
        let duty = lit.iter().sum::<f64>() / lit.len() as f64 / mean;
        Pattern::Blinking {
            hz: 1.0 / mean,
            duty,
        }
    }

    /// The first time at or after `since` (and at most `until`) at which the LED had been
    /// solidly `on` for `settle` — "is on by then", where a blinking LED does not count.
    pub fn solid_since(
        &self,
        on: bool,
        since: Duration,
        settle: Duration,
        until: Duration,
    ) -> Option<Duration> {
        // Candidate starts: `since` itself, and every edge to the wanted level.
        let mut starts = vec![since];
        starts.extend(
            self.edges_in(since, until)
                .filter(|e| e.on == on)
                .map(|e| e.at),
        );
        starts.into_iter().find_map(|start| {
            if self.level_at(start) != on {
                return None;
            }
            let began = self.last_change(start).unwrap_or(Duration::ZERO);
            let done = began.max(since.saturating_sub(settle)) + settle;
            let done = done.max(start);
            let broken = self
                .edges_in(start, done)
                .any(|e| e.on != on && e.at > start);
            (!broken && done <= until).then_some(done)
        })
    }

    /// Did the LED stay `on` throughout `[from, to]`? Returns the first contrary edge if not.
    pub fn held(&self, on: bool, from: Duration, to: Duration) -> Result<(), Edge> {
        if self.level_at(from) != on {
            return Err(Edge { at: from, on: !on });
        }
        match self.edges_in(from, to).find(|e| e.on != on && e.at > from) {
            Some(edge) => Err(*edge),
            None => Ok(()),
        }
    }
}

/// A range of numbers, as written in scenarios: `0.5..3`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    /// Lower bound, inclusive.
    pub min: f64,
    /// Upper bound, inclusive.
    pub max: f64,
}

impl Range {
    /// Does the range hold `value`?
    pub fn contains(&self, value: f64) -> bool {
        value >= self.min && value <= self.max
    }
}

impl std::str::FromStr for Range {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{s:?} is not a number"))
        };
        let (min, max) = match text.split_once("..") {
            Some((min, max)) => (parse(min)?, parse(max)?),
            None => {
                let v = parse(text)?;
                (v, v)
            }
        };
        if min > max {
            return Err(format!("range {text:?} is empty: {min} > {max}"));
        }
        Ok(Range { min, max })
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// A square wave from `start`: lit `on_ms`, dark `off_ms`, `cycles` times, each edge
    /// moved by `jitter(i)` ms.
    fn square(
        start: u64,
        on_ms: u64,
        off_ms: u64,
        cycles: u64,
        jitter: impl Fn(u64) -> i64,
    ) -> LedTrack {
        let mut track = LedTrack::new(false);
        for c in 0..cycles {
            let base = start + c * (on_ms + off_ms);
            let rise = (base as i64 + jitter(2 * c)).max(0) as u64;
            let fall = (base as i64 + on_ms as i64 + jitter(2 * c + 1)).max(0) as u64;
            track.record(ms(rise), true);
            track.record(ms(fall), false);
        }
        track
    }

    #[test]
    fn a_steady_level_is_on_or_off() {
        let track = LedTrack::new(true);
        assert_eq!(track.classify(ms(0), ms(5000)), Pattern::On);
        let mut track = LedTrack::new(false);
        track.record(ms(100), true);
        assert_eq!(track.classify(ms(0), ms(50)), Pattern::Off);
        assert_eq!(track.classify(ms(200), ms(5000)), Pattern::On);
    }

    #[test]
    fn a_250_ms_blink_is_2_hz_at_half_duty() {
        let track = square(0, 250, 250, 10, |_| 0);
        let Pattern::Blinking { hz, duty } = track.classify(ms(0), ms(5000)) else {
            panic!()
        };
        assert!((hz - 2.0).abs() < 1e-9, "{hz}");
        assert!((duty - 0.5).abs() < 1e-9, "{duty}");
    }

    #[test]
    fn telemetry_pulses_are_1_hz_at_half_duty() {
        let track = square(1000, 500, 500, 6, |_| 0);
        let Pattern::Blinking { hz, duty } = track.classify(ms(0), ms(7000)) else {
            panic!()
        };
        assert!((hz - 1.0).abs() < 1e-9 && (duty - 0.5).abs() < 1e-9);
    }

    #[test]
    fn jittered_edges_still_blink() {
        // ±20 ms of deterministic jitter on a 2 Hz blink (what a 5 ms poll and a busy host do).
        let jitter = |i: u64| ((i * 7919) % 41) as i64 - 20;
        let track = square(0, 250, 250, 12, jitter);
        let Pattern::Blinking { hz, duty } = track.classify(ms(0), ms(6000)) else {
            panic!("{:?}", track.classify(ms(0), ms(6000)))
        };
        assert!((1.8..2.2).contains(&hz), "{hz}");
        assert!((0.4..0.6).contains(&duty), "{duty}");
    }

    #[test]
    fn a_window_spanning_two_periods_is_enough_in_any_phase() {
        // 1 Hz, lit 500 ms; the window opens just after a rise and lasts 3 s, so it holds
        // two rising and three falling edges.
        let track = square(0, 500, 500, 8, |_| 0);
        for start in [1, 250, 499, 501, 750] {
            let from = ms(1000 + start);
            let Pattern::Blinking { hz, duty } = track.classify(from, from + ms(3000)) else {
                panic!(
                    "window from {from:?}: {:?}",
                    track.classify(from, from + ms(3000))
                )
            };
            assert!(
                (hz - 1.0).abs() < 1e-9 && (duty - 0.5).abs() < 1e-9,
                "{hz} {duty}"
            );
        }
    }

    #[test]
    fn unequal_periods_are_irregular() {
        let mut track = LedTrack::new(false);
        for (at, on) in [
            (0, true),
            (100, false),
            (200, true),
            (300, false),
            (1500, true),
            (1600, false),
            (1700, true),
        ] {
            track.record(ms(at), on);
        }
        assert_eq!(track.classify(ms(0), ms(2000)), Pattern::Irregular);
        // A single change is not a blink either.
        let mut once = LedTrack::new(false);
        once.record(ms(10), true);
        assert_eq!(once.classify(ms(0), ms(100)), Pattern::Irregular);
    }

    #[test]
    fn solid_needs_the_level_to_last() {
        // Blinks, then holds on from 2000 ms.
        let mut track = square(0, 250, 250, 4, |_| 0);
        track.record(ms(2000), true);
        let settle = ms(600);
        assert_eq!(
            track.solid_since(true, ms(0), settle, ms(10_000)),
            Some(ms(2600))
        );
        assert_eq!(track.solid_since(true, ms(0), settle, ms(2500)), None);
        assert_eq!(
            track.solid_since(false, ms(0), settle, ms(10_000)),
            None,
            "off phases are too short"
        );
        // Already solid before the query started: settled at once.
        assert_eq!(
            track.solid_since(true, ms(5000), settle, ms(10_000)),
            Some(ms(5000))
        );
    }

    #[test]
    fn held_reports_the_first_contrary_edge() {
        let mut track = LedTrack::new(true);
        track.record(ms(300), false);
        assert_eq!(track.held(true, ms(0), ms(200)), Ok(()));
        assert_eq!(
            track.held(true, ms(0), ms(1000)),
            Err(Edge {
                at: ms(300),
                on: false
            })
        );
        assert!(track.held(false, ms(0), ms(100)).is_err());
    }

    #[test]
    fn recording_the_same_level_adds_no_edge() {
        let mut track = LedTrack::new(false);
        track.record(ms(1), false);
        track.record(ms(2), true);
        track.record(ms(3), true);
        assert_eq!(track.edges.len(), 1);
    }

    #[test]
    fn ranges_parse() {
        assert_eq!("0.5..3".parse::<Range>(), Ok(Range { min: 0.5, max: 3.0 }));
        assert_eq!("2".parse::<Range>(), Ok(Range { min: 2.0, max: 2.0 }));
        assert!("3..1".parse::<Range>().is_err());
        assert!("a..b".parse::<Range>().is_err());
        assert!("0.5..3".parse::<Range>().unwrap().contains(2.0));
    }
}
