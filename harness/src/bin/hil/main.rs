//! `hil`: runs scenario files on a rig, and the tools around them.
//!
//! Exit codes (see [`exit_code`]): 0 when every scenario passed or was skipped, 1 when one
//! failed, 2 when the input (rig, scenario, arguments) is invalid, 130 when `hil run` was
//! stopped by SIGINT or SIGTERM (see `interrupt`).

mod bring_up;
mod broker_cmd;
mod flash_cmd;
mod interrupt;
mod leds_cmd;
mod provision_cmd;

use clap::{Parser, Subcommand};
use harness::rig::{BrokerSpec, Rig, workspace_root};
use harness::runner::{Outcome, Progress, Report, Runner};
use harness::scenario::Scenario;
use miette::{Context, IntoDiagnostic};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Hardware-in-the-loop tests for cloud-connected boards.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files (or every *.toml in directories) on a rig.
    Run {
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
    },
    /// Run the rig's embedded broker on its own (signer CA registered for JITR) and print
    /// its events until Ctrl-C.
    Broker {
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Listen here instead of where the rig says (e.g. 0.0.0.0:8883 for boards on the LAN).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Do not print broker events.
        #[arg(long)]
        quiet: bool,
    },
    /// Bring a board up with the rig's broker and show its LEDs live.
    Leds {
        /// Board name in the rig.
        board: String,
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Provision it first (jitr, jitp, preregistered).
        #[arg(long)]
        provision: Option<harness::provision::ProvisionMode>,
        /// Stop after this long (e.g. 10s) instead of at Ctrl-C.
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        for_: Option<Duration>,
    },
    /// Provision a board against the rig's broker and wait for its first telemetry.
    Provision {
        /// Board name in the rig.
        board: String,
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long)]
        rig: Option<PathBuf>,
        /// jitr, jitp or preregistered.
        #[arg(long, default_value = "jitr")]
        mode: harness::provision::ProvisionMode,
        /// How long to wait for the first telemetry message.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        within: Duration,
    },
    /// Write firmware to a board (the rig's ELF, or ELF), verified, with progress bars.
    Flash {
        /// Board name in the rig.
        board: String,
        /// Firmware ELF instead of the rig's (probe-rs boards).
        elf: Option<PathBuf>,
        /// Erase the chip first (an emulated board loses its provisioning).
        #[arg(long)]
        erase: bool,
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long)]
        rig: Option<PathBuf>,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// The test PKI of a rig.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long, global = true)]
        rig: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create the PKI (or keep the existing one); with --fresh, replace it.
    Init {
        /// Create everything anew.
        #[arg(long)]
        fresh: bool,
    },
    /// Show the PKI's certificates.
    Show,
}

/// What a command ended with.
enum Ending {
    Passed,
    Failed,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted,
}

/// The one place where results become exit codes.
fn exit_code(result: &miette::Result<Ending>) -> ExitCode {
    match result {
        Ok(Ending::Passed) => ExitCode::SUCCESS,
        Ok(Ending::Failed) => ExitCode::from(1),
        Ok(Ending::Interrupted) => ExitCode::from(interrupt::EXIT_INTERRUPTED),
        Err(_) => ExitCode::from(2),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => Err(miette::miette!("cannot start the async runtime: {e}")),
    };
    if let Err(report) = &result {
        eprintln!("{report:?}");
    }
    exit_code(&result)
}

fn load_rig(path: Option<&Path>) -> miette::Result<Rig> {
    Ok(match path {
        Some(path) => Rig::load(path)?,
        None => Rig::from_env(&workspace_root())?,
    })
}

async fn run(cli: Cli) -> miette::Result<Ending> {
    match cli.command {
        Command::Run {
            paths,
            rig,
            tag,
            junit,
            timings,
        } => run_scenarios(paths, rig.as_deref(), &tag, junit.as_deref(), timings).await,
        Command::Broker { rig, listen, quiet } => {
            broker_cmd::serve(&load_rig(rig.as_deref())?, listen, quiet).await?;
            Ok(Ending::Passed)
        }
        Command::Leds {
            board,
            rig,
            provision,
            for_,
        } => {
            leds_cmd::watch(&load_rig(rig.as_deref())?, &board, provision, for_).await?;
            Ok(Ending::Passed)
        }
        Command::Provision {
            board,
            rig,
            mode,
            within,
        } => {
            let rig = load_rig(rig.as_deref())?;
            Ok(
                if provision_cmd::provision_board(&rig, &board, mode, within).await? {
                    Ending::Passed
                } else {
                    Ending::Failed
                },
            )
        }
        Command::Flash {
            board,
            elf,
            erase,
            rig,
        } => {
            flash_cmd::flash(&load_rig(rig.as_deref())?, &board, elf, erase).await?;
            Ok(Ending::Passed)
        }
        Command::Schema => {
            print!("{}", harness::scenario::json_schema());
            Ok(Ending::Passed)
        }
        Command::Pki { command, rig } => pki(command, &load_rig(rig.as_deref())?),
    }
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
        let board: Duration = reports.iter().map(|r| r.board_time).sum();
        let ratio = board.as_secs_f64() / suite.as_secs_f64().max(f64::MIN_POSITIVE);
        println!(
            "suite wall time: {:.1}s; board time {:.1}s, {ratio:.1}x the wall time",
            suite.as_secs_f64(),
            board.as_secs_f64()
        );
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

fn pki(command: PkiCommand, rig: &Rig) -> miette::Result<Ending> {
    let endpoint = match &rig.broker {
        BrokerSpec::Embedded { endpoint, .. } => endpoint.clone(),
        BrokerSpec::External { host, .. } => host.clone(),
        _ => harness::rig::DEFAULT_ENDPOINT.to_owned(),
    };
    let names = [endpoint.as_str(), "localhost", "127.0.0.1"];
    let fresh = matches!(command, PkiCommand::Init { fresh: true });
    let pki = harness::pki::TestPki::open(&rig.pki_dir, &names, fresh)
        .into_diagnostic()
        .wrap_err_with(|| format!("test PKI in {}", rig.pki_dir.display()))?;
    println!("test PKI in {}", pki.dir().display());
    for (role, pem) in [
        ("root CA", &pki.root.pem),
        ("signer CA (registered for JITR)", &pki.signer.pem),
        ("server CA (the boards' rootca)", &pki.server_ca.pem),
        ("operator CA", &pki.operator_ca.pem),
        ("server certificate", &pki.server.cert_pem),
        ("operator certificate", &pki.operator.cert_pem),
    ] {
        match mock_broker::aws::certs::CertInfo::from_pem(pem) {
            Ok(info) => println!("  {role:<34} {}  id {}…", info.subject, &info.id[..16]),
            Err(e) => println!("  {role:<34} unreadable: {e}"),
        }
    }
    println!("private keys are in *.key (mode 0600) and are never printed");
    Ok(Ending::Passed)
}
