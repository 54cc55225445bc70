//! What `hil run` prints while scenarios run: each scenario's block (its header, its steps
//! with ok/FAILED and times, and how it ended, with the failure report) and, on a
//! terminal, one status line per running scenario.
//!
//! [`Live`] picks one of three ways when the run starts:
//! - **bars**, when stdout and stderr are both a terminal: indicatif's `MultiProgress` keeps
//!   one status line per running scenario (its id, current step, elapsed time) and an
//!   overall line at the bottom, on stderr; each scenario's block is printed whole on stdout,
//!   above the lines, when it ends;
//! - **stream**, without a terminal when only one scenario runs at a time: the block is
//!   printed as it is made (each step when it starts and ends), which is the same text as a
//!   whole block, with no wait for it;
//! - **blocks**, without a terminal when several run at once (CI logs): each block is
//!   printed whole when its scenario ends, in the order they end, so nothing interleaves.
//!
//! The summary table and the JUnit file are not printed here but in `report`.

use harness::runner::{Outcome, Progress, Report};
use harness::scenario::Scenario;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the status lines are redrawn (their elapsed times and spinners).
const TICK: Duration = Duration::from_millis(200);

/// How a run shows its scenarios; see the module documentation.
pub enum Live {
    /// Status lines on a terminal, whole blocks above them.
    Bars {
        /// The status lines.
        lines: MultiProgress,
        /// The overall line: scenarios done of all.
        overall: ProgressBar,
        /// The width of the widest scenario id, so the status lines line up.
        width: usize,
        /// How many scenarios failed so far.
        failed: AtomicUsize,
    },
    /// Each block printed as it is made (one scenario at a time).
    Stream,
    /// Each block printed whole when it ends.
    Blocks,
}

impl Live {
    /// The way to show `scenarios` run with at most `at_once` at a time.
    pub fn new(scenarios: &[Scenario], at_once: usize) -> Live {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let lines = MultiProgress::new();
        if terminal && !lines.is_hidden() {
            let overall = lines.add(ProgressBar::new(scenarios.len() as u64));
            overall.set_style(
                ProgressStyle::with_template("{elapsed:>4} {pos}/{len} scenario(s) done{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            overall.enable_steady_tick(TICK);
            let width = scenarios.iter().map(|s| s.id().len()).max().unwrap_or(8);
            Live::Bars {
                lines,
                overall,
                width,
                failed: AtomicUsize::new(0),
            }
        } else if at_once == 1 {
            Live::Stream
        } else {
            Live::Blocks
        }
    }

    /// A scenario starts: its progress, for the runner.
    pub fn start(&self, scenario: &Scenario) -> Arc<ScenarioLive> {
        let header = format!("  {} — {}", scenario.id(), scenario.name);
        let bar = match self {
            Live::Bars {
                lines,
                overall,
                width,
                ..
            } => {
                let bar = lines.insert_before(overall, ProgressBar::new_spinner());
                let template = format!("{{spinner}} {{prefix:<{width}}} {{elapsed:>4}}  {{msg}}");
                bar.set_style(
                    ProgressStyle::with_template(&template)
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(scenario.id());
                bar.set_message("setting up the rig");
                bar.enable_steady_tick(TICK);
                Some(bar)
            }
            Live::Stream | Live::Blocks => None,
        };
        let stream = matches!(self, Live::Stream);
        if stream {
            println!("{header}");
        }
        Arc::new(ScenarioLive {
            header,
            total: scenario.steps.len(),
            stream,
            steps: Mutex::default(),
            bar,
        })
    }

    /// A scenario ended with `report`: its block is printed whole (or, streaming, its end).
    pub fn finish(&self, live: &ScenarioLive, report: &Report) {
        let ending = ending(report);
        match self {
            Live::Stream => print_whole(&ending),
            Live::Blocks => print_whole(&live.block(&ending)),
            Live::Bars {
                lines,
                overall,
                failed,
                ..
            } => {
                if let Some(bar) = &live.bar {
                    bar.finish_and_clear();
                    lines.remove(bar);
                }
                lines.suspend(|| print_whole(&live.block(&ending)));
                overall.inc(1);
                if matches!(report.outcome, Outcome::Failed(_)) {
                    let failed = failed.fetch_add(1, Ordering::Relaxed) + 1;
                    overall.set_message(format!(", {failed} FAILED"));
                }
            }
        }
    }

    /// The run is over: the status lines go away before the summary.
    pub fn close(&self) {
        if let Live::Bars { lines, overall, .. } = self {
            overall.finish_and_clear();
            let _ = lines.clear();
        }
    }
}

/// Writes `text` to stdout in one go, so blocks from scenarios that end at once do not mix.
fn print_whole(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The end of a scenario's block: passed, skipped, or the failure (or interruption) report
/// and where the timeline is; each line ends with a newline.
pub fn ending(report: &Report) -> String {
    let timeline = format!(
        "  timeline: {}\n",
        report.output.join("timeline.json").display()
    );
    match &report.outcome {
        Outcome::Passed => format!("  passed in {:.1}s\n", report.duration.as_secs_f64()),
        Outcome::Skipped(reason) => format!("  skipped: {reason}\n"),
        Outcome::Failed(failure) => {
            format!("  FAILED\n{}\n{timeline}", indent(&failure.to_string()))
        }
        Outcome::Interrupted(interruption) => {
            format!(
                "  INTERRUPTED\n{}\n{timeline}",
                indent(&interruption.to_string())
            )
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One running scenario's progress: its status line, and its block's step lines so far.
pub struct ScenarioLive {
    header: String,
    total: usize,
    /// Print each step as it goes (else keep it for the block).
    stream: bool,
    steps: Mutex<Vec<String>>,
    bar: Option<ProgressBar>,
}

impl ScenarioLive {
    /// The whole block: header, steps, `ending`.
    fn block(&self, ending: &str) -> String {
        let steps = self.steps.lock().unwrap_or_else(|p| p.into_inner());
        let mut block = format!("{}\n", self.header);
        for line in steps.iter() {
            block.push_str(line);
            block.push('\n');
        }
        block.push_str(ending);
        block
    }

    fn step_ended(&self, index: usize, kind: &str, how: String) {
        if self.stream {
            println!(" {how}");
        } else {
            let line = format!("    [{index}/{}] {kind} ... {how}", self.total);
            self.steps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(line);
        }
    }
}

impl Progress for ScenarioLive {
    fn step_started(&self, index: usize, kind: &str) {
        if self.stream {
            print!("    [{index}/{}] {kind} ...", self.total);
            let _ = std::io::stdout().flush();
        }
        if let Some(bar) = &self.bar {
            bar.set_message(format!("[{index}/{}] {kind}", self.total));
        }
    }

    fn step_finished(&self, index: usize, kind: &str, passed: bool, took: Duration) {
        let verdict = if passed { "ok" } else { "FAILED" };
        self.step_ended(
            index,
            kind,
            format!("{verdict} ({:.1}s)", took.as_secs_f64()),
        );
    }

    fn step_interrupted(&self, index: usize, kind: &str, took: Duration) {
        self.step_ended(
            index,
            kind,
            format!("interrupted ({:.1}s)", took.as_secs_f64()),
        );
    }
}
