//! `hil qualify`'s arguments and its run: the cases picked by `cases`, run as `hil run`
//! runs scenarios (several at once unless the rig allows one), then the summary, the
//! Markdown report, the HTML report and the JUnit file under the output directory.

use super::cases::{cases, default_dir};
use super::html::render as render_html;
use super::markdown::render as render_markdown;
use super::verdict::Tally;
use crate::run_cmd::{JunitCase, default_jobs, run_all, summary, write_junit};
use crate::{Ending, interrupt, load_rig};
use harness::rig::{Rig, workspace_root};
use harness::runner::{Report, Runner};
use harness::schedule::one_at_a_time;
use miette::{Context, IntoDiagnostic};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The board the cases name.
const DUT: &str = "dut";

/// `rig` with its board `board` standing in for the cases' `dut` (its spec and its
/// provisioning hook, if any). An unknown board is an error (exit 2) naming the rig's.
fn on_board(mut rig: Rig, board: &str) -> miette::Result<Rig> {
    let Some(spec) = rig.boards.get(board).cloned() else {
        let known: Vec<&str> = rig.boards.keys().map(String::as_str).collect();
        miette::bail!(
            help = format!("the rig's boards: {}", known.join(", ")),
            "{} has no board {board:?}",
            rig.path.display()
        );
    };
    let hook = rig.provision_hooks.get(board).cloned();
    rig.boards.insert(DUT.to_owned(), spec);
    match hook {
        Some(hook) => rig.provision_hooks.insert(DUT.to_owned(), hook),
        None => rig.provision_hooks.remove(DUT),
    };
    Ok(rig)
}

/// The Markdown report's file name in the output directory.
pub const MARKDOWN: &str = "qualification.md";
/// The JUnit report's file name in the output directory.
pub const JUNIT: &str = "qualification.junit.xml";
/// The HTML report's file name in the output directory.
pub const HTML: &str = "qualification.html";

/// Writes a report to `path`.
fn write(path: &Path, text: &str) -> miette::Result<()> {
    std::fs::write(path, text)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

/// `hil qualify`'s arguments.
#[derive(clap::Args)]
pub struct QualifyArgs {
    /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
    #[arg(long)]
    rig: Option<PathBuf>,
    /// Run the cases on this rig board: the cases' `dut` becomes board B (its kind, probe,
    /// console, Wi-Fi and provisioning hook); default: the rig's `dut`.
    #[arg(long, value_name = "B")]
    board: Option<String>,
    /// Run only this case, by its Device Advisor name (e.g. "TLS Expired Server Cert").
    #[arg(long, value_name = "NAME")]
    case: Option<String>,
    /// The directory of case files (default: scenarios/qualification/ in the workspace).
    #[arg(long, value_name = "DIR")]
    cases: Option<PathBuf>,
    /// Write the reports (qualification.md, qualification.html, qualification.junit.xml)
    /// and each case's timeline (DIR/<scenario id>/) here (default: target/hil/qualify in
    /// the workspace).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// How long the long-duration case runs, in board time (e.g. "10m"; default: the
    /// case file's, 2 hours). The rig clock runs it faster where the rig allows.
    #[arg(long, value_name = "D", value_parser = long_duration)]
    long_duration: Option<String>,
}

/// A `--long-duration` value: a duration as scenarios write them.
fn long_duration(text: &str) -> Result<String, String> {
    harness::scenario::parse_duration(text).map(|_| text.to_owned())
}

/// Runs `hil qualify`: exit 0 when every case passed (with warnings or without), 1 when one
/// did not (failed, or skipped for what the rig lacks: a skipped case is not qualified), 2
/// on invalid input.
pub async fn qualify(args: QualifyArgs) -> miette::Result<Ending> {
    let stop = interrupt::watch()
        .into_diagnostic()
        .wrap_err("cannot watch for Ctrl-C")?;
    let mut rig = load_rig(args.rig.as_deref())?;
    if let Some(board) = &args.board {
        rig = on_board(rig, board)?;
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| workspace_root().join("target").join("hil").join("qualify"));
    let dir = args.cases.clone().unwrap_or_else(default_dir);
    let mut cases = cases(&dir, args.case.as_deref(), &output)?;
    if let Some(duration) = &args.long_duration {
        super::cases::with_long_duration(&mut cases, duration)?;
    }
    let at_once = if one_at_a_time(&rig).is_some() {
        1
    } else {
        default_jobs().get().min(cases.len().max(1))
    };
    let board = args.board.as_deref().unwrap_or(DUT);
    println!(
        "rig {}, board {board}, {} Device Advisor case(s), {at_once} at a time",
        rig.path.display(),
        cases.len()
    );
    std::fs::create_dir_all(&output)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", output.display()))?;
    let rig_name = rig.path.display().to_string();
    let runner = Arc::new(Runner::new(rig).with_output_root(output.clone()));
    let start = std::time::Instant::now();
    let reports = run_all(&runner, &cases, at_once, &stop.token, &output).await;
    summary(&reports, start.elapsed(), false, at_once);

    let tally = Tally::of(cases.len(), &reports);
    let markdown = output.join(MARKDOWN);
    write(
        &markdown,
        &render_markdown(&rig_name, board, &cases, &reports),
    )?;
    let html = output.join(HTML);
    let picture =
        |report: &Report| std::fs::read_to_string(report.output.join("timeline.svg")).ok();
    write(
        &html,
        &render_html(&rig_name, board, &cases, &reports, picture),
    )?;
    let junit = output.join(JUNIT);
    // Each test case is named by its Device Advisor name, with its purpose.
    let case_of = |report: &Report| {
        cases
            .iter()
            .find(|c| c.id() == report.id)
            .map(|c| JunitCase {
                name: super::cases::name(c).to_owned(),
                purpose: super::markdown::purpose(c).to_owned(),
            })
    };
    write_junit(&junit, &reports, &case_of)?;
    println!("report: {}", markdown.display());
    println!("HTML:   {}", html.display());
    println!("JUnit:  {}", junit.display());

    if stop.token.is_cancelled() {
        return Ok(Ending::Interrupted);
    }
    Ok(if tally.overall().passed() {
        Ending::Passed
    } else {
        Ending::Failed
    })
}
