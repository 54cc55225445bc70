//! `hil run`'s arguments and its run: the scenarios selected, at most `--jobs` at a time,
//! each on its own task; results gathered in the order given.

use super::live::Live;
use super::report::{summary, write_junit};
use super::select::{Selection, select};
use crate::{Ending, interrupt, load_rig};
use futures::StreamExt;
use harness::rig::{BrokerSpec, Rig, workspace_root};
use harness::runner::{CancellationToken, Failure, Outcome, Report, Runner};
use harness::scenario::Scenario;
use harness::schedule::{Partition, one_at_a_time};
use miette::{Context, IntoDiagnostic};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// How many scenarios run at once, each with its own broker and boards (default: the
    /// number of CPUs; a rig with a lab board runs one at a time).
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    jobs: Option<NonZeroUsize>,
    /// Run only slice M of N (1 ≤ M ≤ N): the scenarios selected (after --tag) sorted by
    /// file name, the i-th (from 0) in slice i mod N + 1. For a CI matrix.
    #[arg(long, value_name = "M/N", value_parser = parse_partition)]
    partition: Option<Partition>,
    /// Write each scenario's timeline under DIR/<scenario id>/ (default: target/hil in the
    /// workspace).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
}

/// `--jobs`: a whole number, 1 or more.
fn parse_jobs(text: &str) -> Result<NonZeroUsize, String> {
    match text.parse::<usize>() {
        Ok(jobs) => NonZeroUsize::new(jobs)
            .ok_or_else(|| "at least one scenario must run at a time (1 or more)".to_owned()),
        Err(_) => Err("expected a whole number of scenarios to run at once (1 or more)".into()),
    }
}

/// `--partition`: the library's parser; clap shows the value, so only what is wrong is said.
fn parse_partition(text: &str) -> Result<Partition, String> {
    text.parse::<Partition>().map_err(|e| e.kind.to_string())
}

/// The number of jobs when `--jobs` is not given: the CPUs this process may use.
pub(crate) fn default_jobs() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Runs `hil run`.
pub async fn run(args: RunArgs) -> miette::Result<Ending> {
    let stop = interrupt::watch()
        .into_diagnostic()
        .wrap_err("cannot watch for Ctrl-C")?;
    let rig = load_rig(args.rig.as_deref())?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| workspace_root().join("target").join("hil"));
    let selection = select(&args.paths, &args.tag, args.partition, &output)?;
    let jobs = args.jobs.unwrap_or_else(default_jobs).get();
    let at_once = announce(&rig, &selection, args.partition, jobs);
    let scenarios = selection.scenarios;

    let runner = Arc::new(Runner::new(rig).with_output_root(output.clone()));
    let suite_start = std::time::Instant::now();
    let reports = run_all(&runner, &scenarios, at_once, &stop.token, &output).await;
    let suite = suite_start.elapsed();

    summary(&reports, suite, args.timings, at_once);
    if let Some(signal) = stop.signal() {
        println!(
            "interrupted by {signal}: {} of {} scenario(s) not run",
            scenarios.len() - reports.len(),
            scenarios.len()
        );
    }
    if let Some(path) = &args.junit {
        write_junit(path, &reports, &|_| None)?;
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

/// Says what the run will do (rig, how many scenarios, which slice, how many at once, and
/// why one at a time on a rig that allows no more) and returns how many run at once.
fn announce(rig: &Rig, selection: &Selection, partition: Option<Partition>, jobs: usize) -> usize {
    let count = selection.scenarios.len();
    let alone = one_at_a_time(rig);
    let at_once = if alone.is_some() { 1 } else { jobs }.clamp(1, count.max(1));
    let broker = match &rig.broker {
        BrokerSpec::Embedded { .. } => "embedded mock broker".to_owned(),
        other => format!("{} broker", other.kind()),
    };
    let slice = match partition {
        Some(partition) => format!(" (slice {partition} of {})", selection.selected),
        None => String::new(),
    };
    println!(
        "rig {} ({broker}), {count} scenario(s){slice}, {at_once} at a time",
        rig.path.display(),
    );
    if let Some(why) = alone.filter(|_| jobs > 1 && count > 1) {
        println!("note: {why}: one scenario at a time (--jobs {jobs} does not apply)");
    }
    if count == 0 {
        // A CI matrix may have more machines than scenarios: an empty slice passes.
        println!("nothing to run in this slice");
    }
    at_once
}

/// Runs `scenarios`, `at_once` at a time, each on its own task, showing them as they go;
/// once `stop` is cancelled, those under way end interrupted and no other starts. Returns
/// the reports of those that ran, in the order of `scenarios`.
pub(crate) async fn run_all(
    runner: &Arc<Runner>,
    scenarios: &[Scenario],
    at_once: usize,
    stop: &CancellationToken,
    output: &Path,
) -> Vec<Report> {
    let live = Live::new(scenarios, at_once);
    let mut reports: Vec<Option<Report>> = vec![None; scenarios.len()];
    let runs = futures::stream::iter(scenarios.iter().enumerate())
        .take_while(|_| std::future::ready(!stop.is_cancelled()))
        .map(|(index, scenario)| {
            let progress = live.start(scenario);
            let (runner, scenario, stop) = (runner.clone(), scenario.clone(), stop.clone());
            let task_progress = progress.clone();
            let task = tokio::spawn(async move {
                runner
                    .run_until(&scenario, task_progress.as_ref(), &stop)
                    .await
            });
            async move { (index, progress, task.await) }
        })
        .buffer_unordered(at_once);
    futures::pin_mut!(runs);
    while let Some((index, progress, ended)) = runs.next().await {
        let report = ended.unwrap_or_else(|e| panicked(&scenarios[index], output, &e));
        live.finish(&progress, &report);
        reports[index] = Some(report);
    }
    live.close();
    reports.into_iter().flatten().collect()
}

/// The report of a scenario whose task panicked (a bug in the harness): failed, with the
/// panic's message. Its boards and broker were dropped, so torn down, as the task unwound.
fn panicked(scenario: &Scenario, output: &Path, error: &tokio::task::JoinError) -> Report {
    Report {
        id: scenario.id(),
        name: scenario.name.clone(),
        outcome: Outcome::Failed(Box::new(Failure {
            step: 0,
            kind: "harness".into(),
            expected: "the harness runs the scenario to a verdict".into(),
            seen: format!("the harness failed: {error}"),
            context: Vec::new(),
        })),
        duration: Duration::ZERO,
        board_time: Duration::ZERO,
        clock: harness::clock::RigClock::default(),
        steps: Vec::new(),
        output: output.join(scenario.id()),
        notes: Vec::new(),
    }
}
