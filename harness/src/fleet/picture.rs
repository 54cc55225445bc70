//! The picture of a fleet run: `fleet.html`, one self-contained page (no external CSS,
//! script or font) with the run's headline figures and its charts as inline SVG: the
//! boards connected over time (the reconnect storm's drop marked), the histogram of
//! power-on to first telemetry and, with a storm, the histogram of the drop to each
//! board's first retry (a herd is one bar).
//!
//! [`render`] is a pure function of the [`FleetReport`]. The charts are drawn by plotters'
//! SVG backend; the page is built with maud, which escapes every text spliced into it (the
//! charts are inserted as markup: plotters escapes the texts it draws, which are ours).

use super::curve::CurvePoint;
use super::report::FleetReport;
use super::stats::Distribution;
use super::storm::StormVerdict;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #1f2328; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.facts dt { font-weight: bold; }
.banner { font-size: 1.3em; font-weight: bold; padding: 0.5em 1em; border-radius: 6px; color: #fff; }
.pass { background: #1a7f37; }
.fail { background: #cf222e; }
figure { margin: 1.5em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { color: #59636e; }
";

const WIDTH: u32 = 900;
const HEIGHT: u32 = 320;
const BLUE_LINE: RGBColor = RGBColor(0x1f, 0x6f, 0xeb);
const GREEN_BAR: RGBColor = RGBColor(0x2d, 0xa4, 0x4e);
const AMBER: RGBColor = RGBColor(0x9a, 0x67, 0x00);

/// Seconds, for axes.
fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The boards connected over time, a step line; a dashed line at `marker` (fleet ms).
fn connections_chart(points: &[CurvePoint], boards: usize, marker: Option<u64>) -> String {
    let mut svg = String::new();
    let end = points.last().map_or(1000, |p| p.t_ms).max(1000);
    let top = boards
        .max(points.iter().map(|p| p.connected).max().unwrap_or(0))
        .max(1);
    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("boards connected", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..secs(end) * 1.02, 0usize..top + top / 10 + 1)?;
        chart
            .configure_mesh()
            .x_desc("board time since power-on (s)")
            .y_desc("boards")
            .draw()?;
        let mut steps = vec![(0.0, 0usize)];
        for p in points {
            let last = steps.last().map_or(0, |s: &(f64, usize)| s.1);
            steps.push((secs(p.t_ms), last));
            steps.push((secs(p.t_ms), p.connected));
        }
        steps.push((secs(end), points.last().map_or(0, |p| p.connected)));
        chart.draw_series(LineSeries::new(steps, BLUE_LINE.stroke_width(2)))?;
        if let Some(at) = marker {
            let x = secs(at);
            chart.draw_series(DashedLineSeries::new(
                [(x, 0), (x, top)],
                6,
                4,
                AMBER.stroke_width(2),
            ))?;
            let label = ("sans-serif", 13)
                .into_font()
                .color(&AMBER)
                .pos(Pos::new(HPos::Right, VPos::Top));
            chart.draw_series(std::iter::once(Text::new(
                "storm: every board dropped ",
                (x, top),
                label,
            )))?;
        }
        root.present()?;
        Ok(())
    })();
    if drawn.is_err() { String::new() } else { svg }
}

/// A histogram of `distribution` (its buckets), titled `title`, on an axis from 0 to at
/// least `min_span_ms`: values that all fall in one bucket (a herd) are one narrow bar, not
/// a plot filled by a 1 ms bucket. A bar is at least 1/200 of the axis wide.
fn histogram(title: &str, x_desc: &str, distribution: &Distribution, min_span_ms: u64) -> String {
    let mut svg = String::new();
    let buckets = &distribution.histogram;
    let Some(last) = buckets.last() else {
        return svg;
    };
    let span = last.to_ms.max(min_span_ms) as f64 * 1.05;
    let min_width = span / 200.0;
    let top = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..span / 1000.0, 0usize..top + top / 10 + 1)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("boards")
            .draw()?;
        chart.draw_series(buckets.iter().map(|b| {
            let width = ((b.to_ms - b.from_ms) as f64).max(min_width);
            let mut bar = Rectangle::new(
                [
                    (secs(b.from_ms), 0),
                    (secs(b.from_ms) + width / 1000.0, b.count),
                ],
                GREEN_BAR.filled(),
            );
            bar.set_margin(0, 0, 1, 1);
            bar
        }))?;
        root.present()?;
        Ok(())
    })();
    if drawn.is_err() { String::new() } else { svg }
}

/// A chart as a figure; nothing when it could not be drawn.
fn figure(svg: String, caption: &str) -> Markup {
    html! {
        @if svg.starts_with("<svg") {
            figure { (PreEscaped(svg)) figcaption { (caption) } }
        }
    }
}

/// The page; see the module documentation.
pub fn render(report: &FleetReport) -> String {
    let tally = &report.tally;
    let boards = tally.boards;
    let passed = report.passed();
    let first = tally.time_to_first_telemetry.as_ref();
    let storm = report.storm.as_ref();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "hil fleet: " (boards) " boards" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "hil fleet: " (boards) " boards through " (report.mode) }
                p class={ "banner " (if passed { "pass" } else { "fail" }) } {
                    @if let Some(why) = report.why_failed() {
                        "FAIL: " (why)
                    } @else {
                        "PASS: " (tally.reached_telemetry) " of " (boards) " boards sent telemetry"
                    }
                }
                dl class="facts" {
                    dt { "clock" } dd { "speed " (report.speed) " (board time)" }
                    @if !report.flaws.is_empty() {
                        dt { "flaws" } dd { (report.flaws.join(", ")) }
                    }
                    @if let Some(d) = first {
                        dt { "power-on → first telemetry" }
                        dd { "p50 " (secs(d.p50_ms)) " s, p99 " (secs(d.p99_ms)) " s, max " (secs(d.max_ms)) " s" }
                    }
                    @if let Some(activations) = report.activations {
                        dt { "JITR activations" } dd { (activations) }
                    }
                    @if let Some(p) = report.partition {
                        dt { "partition" }
                        dd { "slice " (p.index) "/" (p.count) " of " (p.fleet_boards) " boards, from board " (p.first_board) }
                    }
                    @if !report.broker_observed {
                        dt { "broker" }
                        dd { "an external endpoint: its side (refusals, registrations, activations, its CPU) is not seen" }
                    }
                    @if let Some(s) = storm {
                        @if let Some(d) = &s.time_to_reconnect {
                            dt { "storm: drop → connected" }
                            dd { "p50 " (secs(d.p50_ms)) " s, max " (secs(d.max_ms)) " s" }
                        }
                        @if let Some(ms) = s.all_streaming_ms {
                            dt { "storm: every board streaming again" }
                            dd { (secs(ms)) " s after the drop" }
                        }
                        dt { "reconnect storm" }
                        dd {
                            (s.dropped) " dropped, " (s.reconnected) " back, "
                            (s.streaming) " streaming again; peak "
                            (s.peak_attempts_per_s) " connection attempts in a second; "
                            (match s.verdict {
                                StormVerdict::Spread => "spread (jitter)",
                                StormVerdict::Herd => "HERD (no jitter)",
                                StormVerdict::Inconclusive => "inconclusive",
                            })
                        }
                    }
                }
                (figure(
                    connections_chart(&report.connections, boards, storm.and_then(|s| s.dropped_at_ms)),
                    "Boards connected (CONNACK until the connection closed), board time.",
                ))
                @if let Some(d) = first {
                    (figure(
                        histogram("power-on → first telemetry", "board time (s)", d, 0),
                        "How long each board took from power-on to its first telemetry message.",
                    ))
                }
                @if let Some(d) = storm.and_then(|s| s.first_retry_delay.as_ref()) {
                    (figure(
                        histogram("reconnect storm: drop → first retry", "board time after the drop (s)", d, 1000),
                        "Each board's first reconnect attempt after the broker dropped them all: spread by jitter, or one bar (a herd).",
                    ))
                }
            }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::account::Accounting;
    use crate::fleet::report::{FleetProcessFigures, ProcessFigures, WallTimes};
    use crate::fleet::{BoardEvent, BoardEventKind, StormAccount, StormReport, Tally};

    fn report(storm: Option<StormReport>) -> FleetReport {
        let accounting = Accounting::new(3);
        FleetReport {
            mode: "jitr".into(),
            speed: 1.0,
            flaws: Vec::new(),
            tally: Tally {
                time_to_first_telemetry: Distribution::of(&[2100, 2300, 2300]),
                reached_telemetry: 3,
                failed: 0,
                ..accounting.tally()
            },
            partition: None,
            broker_observed: true,
            activations: Some(3),
            storm,
            connections: vec![
                CurvePoint {
                    t_ms: 2000,
                    connected: 1,
                },
                CurvePoint {
                    t_ms: 2200,
                    connected: 3,
                },
                CurvePoint {
                    t_ms: 40_000,
                    connected: 0,
                },
                CurvePoint {
                    t_ms: 40_600,
                    connected: 3,
                },
            ],
            wall: WallTimes::default(),
            broker_process: ProcessFigures::default(),
            fleet_process: FleetProcessFigures::default(),
            tap_events_lost: 0,
            per_board: accounting.boards().to_vec(),
        }
    }

    /// Three boards dropped at 40 s, each retrying exactly 1 s later: a herd.
    fn herd() -> StormReport {
        let mut storm = StormAccount::new(4);
        storm.begin();
        for board in 0..4 {
            let event = |t_ms, kind| BoardEvent::of(board, t_ms, kind);
            let closed = BoardEventKind::Closed {
                reason: "closed by the server".into(),
                connected: true,
            };
            storm.record(&event(40_000, closed));
            storm.record(&event(41_000, BoardEventKind::Connecting { attempt: 1 }));
        }
        storm.report()
    }

    #[test]
    fn the_page_holds_the_connections_and_the_first_telemetry_charts() {
        let page = render(&report(None));
        assert!(
            page.contains("PASS: 3 of 3 boards sent telemetry"),
            "{page}"
        );
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert_eq!(page.matches("<svg").count(), 2, "{page}");
        assert!(page.contains("boards connected"), "{page}");
        assert!(page.contains("power-on → first telemetry"), "{page}");
        assert!(!page.contains("storm"), "no storm, no storm chart: {page}");
    }

    #[test]
    fn a_storm_adds_its_marker_its_histogram_and_its_verdict() {
        let storm = herd();
        assert_eq!(storm.verdict, StormVerdict::Herd, "{}", storm.reason);
        assert_eq!(storm.dropped_at_ms, Some(40_000));
        let page = render(&report(Some(storm)));
        assert_eq!(page.matches("<svg").count(), 3, "{page}");
        assert!(page.contains("storm: every board dropped"), "{page}");
        assert!(page.contains("HERD (no jitter)"), "{page}");
        assert!(
            page.contains(r#"class="banner fail""#),
            "a herd fails: {page}"
        );
        // These boards never came back: that is said first.
        assert!(
            page.contains("FAIL: after the storm 0 of 4 dropped boards stream again"),
            "{page}"
        );
    }

    #[test]
    fn flaws_are_escaped_text() {
        let mut report = report(None);
        report.flaws = vec!["<script>".into()];
        let page = render(&report);
        assert!(
            page.contains("&lt;script&gt;") && !page.contains("<script>"),
            "{page}"
        );
    }
}
