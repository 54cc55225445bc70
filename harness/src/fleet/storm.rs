//! The reconnect storm's accounting ([`StormAccount`]) and its verdict ([`StormReport`]).
//!
//! When the broker drops every board's connection at once, what reaches it next is each
//! board's first reconnect attempt, one backoff delay after the drop. With full jitter the
//! delays are spread over the backoff's window and so is the load; without jitter every
//! board comes back at the same instant (a thundering herd). The verdict looks at the
//! spread of the first delays: their interquartile range against their median (a uniform
//! spread over `[0, c]` has both at `c/2`; a herd has an interquartile range of a few
//! milliseconds of scheduling noise).
//!
//! Sans-IO: fed the boards' events after [`StormAccount::begin`], in board time; the drop
//! itself and the waiting are [`Fleet::run`](super::Fleet::run)'s.

use super::events::{BoardEvent, BoardEventKind};
use super::stats::{Distribution, percentile};
use serde::Serialize;

/// The interquartile range of the first delays must be at least this part of their median
/// for the storm to count as spread.
pub const MIN_SPREAD: f64 = 0.25;
/// Fewer boards than this back after the drop is too few to judge.
pub const MIN_BOARDS: usize = 4;

/// One board through the storm (fleet times, ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StormRecord {
    dropped: Option<u64>,
    first_retry: Option<u64>,
    back: Option<u64>,
    streaming: Option<u64>,
}

/// Each board's drop, first retry and return; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct StormAccount {
    boards: Vec<StormRecord>,
    begun: bool,
    /// Every connection attempt after the drop (fleet ms), as the broker receives them.
    attempts: Vec<u64>,
    /// Every accepted CONNACK after the drop (fleet ms).
    connacks: Vec<u64>,
}

/// Whether the boards' first retries were spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StormVerdict {
    /// Spread over the backoff window: jitter.
    Spread,
    /// All at once: no jitter.
    Herd,
    /// Too few boards came back to judge.
    Inconclusive,
}

/// What the storm showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StormReport {
    /// Boards whose connection the drop closed.
    pub dropped: usize,
    /// Of those, the boards connected again.
    pub reconnected: usize,
    /// Drop to first reconnect attempt (the first backoff delay), board time.
    pub first_retry_delay: Option<Distribution>,
    /// Drop to CONNACK, board time.
    pub time_to_reconnect: Option<Distribution>,
    /// Drop to the first telemetry on the new connection, board time.
    pub time_to_streaming: Option<Distribution>,
    /// Of the dropped boards, those streaming telemetry again.
    pub streaming: usize,
    /// When the first board was dropped: fleet ms from [`StormAccount`]; board ms since
    /// the power-on in a [`FleetReport`](super::FleetReport).
    pub dropped_at_ms: Option<u64>,
    /// From the first drop to the last dropped board streaming again, board ms; none
    /// while a dropped board is not streaming.
    pub all_streaming_ms: Option<u64>,
    /// The most connection attempts within one second of board time after the drop: the
    /// peak connection rate the broker saw, per second.
    pub peak_attempts_per_s: usize,
    /// The most accepted connections (CONNACK) within one second of board time.
    pub peak_connacks_per_s: usize,
    /// From the first board's first retry to the last board's, board ms.
    pub retry_window_ms: u64,
    /// The most first retries within 100 ms of board time (a herd puts them all there).
    pub peak_retries_in_100ms: usize,
    /// The verdict.
    pub verdict: StormVerdict,
    /// Why, in a sentence.
    pub reason: String,
}

impl StormAccount {
    /// No storm yet for `boards` boards.
    pub fn new(boards: usize) -> Self {
        StormAccount {
            boards: vec![StormRecord::default(); boards],
            begun: false,
            attempts: Vec::new(),
            connacks: Vec::new(),
        }
    }

    /// The drop is made now: each board's next close after CONNACK is its drop.
    pub fn begin(&mut self) {
        self.begun = true;
    }

    /// Feeds a board's event (ignored before [`StormAccount::begin`]).
    pub fn record(&mut self, event: &BoardEvent) {
        let Some(record) = event.board.and_then(|b| self.boards.get_mut(b)) else {
            return;
        };
        if !self.begun {
            return;
        }
        let t = event.t_ms;
        match &event.kind {
            BoardEventKind::Connecting { .. } => self.attempts.push(t),
            BoardEventKind::Connack { accepted: true } => self.connacks.push(t),
            _ => {}
        }
        match (&event.kind, record.dropped) {
            (
                BoardEventKind::Closed {
                    connected: true, ..
                },
                None,
            ) => record.dropped = Some(t),
            (BoardEventKind::Connecting { .. }, Some(_)) if record.first_retry.is_none() => {
                record.first_retry = Some(t);
            }
            (BoardEventKind::Connack { accepted: true }, Some(_)) if record.back.is_none() => {
                record.back = Some(t);
            }
            (BoardEventKind::TelemetryResumed, Some(_)) if record.streaming.is_none() => {
                record.streaming = Some(t);
            }
            _ => {}
        }
    }

    /// Boards dropped so far.
    pub fn dropped(&self) -> usize {
        self.boards.iter().filter(|b| b.dropped.is_some()).count()
    }

    /// Boards back so far.
    pub fn reconnected(&self) -> usize {
        self.boards.iter().filter(|b| b.back.is_some()).count()
    }

    /// Boards streaming telemetry again so far.
    pub fn streaming(&self) -> usize {
        self.boards.iter().filter(|b| b.streaming.is_some()).count()
    }

    /// Are `expected` boards dropped and every dropped board back and streaming?
    pub fn settled(&self, expected: usize) -> bool {
        let dropped = self.dropped();
        dropped >= expected && self.reconnected() == dropped && self.streaming() == dropped
    }

    /// The figures and the verdict.
    pub fn report(&self) -> StormReport {
        let delays: Vec<u64> = self
            .boards
            .iter()
            .filter_map(|b| Some(b.first_retry?.saturating_sub(b.dropped?)))
            .collect();
        let back: Vec<u64> = self
            .boards
            .iter()
            .filter_map(|b| Some(b.back?.saturating_sub(b.dropped?)))
            .collect();
        let streaming: Vec<u64> = self
            .boards
            .iter()
            .filter_map(|b| Some(b.streaming?.saturating_sub(b.dropped?)))
            .collect();
        let dropped = self.dropped();
        let first_drop = self.boards.iter().filter_map(|b| b.dropped).min();
        let last_streaming = self.boards.iter().filter_map(|b| b.streaming).max();
        let all_streaming_ms = match (first_drop, last_streaming) {
            (Some(drop), Some(last)) if dropped > 0 && streaming.len() == dropped => {
                Some(last.saturating_sub(drop))
            }
            _ => None,
        };
        let sorted = |times: &[u64]| {
            let mut times = times.to_vec();
            times.sort_unstable();
            times
        };
        let mut retries: Vec<u64> = self.boards.iter().filter_map(|b| b.first_retry).collect();
        retries.sort_unstable();
        let (verdict, reason) = verdict(&delays);
        StormReport {
            dropped: self.dropped(),
            reconnected: back.len(),
            first_retry_delay: Distribution::of(&delays),
            time_to_reconnect: Distribution::of(&back),
            time_to_streaming: Distribution::of(&streaming),
            streaming: streaming.len(),
            dropped_at_ms: first_drop,
            all_streaming_ms,
            peak_attempts_per_s: most_within(&sorted(&self.attempts), 1000),
            peak_connacks_per_s: most_within(&sorted(&self.connacks), 1000),
            retry_window_ms: match (retries.first(), retries.last()) {
                (Some(first), Some(last)) => last - first,
                _ => 0,
            },
            peak_retries_in_100ms: most_within(&retries, 100),
            verdict,
            reason,
        }
    }
}

/// The verdict on the first retry delays; see the module documentation.
fn verdict(delays: &[u64]) -> (StormVerdict, String) {
    if delays.len() < MIN_BOARDS {
        return (
            StormVerdict::Inconclusive,
            format!(
                "{} board(s) retried after the drop; at least {MIN_BOARDS} are needed to judge",
                delays.len()
            ),
        );
    }
    let mut sorted = delays.to_vec();
    sorted.sort_unstable();
    let (p25, median, p75) = (
        percentile(&sorted, 25),
        percentile(&sorted, 50),
        percentile(&sorted, 75),
    );
    let iqr = p75 - p25;
    if iqr as f64 >= MIN_SPREAD * median as f64 {
        (
            StormVerdict::Spread,
            format!(
                "the first retries spread: interquartile range {iqr} ms around a median of \
                 {median} ms (jitter)"
            ),
        )
    } else {
        (
            StormVerdict::Herd,
            format!(
                "{} boards came back as a herd: their first retries' interquartile range is \
                 {iqr} ms around a median of {median} ms, under {:.0}% of it (no jitter)",
                delays.len(),
                MIN_SPREAD * 100.0
            ),
        )
    }
}

/// The most values of `sorted` (ascending) within any span of `window`.
fn most_within(sorted: &[u64], window: u64) -> usize {
    let mut most = 0;
    let mut start = 0;
    for (end, &value) in sorted.iter().enumerate() {
        while value - sorted[start] >= window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped_and_back(storm: &mut StormAccount, board: usize, at: u64, delay: u64) {
        let closed = BoardEventKind::Closed {
            reason: "closed by the server".into(),
            connected: true,
        };
        storm.record(&BoardEvent::of(board, at, closed));
        storm.record(&BoardEvent::of(
            board,
            at + delay,
            BoardEventKind::Connecting { attempt: 1 },
        ));
        storm.record(&BoardEvent::of(
            board,
            at + delay + 20,
            BoardEventKind::Connack { accepted: true },
        ));
        storm.record(&BoardEvent::of(
            board,
            at + delay + 30,
            BoardEventKind::TelemetryResumed,
        ));
    }

    #[test]
    fn jittered_retries_over_the_window_are_spread() {
        let mut storm = StormAccount::new(10);
        storm.begin();
        for board in 0..10 {
            dropped_and_back(&mut storm, board, 50_000, 100 * board as u64);
        }
        assert!(storm.settled(10));
        let report = storm.report();
        assert_eq!(report.verdict, StormVerdict::Spread, "{}", report.reason);
        assert_eq!((report.dropped, report.reconnected), (10, 10));
        assert_eq!(report.retry_window_ms, 900);
        assert_eq!(report.peak_retries_in_100ms, 1);
        assert_eq!(report.first_retry_delay.unwrap().max_ms, 900);
        assert_eq!(report.time_to_reconnect.unwrap().min_ms, 20);
        assert_eq!(report.time_to_streaming.unwrap().max_ms, 930);
        assert_eq!((report.streaming, report.all_streaming_ms), (10, Some(930)));
        // One attempt every 100 ms: ten within a second.
        assert_eq!(
            (report.peak_attempts_per_s, report.peak_connacks_per_s),
            (10, 10)
        );
    }

    #[test]
    fn retries_at_the_same_delay_are_a_herd() {
        let mut storm = StormAccount::new(8);
        storm.begin();
        for board in 0..8 {
            // The drop reaches the boards within a few ms; each waits exactly 1 s.
            dropped_and_back(
                &mut storm,
                board,
                50_000 + board as u64,
                1000 + board as u64 % 2,
            );
        }
        let report = storm.report();
        assert_eq!(report.verdict, StormVerdict::Herd, "{}", report.reason);
        assert!(
            report.reason.contains("8 boards came back as a herd"),
            "{}",
            report.reason
        );
        assert_eq!(report.peak_retries_in_100ms, 8);
        assert_eq!(report.peak_attempts_per_s, 8);
    }

    #[test]
    fn a_board_back_but_not_streaming_leaves_the_storm_unsettled() {
        let mut storm = StormAccount::new(2);
        storm.begin();
        dropped_and_back(&mut storm, 0, 1000, 300);
        let closed = BoardEventKind::Closed {
            reason: "closed by the server".into(),
            connected: true,
        };
        storm.record(&BoardEvent::of(1, 1000, closed));
        storm.record(&BoardEvent::of(
            1,
            1500,
            BoardEventKind::Connecting { attempt: 1 },
        ));
        storm.record(&BoardEvent::of(
            1,
            1520,
            BoardEventKind::Connack { accepted: true },
        ));
        assert!(!storm.settled(2), "board 1 streams no telemetry yet");
        let report = storm.report();
        assert_eq!((report.reconnected, report.streaming), (2, 1));
        assert_eq!(report.all_streaming_ms, None);
        storm.record(&BoardEvent::of(1, 2520, BoardEventKind::TelemetryResumed));
        assert!(storm.settled(2));
        assert_eq!(storm.report().all_streaming_ms, Some(1520));
    }

    #[test]
    fn too_few_boards_back_is_inconclusive_and_unsettled_until_all_are_back() {
        let mut storm = StormAccount::new(3);
        storm.begin();
        dropped_and_back(&mut storm, 0, 10, 500);
        let closed = BoardEventKind::Closed {
            reason: "closed by the server".into(),
            connected: true,
        };
        storm.record(&BoardEvent::of(1, 10, closed));
        assert!(!storm.settled(2), "board 1 is not back");
        assert!(!storm.settled(3), "board 2 was not dropped");
        let report = storm.report();
        assert_eq!(report.verdict, StormVerdict::Inconclusive);
        assert_eq!((report.dropped, report.reconnected), (2, 1));
    }

    #[test]
    fn events_before_the_drop_are_not_the_storms() {
        let mut storm = StormAccount::new(1);
        dropped_and_back(&mut storm, 0, 10, 500);
        assert_eq!(storm.dropped(), 0);
        storm.begin();
        // A close before CONNACK (a failed attempt) is not the drop.
        let refused = BoardEventKind::Closed {
            reason: "closed by the server".into(),
            connected: false,
        };
        storm.record(&BoardEvent::of(0, 20, refused));
        assert_eq!(storm.dropped(), 0);
    }

    #[test]
    fn the_busiest_window_is_counted_with_a_sliding_window() {
        assert_eq!(most_within(&[], 1000), 0);
        assert_eq!(most_within(&[0, 999, 1000, 1001, 5000], 1000), 3);
        assert_eq!(most_within(&[7, 7, 7], 1000), 3);
    }
}
