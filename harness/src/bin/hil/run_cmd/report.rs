//! What `hil run` leaves when its scenarios are done: the summary table (one row per
//! scenario in the order given, however many ran at once, with step times under
//! `--timings`) and the JUnit XML file (quick-junit).

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

/// Writes `reports` as a JUnit XML file at `path`: a failure is `<failure>`, an
/// interrupted scenario an `<error type="interrupted">`.
pub fn write_junit(path: &Path, reports: &[Report]) -> miette::Result<()> {
    use quick_junit::{NonSuccessKind, Report as Junit, TestCase, TestCaseStatus, TestSuite};
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
        let mut case = TestCase::new(report.id.clone(), status);
        case.set_time(report.duration);
        suite.add_test_case(case);
    }
    let mut junit = Junit::new("hil");
    junit.add_test_suite(suite);
    let xml = junit.to_string().into_diagnostic()?;
    std::fs::write(path, xml)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}
