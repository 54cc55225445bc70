//! The Markdown report of `hil qualify`: a summary line, a table of the cases, then one
//! section per case with its verdict ([`Verdict`]: a pass with warnings is one of them),
//! its purpose (the scenario's `description`), the warnings its steps noted, and its
//! evidence: for a case that failed, the runner's failure report (the step, what was
//! expected, what was seen, the timeline around it) and where its timeline is; for a case
//! that passed, what its judging steps noted on the timeline (today `expect_backoff`'s
//! attempts and delays). Writing the file is the caller's; the HTML report (`html`) says
//! the same with the timeline pictures.

use super::cases::name;
use super::verdict::{Tally, Verdict};
use harness::runner::{Outcome, Report};
use harness::scenario::Scenario;
use std::fmt::Write;

/// The report of `cases`, whose reports are `reports` (in the same order; a case with no
/// report was not run, after an interruption). `rig` and `board` name the rig and the
/// board they ran on.
pub fn render(rig: &str, board: &str, cases: &[Scenario], reports: &[Report]) -> String {
    let mut out = String::new();
    let tally = Tally::of(cases.len(), reports);
    let _ = writeln!(out, "# AWS IoT Device Advisor qualification (local)\n");
    let warned = tally.count(Verdict::PassWithWarnings);
    let _ = writeln!(
        out,
        "Rig `{rig}`, board `{board}`: {} of {} case(s) passed{}. Verdict: **{}**.\n",
        tally.passed(),
        tally.cases(),
        if warned > 0 {
            format!(" ({warned} with warnings)")
        } else {
            String::new()
        },
        tally.overall().label()
    );
    let counts: Vec<String> = tally
        .nonzero()
        .map(|(verdict, count)| format!("{count} {}", verdict.label()))
        .collect();
    if !counts.is_empty() {
        let _ = writeln!(out, "Verdicts: {}.\n", counts.join(", "));
    }
    let _ = writeln!(out, "| Device Advisor case | Result | Scenario |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for (index, case) in cases.iter().enumerate() {
        let result = Verdict::of(reports.get(index)).label();
        let _ = writeln!(out, "| {} | {result} | `{}` |", name(case), case.id());
    }
    for (index, case) in cases.iter().enumerate() {
        let report = reports.get(index);
        let result = Verdict::of(report).label();
        let _ = writeln!(out, "\n## {}: {result}\n", name(case));
        let _ = writeln!(out, "{}\n", purpose(case));
        let _ = writeln!(out, "Scenario: `{}`", case.path.display());
        let Some(report) = report else { continue };
        let warnings: Vec<&str> = report.warnings().collect();
        if !warnings.is_empty() {
            let _ = writeln!(out, "\nWarnings:\n");
            for warning in warnings {
                let _ = writeln!(out, "- {warning}");
            }
        }
        match &report.outcome {
            Outcome::Passed => {
                let notes = evidence(report);
                if !notes.is_empty() {
                    let _ = writeln!(out, "\nEvidence:\n");
                    for note in notes {
                        let _ = writeln!(out, "- {note}");
                    }
                }
            }
            Outcome::Skipped(reason) => {
                let _ = writeln!(out, "\nSkipped: {reason}");
            }
            Outcome::Failed(failure) => {
                let _ = writeln!(out, "\nEvidence:\n\n```text\n{failure}```");
                let timeline = report.output.join("timeline.json");
                let _ = writeln!(out, "\nTimeline: `{}`", timeline.display());
            }
            Outcome::Interrupted(interruption) => {
                let _ = writeln!(out, "\n```text\n{interruption}\n```");
            }
        }
    }
    out
}

/// A case's purpose: its scenario's description, or its name when it has none.
pub fn purpose(case: &Scenario) -> &str {
    let purpose = case.description.trim();
    if purpose.is_empty() {
        &case.name
    } else {
        purpose
    }
}

/// The evidence the steps noted on the timeline (the notes that are not warnings).
pub fn evidence(report: &Report) -> Vec<&str> {
    report
        .notes
        .iter()
        .filter(|note| !note.warning)
        .map(|note| note.text.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::verdict::tests::{case, failed, report};
    use super::*;

    #[test]
    fn each_verdict_has_its_section_and_warnings_come_first() {
        let cases = [
            case("ok", "MQTT Connect", "Validates ok."),
            case("meh", "MQTT Backoff", "Validates meh."),
            case("bad", "TLS Connect", "Validates bad."),
        ];
        let reports = [
            report(
                "ok",
                Outcome::Passed,
                &[("expect_backoff dut: passed on 5", false)],
            ),
            report(
                "meh",
                Outcome::Passed,
                &[
                    ("expect_backoff dut: passed", false),
                    ("expect_backoff dut: weak", true),
                ],
            ),
            report("bad", failed("1 message(s) on t", "none"), &[]),
        ];
        let text = render("rig.toml", "dut", &cases, &reports);
        assert!(
            text.contains("2 of 3 case(s) passed (1 with warnings). Verdict: **Fail**."),
            "{text}"
        );
        assert!(
            text.contains("Verdicts: 1 Pass, 1 Pass with warnings, 1 Fail.\n"),
            "{text}"
        );
        assert!(
            text.contains("| MQTT Backoff | Pass with warnings | `meh` |"),
            "{text}"
        );
        assert!(text.contains("## MQTT Connect: Pass\n"), "{text}");
        let meh = text
            .split("## MQTT Backoff: Pass with warnings")
            .nth(1)
            .unwrap();
        let meh = meh.split("\n## ").next().unwrap();
        assert!(
            meh.contains("Warnings:\n\n- expect_backoff dut: weak\n\nEvidence:\n\n- expect_backoff dut: passed\n"),
            "{meh}"
        );
        assert!(text.contains("## TLS Connect: Fail"), "{text}");
        assert!(text.contains("expected: 1 message(s) on t"), "{text}");
    }
}
