//! The Markdown report of `hil qualify`: a summary line, a table of the cases, then one
//! section per case with its verdict, its purpose (the scenario's `description`) and, for
//! a case that failed, the runner's failure report (the step, what was expected, what was
//! seen, the timeline around it) and where its timeline is; for a case that passed, what
//! its judging steps noted on the timeline (today `expect_backoff`'s attempts and delays).
//! Writing the file is the caller's.

use super::cases::name;
use harness::runner::{Outcome, Report};
use harness::scenario::Scenario;
use std::fmt::Write;

/// The verdict of a case as the report and the table say it.
pub fn verdict(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "Pass",
        Outcome::Failed(_) => "Fail",
        Outcome::Skipped(_) => "Skipped",
        Outcome::Interrupted(_) => "Interrupted",
    }
}

/// The report of `cases`, whose reports are `reports` (in the same order; a case with no
/// report was not run, after an interruption). `rig` and `board` name the rig and the
/// board they ran on.
pub fn render(rig: &str, board: &str, cases: &[Scenario], reports: &[Report]) -> String {
    let mut out = String::new();
    let passed = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Passed))
        .count();
    let _ = writeln!(out, "# AWS IoT Device Advisor qualification (local)\n");
    let _ = writeln!(
        out,
        "Rig `{rig}`, board `{board}`: {passed} of {} case(s) passed.\n",
        cases.len()
    );
    let _ = writeln!(out, "| Device Advisor case | Result | Scenario |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for (index, case) in cases.iter().enumerate() {
        let result = reports
            .get(index)
            .map_or("Not run", |r| verdict(&r.outcome));
        let _ = writeln!(out, "| {} | {result} | `{}` |", name(case), case.id());
    }
    for (index, case) in cases.iter().enumerate() {
        let report = reports.get(index);
        let result = report.map_or("Not run", |r| verdict(&r.outcome));
        let _ = writeln!(out, "\n## {}: {result}\n", name(case));
        let purpose = case.description.trim();
        let purpose = if purpose.is_empty() {
            &case.name
        } else {
            purpose
        };
        let _ = writeln!(out, "{purpose}\n");
        let _ = writeln!(out, "Scenario: `{}`", case.path.display());
        let Some(report) = report else { continue };
        let timeline = report.output.join("timeline.json");
        match &report.outcome {
            Outcome::Passed => {
                let notes = evidence(&timeline);
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
                let _ = writeln!(out, "\nTimeline: `{}`", timeline.display());
            }
            Outcome::Interrupted(interruption) => {
                let _ = writeln!(out, "\n```text\n{interruption}\n```");
            }
        }
    }
    out
}

/// What the judging steps noted on the timeline at `path` (`timeline.json`): the text of
/// each harness action that starts with a judging step's name. None when the file cannot
/// be read: the evidence is a help, the verdict is the runner's.
fn evidence(path: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_str(&text) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|entry| entry["kind"] == "action")
        .filter_map(|entry| entry["text"].as_str())
        .filter(|text| text.starts_with("expect_backoff "))
        .map(str::to_owned)
        .collect()
}
