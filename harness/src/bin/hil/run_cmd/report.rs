//! What `hil run` leaves when its scenarios are done: the summary table (one row per
//! scenario in the order given, however many ran at once, with step times under
//! `--timings`) and the JUnit XML file (quick-junit). A scenario whose steps noted warnings
//! on its timeline is named after the counts (passed with warnings), and its JUnit test
//! case carries them: a `warnings` property with their number, and the warnings in its
//! `system-out`.

use harness::runner::{Outcome, Report};
use miette::{Context, IntoDiagnostic};
use std::path::Path;
use std::time::Duration;

/// Prints the summary table and the counts; with `timings`, each step's time and the
/// suite's wall time beside the scenarios' own (more when `at_once` > 1 ran in parallel).
pub fn summary(reports: &[Report], suite: Duration, timings: bool, at_once: usize) {
    let width = reports.iter().map(|r| r.id.len()).max().unwrap_or(8).max(8);
    println!();
    if !reports.is_empty() {
        println!("{:<width$}  {:<11}  {:>8}", "scenario", "result", "time");
    }
    for report in reports {
        let result = match report.outcome {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "FAILED",
            Outcome::Skipped(_) => "skipped",
            Outcome::Interrupted(_) => "INTERRUPTED",
        };
        println!(
            "{:<width$}  {result:<11}  {:>7.1}s",
            report.id,
            report.duration.as_secs_f64()
        );
        if timings {
            for step in &report.steps {
                println!(
                    "{:<width$}    {:<20} {:>7.2}s",
                    "",
                    step.kind,
                    step.duration.as_secs_f64()
                );
            }
        }
    }
    let count = |f: fn(&Outcome) -> bool| reports.iter().filter(|r| f(&r.outcome)).count();
    let interrupted = count(|o| matches!(o, Outcome::Interrupted(_)));
    println!(
        "{} passed, {} failed, {} skipped{}",
        count(|o| matches!(o, Outcome::Passed)),
        count(|o| matches!(o, Outcome::Failed(_))),
        count(|o| matches!(o, Outcome::Skipped(_))),
        if interrupted > 0 {
            format!(", {interrupted} interrupted")
        } else {
            String::new()
        }
    );
    let warned: Vec<&str> = reports
        .iter()
        .filter(|r| r.passed_with_warnings())
        .map(|r| r.id.as_str())
        .collect();
    if !warned.is_empty() {
        println!(
            "{} passed with warnings: {}",
            warned.len(),
            warned.join(", ")
        );
    }
    if timings {
        let scenarios: Duration = reports.iter().map(|r| r.duration).sum();
        println!(
            "suite wall time: {:.1}s ({:.1}s of scenarios, {at_once} at a time)",
            suite.as_secs_f64(),
            scenarios.as_secs_f64()
        );
        let board: Duration = reports.iter().map(|r| r.board_time).sum();
        let ratio = board.as_secs_f64() / suite.as_secs_f64().max(f64::MIN_POSITIVE);
        println!(
            "board time: {:.1}s, {ratio:.1}x the suite's wall time",
            board.as_secs_f64()
        );
    }
}

/// What a JUnit test case is called and says of itself, when not the scenario's id: `hil
/// qualify` names each case by its Device Advisor name, with its purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitCase {
    /// The test case's name.
    pub name: String,
    /// Its purpose in one line (a `purpose` property).
    pub purpose: String,
}

/// Writes `reports` as a JUnit XML file at `path`: a failure is `<failure>`, an
/// interrupted scenario an `<error type="interrupted">`; a scenario with warnings (a pass
/// with warnings is a success) has a `warnings` property. Every note the steps left (the
/// evidence, and the warnings, marked `warning:`) is in `system-out`. `case_of` may name a
/// report's test case and give its purpose; the scenario's id is then a `scenario`
/// property.
pub fn write_junit(
    path: &Path,
    reports: &[Report],
    case_of: &dyn Fn(&Report) -> Option<JunitCase>,
) -> miette::Result<()> {
    use quick_junit::{
        NonSuccessKind, Property, Report as Junit, TestCase, TestCaseStatus, TestSuite,
    };
    let mut suite = TestSuite::new("hil");
    for report in reports {
        let status = match &report.outcome {
            Outcome::Passed => TestCaseStatus::success(),
            Outcome::Skipped(reason) => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.clone());
                status
            }
            Outcome::Failed(failure) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(format!("step {} ({}) failed", failure.step, failure.kind));
                status.set_description(failure.to_string());
                status
            }
            // An error, not a failure: the scenario did not run to a verdict.
            Outcome::Interrupted(interruption) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_type("interrupted");
                status.set_message(format!(
                    "interrupted at step {} ({})",
                    interruption.step, interruption.kind
                ));
                status.set_description(interruption.to_string());
                status
            }
        };
        let named = case_of(report);
        let name = named.as_ref().map_or(report.id.clone(), |c| c.name.clone());
        let mut case = TestCase::new(name, status);
        case.set_time(report.duration);
        if let Some(named) = &named {
            case.add_property(Property::new("scenario", report.id.clone()));
            case.add_property(Property::new("purpose", named.purpose.clone()));
        }
        let warnings = report.warnings().count();
        if warnings > 0 {
            case.add_property(Property::new("warnings", warnings.to_string()));
        }
        let lines: String = report
            .notes
            .iter()
            .map(|note| {
                let kind = if note.warning { "warning" } else { "note" };
                format!("{kind}: {}\n", note.text)
            })
            .collect();
        if !lines.is_empty() {
            case.set_system_out(lines);
        }
        suite.add_test_case(case);
    }
    let mut junit = Junit::new("hil");
    junit.add_test_suite(suite);
    let xml = junit.to_string().into_diagnostic()?;
    std::fs::write(path, xml)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::runner::Note;

    fn report(id: &str, notes: &[(&str, bool)]) -> Report {
        Report {
            id: id.into(),
            name: id.into(),
            outcome: Outcome::Passed,
            duration: Duration::from_millis(1500),
            board_time: Duration::ZERO,
            clock: harness::clock::RigClock::default(),
            steps: Vec::new(),
            output: id.into(),
            notes: notes
                .iter()
                .map(|(text, warning)| Note {
                    text: (*text).into(),
                    warning: *warning,
                    context: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_pass_with_warnings_is_a_success_with_its_warnings_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        let reports = [
            report("plain", &[("expect_backoff dut: passed", false)]),
            report("warned", &[("expect_backoff dut: <weak> & late", true)]),
        ];
        assert!(!reports[0].passed_with_warnings() && reports[1].passed_with_warnings());
        write_junit(&path, &reports, &|_| None).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(xml.contains("failures=\"0\""), "{xml}");
        let warned = xml.split("name=\"warned\"").nth(1).unwrap();
        assert!(
            warned.contains(r#"<property name="warnings" value="1"/>"#),
            "{xml}"
        );
        assert!(
            warned.contains(
                "<system-out>warning: expect_backoff dut: &lt;weak&gt; &amp; late\n</system-out>"
            ),
            "{xml}"
        );
        let plain = xml.split("name=\"plain\"").nth(1).unwrap();
        let plain = plain.split("<testcase").next().unwrap();
        assert!(!plain.contains("warnings"), "{xml}");
        assert!(
            plain.contains("<system-out>note: expect_backoff dut: passed\n</system-out>"),
            "the evidence: {xml}"
        );
    }

    #[test]
    fn a_named_case_carries_its_name_purpose_and_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        let reports = [report("mqtt-connect", &[])];
        let case_of = |r: &Report| {
            Some(JunitCase {
                name: "MQTT Connect".into(),
                purpose: format!("Validates {}", r.id),
            })
        };
        write_junit(&path, &reports, &case_of).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(xml.contains(r#"<testcase name="MQTT Connect""#), "{xml}");
        assert!(
            xml.contains(r#"<property name="scenario" value="mqtt-connect"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<property name="purpose" value="Validates mqtt-connect"/>"#),
            "{xml}"
        );
    }
}
