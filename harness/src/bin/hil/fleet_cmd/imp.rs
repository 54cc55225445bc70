//! `hil fleet`'s arguments and its run: the fleet started, provisioned and run with
//! progress bars on a terminal (plain stage lines otherwise), then the summary printed and
//! `fleet.json` written. Exit 0 when every board sent telemetry (and, with `--storm`, came
//! back spread out), 1 when one did not (or the storm came back as a herd), 2 on invalid
//! input, 130 on Ctrl-C or SIGTERM (the fleet process and the broker are stopped).

use crate::bring_up::Stop;
use crate::{Ending, load_rig};
use harness::fleet::{
    Fleet, FleetOptions, FleetProgress, FleetReport, Partition, Stage, StormOptions,
};
use harness::provision::ProvisionMode;
use harness::rig::workspace_root;
use indicatif::{ProgressBar, ProgressStyle};
use miette::{Context, IntoDiagnostic};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// The report's file name in the output directory.
pub const REPORT: &str = "fleet.json";
/// The picture's file name in the output directory.
pub const PICTURE: &str = "fleet.html";

/// `hil fleet`'s arguments.
#[derive(clap::Args)]
pub struct FleetArgs {
    /// How many boards (with `--partition`, in the whole fleet); at most 100000.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    boards: u32,
    /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml); its broker must be
    /// the embedded one, or (with `--partition`) an external endpoint.
    #[arg(long)]
    rig: Option<PathBuf>,
    /// jitr, jitp or preregistered.
    #[arg(long, default_value = "jitr")]
    mode: ProvisionMode,
    /// Keep the fleet running this long after power-on (board time), even once every
    /// board sent telemetry.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    for_: Option<Duration>,
    /// A board without telemetry this long after power-on (board time) has failed.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    within: Duration,
    /// Spread the power-ons over this long (board time; default: all at once).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    ramp: Duration,
    /// The clock's speed (default 1, real time, whatever the rig's): the host's own work
    /// (TLS handshakes) does not speed up, so at the rig's speed (500) it lasts 500 times
    /// longer in board time and more than a few boards at once miss their 10 s connect
    /// timeout. Speed up small fleets only.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Worker threads of the fleet process.
    #[arg(long, default_value_t = 2)]
    threads: u16,
    /// Then a reconnect storm: once every board has stayed connected 35 s (board time, so
    /// its backoff starts again from its first delay), the broker drops them all at once;
    /// the report says how they came back, and whether their first retries were spread
    /// (jitter) or a herd (exit 1).
    #[arg(long)]
    storm: bool,
    /// Run every board with this flaw (repeatable), e.g. no-jitter: see
    /// `emulated-board --help`.
    #[arg(long = "flaw", value_name = "NAME")]
    flaws: Vec<String>,
    /// Bring up slice M of N of the fleet (`--boards` is the whole fleet), against the
    /// rig's external endpoint: run `hil broker` (or set up any endpoint for JITR with the
    /// rig's PKI) once, and one `hil fleet --partition M/N` per machine, M = 0..N-1.
    #[arg(long, value_name = "M/N")]
    partition: Option<String>,
    /// Write fleet.json and fleet.html (the charts) here (default: target/hil/fleet in
    /// the workspace).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
}

/// Runs `hil fleet`.
pub async fn fleet(args: FleetArgs) -> miette::Result<Ending> {
    let mut stop = Stop::install()?;
    let rig = load_rig(args.rig.as_deref())?;
    if args.mode == ProvisionMode::Unregistered {
        miette::bail!("a fleet is provisioned in jitr, jitp or preregistered mode");
    }
    let partition = args
        .partition
        .as_deref()
        .map(|text| Partition::parse(text, args.boards as usize))
        .transpose()
        .map_err(|e| miette::miette!("{e}"))?;
    let boards = partition.map_or(args.boards as usize, |p| p.slice());
    let options = FleetOptions {
        mode: args.mode,
        partition,
        speed: Some(args.speed),
        within: args.within,
        run_for: args.for_,
        ramp: args.ramp,
        threads: args.threads.max(1),
        flaws: args.flaws.clone(),
        storm: args.storm.then(StormOptions::default),
        ..FleetOptions::new(boards)
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| workspace_root().join("target").join("hil").join("fleet"));
    // Before the run: a directory that cannot be made would lose its report.
    std::fs::create_dir_all(&output)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", output.display()))?;
    let work = async {
        let mut fleet = Fleet::start(&rig, options).await?;
        let shown = tokio::spawn(show(fleet.progress()));
        fleet.provision().await?;
        let report = fleet.run().await;
        let _ = shown.await;
        report
    };
    let report: FleetReport = tokio::select! {
        _ = stop.requested() => {
            eprintln!("hil fleet: stopped; the fleet and the broker are shut down");
            return Ok(Ending::Interrupted);
        }
        report = work => report.into_diagnostic().wrap_err("hil fleet")?,
    };
    // Written, not printed: a reader that stops early (`hil fleet | head -1`) is no panic.
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", report.summary());
    std::fs::create_dir_all(&output)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", output.display()))?;
    let path = output.join(REPORT);
    let json = serde_json::to_string_pretty(&report.to_json()).into_diagnostic()?;
    std::fs::write(&path, json)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    let _ = writeln!(out, "report: {}", path.display());
    let page = output.join(PICTURE);
    std::fs::write(&page, harness::fleet::render_html(&report))
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", page.display()))?;
    let _ = writeln!(out, "HTML:   {}", page.display());
    Ok(if report.passed() {
        Ending::Passed
    } else {
        Ending::Failed
    })
}

/// Shows the run's progress until it is done: a bar per stage on a terminal, a line per
/// stage otherwise.
async fn show(mut progress: watch::Receiver<FleetProgress>) {
    let terminal = std::io::stderr().is_terminal();
    let mut stage = None;
    let mut bar: Option<ProgressBar> = None;
    loop {
        let now = progress.borrow_and_update().clone();
        if stage != Some(now.stage) {
            if let Some(bar) = bar.take() {
                bar.finish();
            }
            stage = Some(now.stage);
            let (label, template) = match now.stage {
                Stage::Starting => (
                    "starting the broker (if embedded) and the boards' keys",
                    None,
                ),
                Stage::Provisioning => (
                    "provisioning",
                    Some("{elapsed:>4} provisioning {bar:30} {pos}/{len}"),
                ),
                Stage::Running => (
                    "powered on",
                    Some("{elapsed:>4} first telemetry {bar:30} {pos}/{len} {msg}"),
                ),
                Stage::Storm => (
                    "every board dropped at once",
                    Some("{elapsed:>4} back after the drop {bar:30} {pos}/{len}"),
                ),
                Stage::Done => return,
            };
            match template {
                Some(template) if terminal => {
                    let new = ProgressBar::new(now.boards as u64);
                    new.set_style(
                        ProgressStyle::with_template(template)
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    new.enable_steady_tick(Duration::from_millis(200));
                    bar = Some(new);
                }
                _ => eprintln!("hil fleet: {label} ({} boards)", now.boards),
            }
        }
        if let Some(bar) = &bar {
            match now.stage {
                Stage::Provisioning => bar.set_position(now.provisioned as u64),
                Stage::Storm => bar.set_position(now.reconnected as u64),
                _ => {
                    bar.set_position(now.reached_telemetry as u64);
                    bar.set_message(format!(
                        "({} connected, {} failed attempts)",
                        now.connected, now.failed_attempts
                    ));
                }
            }
        }
        if progress.changed().await.is_err() {
            if let Some(bar) = bar.take() {
                bar.finish();
            }
            return;
        }
    }
}
