//! How many boards of a fleet are connected over time ([`ConnectionCurve`]), for the
//! picture of a run (`picture`) and `fleet.json`.
//!
//! Sans-IO: fed the boards' events in board time. A board counts as connected from its
//! accepted CONNACK until its connection closes (`closed` after CONNACK) or it drops the
//! connection itself (`gave_up`).

use super::events::{BoardEvent, BoardEventKind};
use serde::Serialize;

/// Most points [`ConnectionCurve::points`] gives: a thousand boards make thousands of
/// changes, more than a picture can show.
pub const MAX_POINTS: usize = 2000;

/// The count of connected boards from a time on: fleet ms from [`ConnectionCurve`], board
/// ms since the power-on in a [`FleetReport`](super::FleetReport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CurvePoint {
    /// Fleet time, ms (board time).
    pub t_ms: u64,
    /// Boards connected from then on.
    pub connected: usize,
}

/// The connected boards' count after each change; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct ConnectionCurve {
    connected: Vec<bool>,
    count: usize,
    points: Vec<CurvePoint>,
}

impl ConnectionCurve {
    /// No board connected yet, of `boards`.
    pub fn new(boards: usize) -> Self {
        ConnectionCurve {
            connected: vec![false; boards],
            ..Default::default()
        }
    }

    /// Feeds a board's event.
    pub fn record(&mut self, event: &BoardEvent) {
        let Some(connected) = event.board.and_then(|b| self.connected.get_mut(b)) else {
            return;
        };
        let now = match &event.kind {
            BoardEventKind::Connack { accepted: true } => true,
            BoardEventKind::Closed { .. } | BoardEventKind::GaveUp { .. } => false,
            _ => return,
        };
        if *connected == now {
            return;
        }
        *connected = now;
        if now {
            self.count += 1;
        } else {
            self.count -= 1;
        }
        match self.points.last_mut() {
            Some(last) if last.t_ms == event.t_ms => last.connected = self.count,
            _ => self.points.push(CurvePoint {
                t_ms: event.t_ms,
                connected: self.count,
            }),
        }
    }

    /// The changes, thinned to at most [`MAX_POINTS`]: of the changes within one slice of
    /// the run, the one with the fewest and the one with the most boards connected are
    /// kept, so dips and peaks stay visible; the last change is always kept.
    pub fn points(&self) -> Vec<CurvePoint> {
        let points = &self.points;
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return Vec::new();
        };
        if points.len() <= MAX_POINTS {
            return points.clone();
        }
        let slices = (MAX_POINTS / 2) as u64;
        let span = (last.t_ms - first.t_ms).max(1);
        let slice_of = |p: &CurvePoint| ((p.t_ms - first.t_ms) * slices / span).min(slices - 1);
        let mut kept: Vec<CurvePoint> = Vec::with_capacity(MAX_POINTS + 1);
        let mut i = 0;
        while i < points.len() {
            let slice = slice_of(&points[i]);
            let mut j = i;
            while j < points.len() && slice_of(&points[j]) == slice {
                j += 1;
            }
            let group = &points[i..j];
            let low = group.iter().min_by_key(|p| p.connected).copied();
            let high = group.iter().max_by_key(|p| p.connected).copied();
            let mut pair: Vec<CurvePoint> = low.into_iter().chain(high).collect();
            pair.sort_by_key(|p| p.t_ms);
            pair.dedup();
            kept.extend(pair);
            i = j;
        }
        if kept.last() != Some(last) {
            kept.push(*last);
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connack(board: usize, t_ms: u64) -> BoardEvent {
        BoardEvent::of(board, t_ms, BoardEventKind::Connack { accepted: true })
    }

    fn closed(board: usize, t_ms: u64) -> BoardEvent {
        let kind = BoardEventKind::Closed {
            reason: "closed by the server".into(),
            connected: true,
        };
        BoardEvent::of(board, t_ms, kind)
    }

    #[test]
    fn the_count_follows_connacks_and_closes() {
        let mut curve = ConnectionCurve::new(3);
        for e in [
            connack(0, 100),
            connack(1, 100),
            connack(2, 250),
            closed(1, 400),
            // A refused CONNACK and a second close change nothing.
            BoardEvent::of(1, 450, BoardEventKind::Connack { accepted: false }),
            closed(1, 460),
            BoardEvent::of(
                0,
                500,
                BoardEventKind::GaveUp {
                    reason: "keep-alive".into(),
                },
            ),
            connack(1, 900),
        ] {
            curve.record(&e);
        }
        let points: Vec<(u64, usize)> = curve
            .points()
            .iter()
            .map(|p| (p.t_ms, p.connected))
            .collect();
        assert_eq!(points, [(100, 2), (250, 3), (400, 2), (500, 1), (900, 2)]);
    }

    #[test]
    fn a_long_curve_is_thinned_keeping_its_dips_and_its_end() {
        let mut curve = ConnectionCurve::new(1);
        // 3000 flaps, 1 ms apart, then a last connection much later.
        for i in 0..3000u64 {
            curve.record(&connack(0, i * 2));
            curve.record(&closed(0, i * 2 + 1));
        }
        curve.record(&connack(0, 100_000));
        let points = curve.points();
        assert!(points.len() <= MAX_POINTS + 1, "{}", points.len());
        assert!(points.iter().any(|p| p.connected == 0));
        assert!(points.iter().any(|p| p.connected == 1));
        assert_eq!(
            points.last(),
            Some(&CurvePoint {
                t_ms: 100_000,
                connected: 1
            })
        );
        assert!(points.windows(2).all(|w| w[0].t_ms < w[1].t_ms));
    }
}
