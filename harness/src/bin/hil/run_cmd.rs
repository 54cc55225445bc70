//! `hil run`: finds scenario files, runs them on a rig one after another with each step
//! printed live, then prints a summary table and, if asked, writes a JUnit file.

use crate::{Ending, interrupt, load_rig};
use harness::rig::{BrokerSpec, workspace_root};
use harness::runner::{Outcome, Progress, Report, Runner};
use harness::scenario::Scenario;
use miette::{Context, IntoDiagnostic};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `hil run`'s arguments.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories (default: scenarios/).
    paths: Vec<PathBuf>,
    /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
    #[arg(long)]
    rig: Option<PathBuf>,
    /// Only scenarios with this tag (repeatable: any of them).
    #[arg(long)]
    tag: Vec<String>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Print the wall time of each scenario and step, and of the whole suite.
    #[arg(long)]
    timings: bool,
}

/// Runs `hil run`.
pub async fn run(args: RunArgs) -> miette::Result<Ending> {
    let RunArgs {
        paths,
        rig,
        tag,
        junit,
        timings,
    } = args;
    run_scenarios(paths, rig.as_deref(), &tag, junit.as_deref(), timings).await
}

fn scenario_files(paths: &[PathBuf]) -> miette::Result<Vec<PathBuf>> {
    let paths = if paths.is_empty() {
        vec![workspace_root().join("scenarios")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&path)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot list {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path);
        } else {
            miette::bail!(
                "{} is neither a scenario file nor a directory",
                path.display()
            );
        }
    }
    Ok(files)
}

/// Prints each step as it runs.
struct LiveProgress {
    total: usize,
}

impl Progress for LiveProgress {
    fn step_started(&self, index: usize, kind: &str) {
        print!("    [{index}/{}] {kind} ...", self.total);
        let _ = std::io::stdout().flush();
    }

    fn step_finished(&self, _index: usize, _kind: &str, passed: bool, took: Duration) {
        println!(
            " {} ({:.1}s)",
            if passed { "ok" } else { "FAILED" },
            took.as_secs_f64()
        );
    }

    fn step_interrupted(&self, _index: usize, _kind: &str, took: Duration) {
        println!(" interrupted ({:.1}s)", took.as_secs_f64());
    }
}

async fn run_scenarios(
    paths: Vec<PathBuf>,
    rig_path: Option<&Path>,
    tags: &[String],
    junit: Option<&Path>,
    timings: bool,
) -> miette::Result<Ending> {
    let stop = interrupt::watch()
        .into_diagnostic()
        .wrap_err("cannot watch for Ctrl-C")?;
    let rig = load_rig(rig_path)?;
    let mut scenarios = Vec::new();
    for file in scenario_files(&paths)? {
        let scenario = Scenario::load(&file)?;
        if tags.is_empty() || scenario.tags.iter().any(|t| tags.contains(t)) {
            scenarios.push(scenario);
        }
    }
    if scenarios.is_empty() {
        miette::bail!("no scenario to run (check the paths and --tag)");
    }
    let broker = match &rig.broker {
        BrokerSpec::Embedded { .. } => "embedded mock broker".to_owned(),
        other => format!("{} broker", other.kind()),
    };
    println!(
        "rig {} ({broker}), {} scenario(s)",
        rig.path.display(),
        scenarios.len()
    );
    let runner = Runner::new(rig);
    let suite_start = std::time::Instant::now();
    let mut reports = Vec::new();
    for scenario in &scenarios {
        if stop.token.is_cancelled() {
            break;
        }
        println!("  {} — {}", scenario.id(), scenario.name);
        let progress = LiveProgress {
            total: scenario.steps.len(),
        };
        let report = runner.run_until(scenario, &progress, &stop.token).await;
        match &report.outcome {
            Outcome::Passed => println!("  passed in {:.1}s", report.duration.as_secs_f64()),
            Outcome::Skipped(reason) => println!("  skipped: {reason}"),
            Outcome::Failed(failure) => {
                println!("  FAILED\n{}", indent(&failure.to_string()));
                println!(
                    "  timeline: {}",
                    report.output.join("timeline.json").display()
                );
            }
            Outcome::Interrupted(interruption) => {
                println!("  INTERRUPTED\n{}", indent(&interruption.to_string()));
                println!(
                    "  timeline: {}",
                    report.output.join("timeline.json").display()
                );
            }
        }
        reports.push(report);
    }
    let suite = suite_start.elapsed();
    summary(&reports, suite, timings);
    if let Some(signal) = stop.signal() {
        println!(
            "interrupted by {signal}: {} of {} scenario(s) not run",
            scenarios.len() - reports.len(),
            scenarios.len()
        );
    }
    if let Some(path) = junit {
        write_junit(path, &reports)?;
    }
    if stop.token.is_cancelled() {
        return Ok(Ending::Interrupted);
    }
    let failed = reports
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Failed(_)));
    Ok(if failed {
        Ending::Failed
    } else {
        Ending::Passed
    })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn summary(reports: &[Report], suite: Duration, timings: bool) {
    let width = reports.iter().map(|r| r.id.len()).max().unwrap_or(8).max(8);
    println!();
    println!("{:<width$}  {:<11}  {:>8}", "scenario", "result", "time");
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
        println!("suite wall time: {:.1}s", suite.as_secs_f64());
    }
}

fn write_junit(path: &Path, reports: &[Report]) -> miette::Result<()> {
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
