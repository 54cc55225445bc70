//! The LED observer: live tracks of a board's LEDs, fed by its backend, and the waiting
//! queries scenarios use.
//!
//! A backend calls [`LedObserver::record`] for every level it sees (a probe's register
//! poll), or [`LedObserver::record_at`] with the board's own time of the edge (an
//! emulator's edge event); the observer stamps it on the [`Timeline`], keeps the
//! [`LedTrack`] and wakes waiters. The queries wait for edges or for the end of a window,
//! with a timeout, and decide with [`LedTrack`]'s pure functions.
//!
//! Every time here is board time (the timeline's): a rate or a hold is judged on the
//! board's clock whatever the rig's speed. An edge stamped by the board arrives a moment
//! after it happened (at speed 20, a delivery delay of 5 ms is 100 ms of board time), so
//! a backend that can tell when every edge so far has arrived gives the observer an
//! [`EdgeSync`], and each query waits for it before it decides.

use crate::led::{Edge, LedTrack, Pattern};
use crate::timeline::{Timeline, What};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a level must last to count as solid when none is given (board time).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

/// A barrier on a board's edge stream: when [`EdgeSync::sync`] returns, every edge the
/// board made before the call has been recorded (an emulated board answers a control
/// request only after the edges it made before it).
#[async_trait::async_trait]
pub trait EdgeSync: Send + Sync + std::fmt::Debug {
    /// Returns once every edge made before the call is recorded; an error when the board
    /// cannot say (the queries then decide on what they have).
    async fn sync(&self) -> Result<(), String>;
}

#[derive(Debug)]
struct Shared {
    tracks: Mutex<BTreeMap<String, LedTrack>>,
    changed: Notify,
    sync: Mutex<Option<Arc<dyn EdgeSync>>>,
}

/// A board's LEDs as observed; cheap to clone.
#[derive(Debug, Clone)]
pub struct LedObserver {
    board: String,
    timeline: Arc<Timeline>,
    shared: Arc<Shared>,
}

/// A query that did not come true in time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("led {led}: expected {expected}, saw {seen}")]
pub struct LedMismatch {
    /// LED.
    pub led: String,
    /// What was expected.
    pub expected: String,
    /// What the LED did instead.
    pub seen: String,
    /// When the query gave up, on the timeline.
    pub at: Duration,
}

impl LedObserver {
    /// An observer of `leds` (all dark at first) on `board`.
    pub fn new(board: &str, timeline: Arc<Timeline>, leds: &[&str]) -> Self {
        let tracks = leds
            .iter()
            .map(|l| (l.to_string(), LedTrack::new(false)))
            .collect();
        LedObserver {
            board: board.to_owned(),
            timeline,
            shared: Arc::new(Shared {
                tracks: Mutex::new(tracks),
                changed: Notify::new(),
                sync: Mutex::new(None),
            }),
        }
    }

    /// Makes every query wait for `sync` before it decides. A later call replaces it (a
    /// board restarted with a new edge source: a QEMU power cycle's new LED poller).
    pub fn set_sync(&self, sync: Arc<dyn EdgeSync>) {
        if let Ok(mut slot) = self.shared.sync.lock() {
            *slot = Some(sync);
        }
    }

    /// Waits until every edge the board made so far is recorded, if the backend can tell.
    async fn edges_in(&self) {
        let sync = self.shared.sync.lock().ok().and_then(|slot| slot.clone());
        if let Some(sync) = sync {
            let _ = sync.sync().await;
        }
    }

    fn tracks(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LedTrack>> {
        self.shared.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a note about this board's LEDs on the timeline (a register that could not be
    /// read, and when it could again).
    pub fn note(&self, text: String) {
        self.timeline.record(What::Action {
            text: format!("{} leds: {text}", self.board),
        });
    }

    /// Records a level seen now; an edge goes on the timeline.
    pub fn record(&self, led: &str, on: bool) {
        self.record_edge(led, on, None);
    }

    /// Records a level the board had from board time `at` (its own stamp, mapped onto
    /// the timeline; never later than now); an edge goes on the timeline.
    pub fn record_at(&self, led: &str, on: bool, at: Duration) {
        self.record_edge(led, on, Some(at));
    }

    fn record_edge(&self, led: &str, on: bool, at: Option<Duration>) {
        let mut tracks = self.tracks();
        let track = tracks.entry(led.to_owned()).or_default();
        if track.level_at(Duration::MAX) == on {
            return;
        }
        let what = What::Led {
            board: self.board.clone(),
            led: led.to_owned(),
            on,
        };
        let at = match at {
            Some(at) => self.timeline.record_at(at, what),
            None => self.timeline.record(what),
        };
        track.record(at, on);
        drop(tracks);
        self.shared.changed.notify_waiters();
    }

    /// A copy of one LED's track.
    pub fn track(&self, led: &str) -> Option<LedTrack> {
        self.tracks().get(led).cloned()
    }

    /// The LED names observed.
    pub fn names(&self) -> Vec<String> {
        self.tracks().keys().cloned().collect()
    }

    /// Is `led` lit now?
    pub fn is_on(&self, led: &str) -> bool {
        self.track(led).is_some_and(|t| t.level_at(Duration::MAX))
    }

    fn now(&self) -> Duration {
        self.timeline.now()
    }

    fn mismatch(&self, led: &str, expected: String, since: Duration) -> LedMismatch {
        let now = self.now();
        let seen = self.track(led).map_or_else(
            || "no such LED".to_owned(),
            |t| t.classify(since, now).to_string(),
        );
        LedMismatch {
            led: led.to_owned(),
            expected,
            seen,
            at: now,
        }
    }

    /// Waits until `led` has been solidly `on` (or off) for `settle`, for at most
    /// `within` (both board time); a blinking LED does not count. Returns when it became
    /// solid.
    pub async fn wait_solid(
        &self,
        led: &str,
        on: bool,
        settle: Duration,
        within: Duration,
    ) -> Result<Duration, LedMismatch> {
        let since = self.now();
        let deadline = since + within;
        let expected = format!("solid {} within {within:?}", if on { "on" } else { "off" });
        loop {
            let notified = self.shared.changed.notified();
            let now = self.now();
            let until = now.min(deadline);
            let track = self
                .track(led)
                .ok_or_else(|| self.mismatch(led, expected.clone(), since))?;
            if track.solid_since(on, since, settle, until).is_some() || now >= deadline {
                // Decide on every edge made until now: one may still be on its way.
                self.edges_in().await;
                let track = self
                    .track(led)
                    .ok_or_else(|| self.mismatch(led, expected.clone(), since))?;
                if let Some(at) = track.solid_since(on, since, settle, until) {
                    return Ok(at);
                }
                if now >= deadline {
                    return Err(self.mismatch(led, expected, since));
                }
                continue;
            }
            // Next moment the answer can change without an edge: the current level's
            // settle time, or the deadline.
            let wake = match track.last_change(now) {
                Some(changed) if track.level_at(now) == on => {
                    (changed + settle).max(since + settle)
                }
                None if track.level_at(now) == on => since + settle,
                _ => deadline,
            }
            .clamp(now, deadline);
            tokio::select! {
                _ = notified => {}
                _ = self.timeline.sleep_until(wake) => {}
            }
        }
    }

    /// Checks that `led` stays `on` (or off) for `hold` (board time), from now: from the
    /// moment every edge made before the call is recorded, so a board that samples its
    /// LEDs (a register polled every few milliseconds) is judged from a level it has read
    /// after the call, not from the one before it.
    pub async fn wait_held(&self, led: &str, on: bool, hold: Duration) -> Result<(), LedMismatch> {
        self.edges_in().await;
        let from = self.now();
        let to = from + hold;
        let expected = format!("{} for {hold:?}", if on { "on" } else { "off" });
        loop {
            let notified = self.shared.changed.notified();
            let now = self.now();
            let track = self
                .track(led)
                .ok_or_else(|| self.mismatch(led, expected.clone(), from))?;
            if now >= to || track.held(on, from, to.min(now)).is_err() {
                // Decide on every edge made until now: one still on its way may end the
                // hold, or show the LED was right at the start after all.
                self.edges_in().await;
                let track = self
                    .track(led)
                    .ok_or_else(|| self.mismatch(led, expected.clone(), from))?;
                match track.held(on, from, to.min(now)) {
                    Err(Edge { at, on: level }) => {
                        return Err(LedMismatch {
                            led: led.to_owned(),
                            expected,
                            seen: format!(
                                "{} at {:.3}s",
                                if level { "on" } else { "off" },
                                at.as_secs_f64()
                            ),
                            at: now,
                        });
                    }
                    Ok(()) if now >= to => return Ok(()),
                    Ok(()) => {}
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = self.timeline.sleep_until(to) => {}
            }
        }
    }

    /// Watches `led` for `window` (board time) and says what it showed.
    pub async fn observe(&self, led: &str, window: Duration) -> Pattern {
        let from = self.now();
        let to = from + window;
        self.timeline.sleep_until(to).await;
        self.edges_in().await;
        self.track(led)
            .map_or(Pattern::Irregular, |t| t.classify(from, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::RigClock;

    #[tokio::test(start_paused = true)]
    async fn waits_follow_recorded_edges() {
        let timeline = Timeline::new();
        let leds = LedObserver::new("dut", timeline, &["blue"]);
        let feeder = leds.clone();
        tokio::spawn(async move {
            for i in 0..8 {
                feeder.record("blue", i % 2 == 0);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            feeder.record("blue", true);
        });
        // Blinking first, solid from about 2 s: not solid before then.
        let settle = Duration::from_millis(600);
        let err = leds
            .wait_solid("blue", true, settle, Duration::from_millis(1500))
            .await
            .unwrap_err();
        assert_eq!(err.led, "blue");
        let _ = leds
            .wait_solid("blue", true, settle, Duration::from_secs(5))
            .await
            .unwrap();
        leds.wait_held("blue", true, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(
            leds.wait_held("blue", false, Duration::from_secs(1))
                .await
                .is_err()
        );
        assert!(
            leds.wait_solid("purple", true, settle, Duration::from_millis(10))
                .await
                .is_err()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_speed_20_rates_and_holds_are_judged_in_board_time() {
        let timeline = Timeline::with_clock(RigClock::new(20.0).unwrap());
        let leds = LedObserver::new("dut", timeline.clone(), &["green", "red"]);
        let feeder = leds.clone();
        // 2 Hz on the board's clock: an edge every 250 ms of board time (12.5 ms of wall
        // time), each stamped by the board and delivered 0 to 2 ms of wall time late (up to
        // 40 ms of board time, a sixth of a half period).
        let clock = timeline.clone();
        tokio::spawn(async move {
            for i in 0..40u64 {
                let at = Duration::from_millis(250 * i);
                let late = Duration::from_millis((i * 7) % 3);
                tokio::time::sleep_until(clock.instant(at) + late).await;
                feeder.record_at("green", i % 2 == 0, at);
            }
        });
        let start = tokio::time::Instant::now();
        let pattern = leds.observe("green", Duration::from_secs(4)).await;
        assert_eq!(pattern, Pattern::Blinking { hz: 2.0, duty: 0.5 });
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "4 s of board time"
        );

        let start = tokio::time::Instant::now();
        leds.wait_held("red", false, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        let err = leds
            .wait_held("green", true, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(err.seen.starts_with("off at "), "{}", err.seen);
    }

    /// An edge on its way: recorded only when the board is asked for its edges.
    #[derive(Debug)]
    struct InFlight {
        edge: Mutex<Option<(LedObserver, &'static str, bool, Duration)>>,
    }

    #[async_trait::async_trait]
    impl EdgeSync for InFlight {
        async fn sync(&self) -> Result<(), String> {
            let edge = self.edge.lock().unwrap().take();
            if let Some((leds, led, on, at)) = edge {
                leds.record_at(led, on, at);
            }
            Ok(())
        }
    }

    fn in_flight(leds: &LedObserver, led: &'static str, on: bool, at: Duration) {
        let edge = Mutex::new(Some((leds.clone(), led, on, at)));
        leds.set_sync(Arc::new(InFlight { edge }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_is_decided_with_the_edges_still_on_their_way() {
        let timeline = Timeline::with_clock(RigClock::new(20.0).unwrap());
        let leds = LedObserver::new("dut", timeline, &["red"]);
        leds.record("red", true);
        // Went dark at 0.5 s of board time; at 0.6 s the edge is on its way, and the
        // harness hears of it only when it asks.
        let board = leds.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            in_flight(&board, "red", false, Duration::from_millis(500));
        });
        let err = leds
            .wait_held("red", true, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.seen, "off at 0.500s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_level_that_ended_on_the_way_is_not_solid() {
        let timeline = Timeline::with_clock(RigClock::new(20.0).unwrap());
        let leds = LedObserver::new("dut", timeline, &["red"]);
        leds.record("red", true);
        tokio::time::advance(Duration::from_millis(100)).await;
        // Lit for 2 s of board time as far as the harness knows, but dark since 1.9 s.
        in_flight(&leds, "red", false, Duration::from_millis(1900));
        let err = leds
            .wait_solid("red", true, DEFAULT_SETTLE, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.expected, "solid on within 1s");
        assert_eq!(err.seen, "off");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_that_began_on_the_way_is_not_a_failure() {
        let timeline = Timeline::with_clock(RigClock::new(20.0).unwrap());
        let leds = LedObserver::new("dut", timeline, &["yellow"]);
        tokio::time::advance(Duration::from_millis(100)).await;
        // Lit at 1.9 s of board time (a shadow toggle), the harness not told yet at 2 s.
        in_flight(&leds, "yellow", true, Duration::from_millis(1900));
        leds.wait_held("yellow", true, Duration::from_secs(1))
            .await
            .unwrap();
    }
}
