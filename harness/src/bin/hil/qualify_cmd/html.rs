//! The HTML report of `hil qualify`: one self-contained page (no external CSS, script or
//! font; the timeline pictures inlined) that can be mailed or kept as a CI artefact.
//!
//! [`render`] writes, in order: a summary (the rig, the board, the count of each
//! [`Verdict`], and a banner with the overall verdict), a table of the cases, then one
//! section per case with its verdict, its purpose (the scenario's description), the
//! warnings its steps noted, its evidence (the failure report, or the notes its judging
//! steps left on the timeline), its timeline picture (the SVG `harness::svg` drew, as
//! `picture` gives it) and the timeline excerpt (around the failure, or before each note).
//!
//! The page is built with maud, which escapes every text spliced into it: everything from
//! scenarios, timelines and reports is text. The one thing inserted as markup is a timeline
//! picture, which `harness::svg` escapes itself; a picture that is not an `<svg>` document
//! is left out. Reading the pictures and writing the file are the caller's.

use super::cases::name;
use super::markdown::{evidence, purpose};
use super::verdict::{Tally, Verdict};
use harness::runner::{Outcome, Report};
use harness::scenario::Scenario;
use harness::timeline::Entry;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The page's style sheet (the whole of it: the page loads nothing).
const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #1f2328; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; white-space: pre; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.7em; text-align: left; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.facts dt { font-weight: bold; }
.banner { font-size: 1.4em; font-weight: bold; padding: 0.6em 1em; border-radius: 6px; color: #fff; }
.verdict { font-weight: bold; padding: 0.1em 0.5em; border-radius: 4px; color: #fff; white-space: nowrap; }
.pass { background: #1a7f37; }
.warn { background: #9a6700; }
.fail { background: #cf222e; }
.other { background: #6e7781; }
ul.warnings li { color: #9a6700; }
section.case { border-top: 1px solid #d0d7de; margin-top: 2em; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
";

/// The style class of `verdict`'s badge and banner.
fn class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::PassWithWarnings => "warn",
        Verdict::Fail => "fail",
        Verdict::Skipped | Verdict::Interrupted | Verdict::NotRun => "other",
    }
}

/// A verdict's badge.
fn badge(verdict: Verdict) -> Markup {
    html! { span class={ "verdict " (class(verdict)) } { (verdict.label()) } }
}

/// The banner of the run's verdict: its style class and its words. A run passes when every
/// case passed (`hil qualify` exits 0); anything else fails.
fn banner(tally: &Tally) -> (&'static str, String) {
    let overall = tally.overall();
    match overall {
        Verdict::Pass | Verdict::PassWithWarnings if tally.count(Verdict::PassWithWarnings) > 0 => {
            (
                class(overall),
                format!(
                    "PASS with warnings: all {} case(s) passed, {} with warnings",
                    tally.cases(),
                    tally.count(Verdict::PassWithWarnings)
                ),
            )
        }
        Verdict::Pass | Verdict::PassWithWarnings => (
            class(overall),
            format!("PASS: all {} case(s) passed", tally.cases()),
        ),
        _ => (
            class(Verdict::Fail),
            format!(
                "FAIL: {} of {} case(s) did not pass",
                tally.cases() - tally.passed(),
                tally.cases()
            ),
        ),
    }
}

/// The HTML id of a case's section.
fn anchor(case: &Scenario) -> String {
    format!("case-{}", case.id())
}

/// Timeline entries as lines.
fn excerpt(entries: &[Entry]) -> String {
    entries.iter().map(|entry| format!("{entry}\n")).collect()
}

/// The report page of `cases`, whose reports are `reports` (in the same order; a case with
/// no report was not run). `rig` and `board` name the rig and the board they ran on;
/// `picture` gives a report's timeline picture (its `timeline.svg`), if there is one.
pub fn render(
    rig: &str,
    board: &str,
    cases: &[Scenario],
    reports: &[Report],
    picture: impl Fn(&Report) -> Option<String>,
) -> String {
    let tally = Tally::of(cases.len(), reports);
    let (banner_class, banner_text) = banner(&tally);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Device Advisor qualification (local): " (tally.overall().label()) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "AWS IoT Device Advisor qualification (local)" }
                p class={ "banner " (banner_class) } { (banner_text) }
                dl.facts {
                    dt { "Rig" } dd { code { (rig) } }
                    dt { "Board" } dd { code { (board) } }
                    @for (verdict, count) in tally.nonzero() {
                        dt { (badge(verdict)) } dd { (count) " case(s)" }
                    }
                }
                table.cases {
                    thead { tr { th { "Device Advisor case" } th { "Verdict" } th { "Scenario" } } }
                    tbody {
                        @for (index, case) in cases.iter().enumerate() {
                            tr {
                                td { a href={ "#" (anchor(case)) } { (name(case)) } }
                                td { (badge(Verdict::of(reports.get(index)))) }
                                td { code { (case.id()) } }
                            }
                        }
                    }
                }
                @for (index, case) in cases.iter().enumerate() {
                    (section(case, reports.get(index), &picture))
                }
            }
        }
    };
    page.into_string()
}

/// One case's section.
fn section(
    case: &Scenario,
    report: Option<&Report>,
    picture: &impl Fn(&Report) -> Option<String>,
) -> Markup {
    let verdict = Verdict::of(report);
    html! {
        section.case id=(anchor(case)) {
            h2 { (name(case)) " " (badge(verdict)) }
            p.purpose { (purpose(case)) }
            p { "Scenario: " code { (case.path.display()) } }
            @if let Some(report) = report {
                (details(report, picture))
            }
        }
    }
}

/// What a case's report says: warnings, evidence, picture, timeline excerpt.
fn details(report: &Report, picture: &impl Fn(&Report) -> Option<String>) -> Markup {
    let warnings: Vec<&str> = report.warnings().collect();
    let notes = evidence(report);
    let svg = picture(report).filter(|svg| svg.trim_start().starts_with("<svg"));
    let context: Vec<Entry> = match &report.outcome {
        Outcome::Failed(failure) => failure.context.clone(),
        Outcome::Interrupted(interruption) => interruption.context.clone(),
        Outcome::Passed | Outcome::Skipped(_) => report
            .notes
            .iter()
            .flat_map(|note| note.context.iter().cloned())
            .collect(),
    };
    html! {
        @if !warnings.is_empty() {
            h3 { "Warnings" }
            ul.warnings { @for warning in &warnings { li { (warning) } } }
        }
        h3 { "Evidence" }
        @match &report.outcome {
            Outcome::Failed(failure) => {
                dl.facts {
                    dt { "Step" } dd { (failure.step) " (" code { (failure.kind) } ")" }
                    dt { "Expected" } dd { (failure.expected) }
                    dt { "Seen" } dd { (failure.seen) }
                }
            }
            Outcome::Skipped(reason) => { p { "Skipped: " (reason) } }
            Outcome::Interrupted(interruption) => {
                p { "Interrupted at step " (interruption.step) " (" code { (interruption.kind) } ")" }
            }
            Outcome::Passed => {
                @if notes.is_empty() {
                    p { "Every step passed." }
                } @else {
                    ul.evidence { @for note in &notes { li { code { (note) } } } }
                }
            }
        }
        h3 { "Timeline" }
        @if let Some(svg) = &svg {
            figure { (PreEscaped(svg)) }
        } @else {
            p { "No timeline picture." }
        }
        p { "Whole timeline: " code { (report.output.join("timeline.json").display()) } }
        @if !context.is_empty() {
            details open {
                summary { "Timeline excerpt" }
                pre.excerpt { (excerpt(&context)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::verdict::tests::{case, failed, report};
    use super::*;

    fn svg_of(report: &Report) -> Option<String> {
        Some(harness::svg::render(&report.name, &[]))
    }

    #[test]
    fn the_page_has_the_summary_the_cases_and_their_pictures() {
        let cases = [
            case("ok", "MQTT Connect", "Validates ok."),
            case("meh", "MQTT Backoff", "Validates meh."),
        ];
        let reports = [
            report(
                "ok",
                Outcome::Passed,
                &[("expect_backoff dut: passed on 5 attempts", false)],
            ),
            report(
                "meh",
                Outcome::Passed,
                &[
                    ("expect_backoff dut: passed", false),
                    ("expect_backoff dut: weak", true),
                ],
            ),
        ];
        let page = render("rig.toml", "dut2", &cases, &reports, svg_of);
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(
            page.contains(r#"<p class="banner warn">PASS with warnings: all 2 case(s) passed, 1 with warnings</p>"#),
            "{page}"
        );
        assert!(page.contains("<code>dut2</code>"), "{page}");
        assert!(
            page.contains(r##"<a href="#case-meh">MQTT Backoff</a>"##),
            "{page}"
        );
        assert!(
            page.contains(
                r#"<span class="verdict warn">Pass with warnings</span></dt><dd>1 case(s)"#
            ),
            "{page}"
        );
        assert_eq!(
            page.matches("<svg").count(),
            2,
            "one inlined picture per case"
        );
        assert!(
            page.contains(r#"<ul class="warnings"><li>expect_backoff dut: weak</li></ul>"#),
            "{page}"
        );
        assert!(
            page.contains("<li><code>expect_backoff dut: passed on 5 attempts</code></li>"),
            "{page}"
        );
        assert!(
            !page.contains("<link") && !page.contains("<script"),
            "self-contained"
        );
    }

    #[test]
    fn everything_from_scenarios_and_timelines_is_escaped() {
        let cases = [case(
            "x",
            "TLS <Connect> & co",
            "<script>alert(\"hi\")</script>",
        )];
        let reports = [report(
            "x",
            failed("a <b> message", "</pre><img src=x>"),
            &[("step: <warn>", true)],
        )];
        let page = render("<rig>", "b&d", &cases, &reports, svg_of);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("TLS &lt;Connect&gt; &amp; co"), "{page}");
        assert!(page.contains("&lt;/pre&gt;&lt;img src=x&gt;"), "{page}");
        assert!(page.contains("<code>&lt;rig&gt;</code>") && page.contains("b&amp;d"));
        assert!(page.contains("<li>step: &lt;warn&gt;</li>"), "{page}");
        assert!(page.contains(r#"<p class="banner fail">FAIL: 1 of 1 case(s) did not pass</p>"#));
        assert!(page.contains(r#"<span class="verdict fail">Fail</span>"#));
    }

    #[test]
    fn a_picture_that_is_not_svg_is_left_out_and_a_case_not_run_says_so() {
        let cases = [
            case("a", "MQTT Connect", "A."),
            case("b", "MQTT Publish", "B."),
        ];
        let reports = [report("a", Outcome::Skipped("no <Wi-Fi>".into()), &[])];
        let page = render("r", "dut", &cases, &reports, |_| Some("<img src=x>".into()));
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("No timeline picture."), "{page}");
        assert!(page.contains("Skipped: no &lt;Wi-Fi&gt;"), "{page}");
        assert!(
            page.contains(r#"<span class="verdict other">Not run</span>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<p class="banner fail">FAIL: 2 of 2 case(s) did not pass</p>"#),
            "{page}"
        );
    }
}
