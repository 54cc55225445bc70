//! The timeline as an SVG picture, like a logic analyser: one track per board LED (lit
//! periods drawn in the LED's colour), a row of step markers (with the steps' notes: a
//! warning in amber), and a row of message markers
//! (publishes in and out, broker events), on one time axis: board time, the rig's clock
//! (entries' `at`), so a blink looks the same at any speed.
//!
//! [`render`] is a pure function of the timeline entries; the runner writes its output to
//! `target/hil/<scenario>/timeline.svg`, and `hil qualify` inlines it in its HTML report:
//! every text from the timeline is escaped, and the picture scales (`viewBox`).

use crate::timeline::{Entry, What};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

const LEFT: f64 = 140.0;
const WIDTH: f64 = 1200.0;
const TRACK: f64 = 26.0;

fn colour(led: &str) -> &'static str {
    match led {
        "blue" => "#1f6feb",
        "green" => "#2da44e",
        "yellow" => "#d4a72c",
        "red" => "#cf222e",
        _ => "#6e7781",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders `entries` (in the order they were recorded) as an SVG document.
pub fn render(title: &str, entries: &[Entry]) -> String {
    // The latest time, not the last entry's: an LED edge stamped by its board can be a
    // little earlier than the entry before it.
    let end = entries
        .iter()
        .map(|e| e.at)
        .max()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100));
    let x = |t: Duration| LEFT + WIDTH * t.as_secs_f64() / end.as_secs_f64();

    // LED tracks: (board, led) -> lit intervals.
    let mut tracks: BTreeMap<(String, String), Vec<(Duration, Duration)>> = BTreeMap::new();
    let mut lit_since: BTreeMap<(String, String), Duration> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut messages = Vec::new();
    for entry in entries {
        match &entry.what {
            What::Led { board, led, on } => {
                let key = (board.clone(), led.clone());
                tracks.entry(key.clone()).or_default();
                if *on {
                    lit_since.entry(key).or_insert(entry.at);
                } else if let Some(start) = lit_since.remove(&key) {
                    tracks.entry(key).or_default().push((start, entry.at));
                }
            }
            What::Step {
                index,
                text,
                status,
            } if status != "started" => {
                let colour = if status == "failed" {
                    "#cf222e"
                } else {
                    "#57606a"
                };
                steps.push((entry.at, format!("{index}. {text} {status}"), colour));
            }
            What::Note { text, warning } => {
                let (label, colour) = if *warning {
                    ("warning", "#bf8700")
                } else {
                    ("note", "#2da44e")
                };
                steps.push((entry.at, format!("{label}: {text}"), colour));
            }
            What::Broker { event } => {
                let kind = event["event"].as_str().unwrap_or_default();
                if matches!(
                    kind,
                    "publish_in"
                        | "broker_publish"
                        | "observed_publish"
                        | "tls_rejected"
                        | "closed"
                ) {
                    let topic = event["topic"]
                        .as_str()
                        .or(event["reason"].as_str())
                        .unwrap_or(kind);
                    messages.push((entry.at, format!("{kind}: {topic}")));
                }
            }
            What::Client { client, event } => {
                let kind = event["event"].as_str().unwrap_or_default();
                if matches!(kind, "received" | "closed" | "refused") {
                    let detail = event["topic"]
                        .as_str()
                        .or(event["reason"].as_str())
                        .unwrap_or(kind);
                    messages.push((entry.at, format!("{client} {kind}: {detail}")));
                }
            }
            _ => {}
        }
    }
    for (key, start) in lit_since {
        tracks.entry(key).or_default().push((start, end));
    }

    let rows = tracks.len() + 2;
    let height = 40.0 + TRACK * rows as f64 + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{height}" viewBox="0 0 {0} {height}" font-family="monospace" font-size="11">"#,
        LEFT + WIDTH + 20.0
    );
    let _ = writeln!(svg, r#"<title>{}</title>"#, escape(title));
    let _ = writeln!(
        svg,
        r#"<text x="8" y="18" font-size="13">{}</text>"#,
        escape(title)
    );
    let mut y = 40.0;
    for ((board, led), intervals) in &tracks {
        let _ = writeln!(
            svg,
            r#"<g class="led" data-led="{0}"><text x="8" y="{1}">{2} {0}</text>"#,
            escape(led),
            y + 15.0,
            escape(board)
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#d0d7de"/>"##,
            y + 18.0,
            LEFT + WIDTH,
            y + 18.0
        );
        for (from, to) in intervals {
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{}" width="{:.1}" height="14" fill="{}"/>"#,
                x(*from),
                y + 4.0,
                (x(*to) - x(*from)).max(0.5),
                colour(led)
            );
        }
        let _ = writeln!(svg, "</g>");
        y += TRACK;
    }
    let _ = writeln!(
        svg,
        r#"<g class="steps"><text x="8" y="{}">steps</text>"#,
        y + 15.0
    );
    for (at, text, stroke) in &steps {
        let _ = writeln!(
            svg,
            r#"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="{stroke}"><title>{3}</title></line>"#,
            x(*at),
            y + 2.0,
            y + 20.0,
            escape(text)
        );
    }
    let _ = writeln!(svg, "</g>");
    y += TRACK;
    let _ = writeln!(
        svg,
        r#"<g class="messages"><text x="8" y="{}">messages</text>"#,
        y + 15.0
    );
    for (at, text) in &messages {
        let _ = writeln!(
            svg,
            r##"<circle cx="{:.1}" cy="{}" r="3" fill="#8250df"><title>{}</title></circle>"##,
            x(*at),
            y + 11.0,
            escape(text)
        );
    }
    let _ = writeln!(svg, "</g>");
    y += TRACK;
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{}">0 s</text><text x="{}" y="{}" text-anchor="end">{:.1} s board time</text>"#,
        y + 12.0,
        LEFT + WIDTH,
        y + 12.0,
        end.as_secs_f64()
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(ms: u64, what: What) -> Entry {
        Entry {
            seq: 0,
            at: Duration::from_millis(ms),
            wall: Duration::from_millis(ms),
            what,
        }
    }

    fn led(ms: u64, name: &str, on: bool) -> Entry {
        entry(
            ms,
            What::Led {
                board: "dut".into(),
                led: name.into(),
                on,
            },
        )
    }

    #[test]
    fn leds_become_lit_bars_and_events_become_markers() {
        let entries = vec![
            led(0, "blue", true),
            led(250, "blue", false),
            led(500, "blue", true),
            led(600, "green", true),
            entry(
                700,
                What::Step {
                    index: 1,
                    text: "provision".into(),
                    status: "passed".into(),
                },
            ),
            entry(
                800,
                What::Broker {
                    event: json!({"event": "publish_in", "topic": "t/sensors"}),
                },
            ),
            entry(
                900,
                What::Step {
                    index: 2,
                    text: "expect_led".into(),
                    status: "failed".into(),
                },
            ),
            led(1000, "blue", false),
        ];
        let svg = render("demo <&>", &entries);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("demo &lt;&amp;&gt;"), "titles are escaped");
        assert_eq!(
            svg.matches(r#"class="led""#).count(),
            2,
            "one track per LED"
        );
        assert_eq!(svg.matches("#1f6feb").count(), 2, "two lit periods of blue");
        // Green never went dark: its bar runs to the end.
        assert_eq!(svg.matches("#2da44e").count(), 1);
        assert!(svg.contains("<title>1. provision passed</title>"));
        assert!(
            svg.contains(r##"stroke="#cf222e"><title>2. expect_led failed"##),
            "failed steps stand out"
        );
        assert!(svg.contains("publish_in: t/sensors"));
        assert!(
            svg.contains(">1.0 s board time</text>"),
            "the axis ends at the latest time"
        );
    }

    #[test]
    fn the_axis_is_board_time_up_to_the_latest_entry() {
        // Recorded at 2 s of wall time on a rig at speed 20: 40 s of board time. The LED
        // edge recorded last was stamped by the board a little earlier.
        let mut late = entry(40_000, What::Action { text: "x".into() });
        late.wall = Duration::from_secs(2);
        let entries = vec![late, led(39_990, "blue", true)];
        let svg = render("fast", &entries);
        assert!(svg.contains(">40.0 s board time</text>"), "{svg}");
    }

    #[test]
    fn notes_are_marked_warnings_in_amber_and_every_text_is_escaped() {
        let entries = vec![
            entry(
                100,
                What::Led {
                    board: "d<u>t".into(),
                    led: "b\"lue".into(),
                    on: true,
                },
            ),
            entry(
                200,
                What::Note {
                    text: "expect_backoff dut: passed".into(),
                    warning: false,
                },
            ),
            entry(
                300,
                What::Note {
                    text: "expect_backoff dut: <weak>".into(),
                    warning: true,
                },
            ),
        ];
        let svg = render("notes", &entries);
        assert!(svg.contains(r#"data-led="b&quot;lue""#), "{svg}");
        assert!(svg.contains("d&lt;u&gt;t b&quot;lue</text>"), "{svg}");
        assert!(svg.contains("<title>note: expect_backoff dut: passed</title>"));
        assert!(
            svg.contains(
                r##"stroke="#bf8700"><title>warning: expect_backoff dut: &lt;weak&gt;</title>"##
            ),
            "{svg}"
        );
        assert!(
            svg.contains(r#"viewBox="0 0 1360 "#),
            "the picture scales: {svg}"
        );
    }

    #[test]
    fn an_empty_timeline_still_renders() {
        let svg = render("nothing", &[]);
        assert!(svg.ends_with("</svg>\n"));
    }
}
