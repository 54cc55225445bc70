//! The runner: sets up a rig, runs a scenario's steps, and reports.
//!
//! [`Runner::run`] opens the test PKI, starts the rig's broker and the boards the scenario
//! uses, runs each step with its timeout, and always tears everything down. Before starting
//! anything it checks that the rig can do what the scenario needs; if not, the scenario is
//! [`Outcome::Skipped`] with the reason. A failed step gives a [`Failure`]: what was
//! expected, what was seen, and the timeline around it. Every run writes its timeline to
//! `target/hil/<scenario>/`, as JSON (`timeline.json`) and as a picture (`timeline.svg`).
//!
//! [`Runner::run_until`] stops early when its token is cancelled (the CLI's Ctrl-C): the step
//! under way is dropped (as a `parallel` block drops its other steps when one fails), the
//! boards, clients and broker are torn down as after any run, the timeline is written, and
//! the outcome is [`Outcome::Interrupted`].
//!
//! `expect_message` counts messages since the scenario started (so a message that came
//! during an earlier step counts), with its deadline measured from the step's start.
//!
//! A step may leave notes on the timeline ([`What::Note`]): the evidence of its verdict, or
//! a warning. The [`Report`] carries them ([`Report::notes`]); a run whose steps all passed
//! with a warning among them passed with warnings ([`Report::passed_with_warnings`]), which
//! reports show as a verdict of its own (its outcome is still [`Outcome::Passed`]).
//!
//! The run's timeline runs on the rig's clock ([`Rig::clock`]): every duration in the
//! scenario is board time, and so are the timeline's times in a failure report and the
//! SVG. A [`Report`] has both the wall time a run took and its board time.

use crate::board::Board;
use crate::clock::RigClock;
use crate::rig::{BrokerSpec, Rig};
use crate::scenario::{Scenario, Step};
use crate::timeline::{Entry, Timeline, What};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use world::World;

mod backoff;
mod cipher_offers;
mod clients;
mod cloud;
mod expect;
mod fleet_run;
mod jobs;
mod long_duration;
mod message;
mod needs;
mod packets;
mod snapshot_step;
mod start;
mod step_loop;
mod tls_cases;
mod world;
pub use backoff::{
    Attempt, BackoffVerdict, FINAL_RATIO, MAX_DELAYS, PASS_RATIO, attempts_in, backoff_verdict,
    backoff_warning,
};
pub use clients::DEFAULT_CLIENT_TIMEOUT;
pub use jobs::job_history;
pub use message::{Message, Source, json_contains, message_of};
pub use needs::{Need, broker_shortfall, need_of};
pub use start::{open_pki, start_board, start_broker, start_embedded_broker};
pub use tls_cases::{SuiteNote, SuiteVerdict, cipher_suite_verdict, padded_payload};
pub use tokio_util::sync::CancellationToken;
pub use world::DEFAULT_COMMAND_TIMEOUT;

/// How much timeline a failure report shows before and after the failure.
pub const REPORT_WINDOW: Duration = Duration::from_secs(5);

/// A failed step.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Step index (from 1).
    pub step: usize,
    /// Step kind.
    pub kind: String,
    /// What the step expected.
    pub expected: String,
    /// What happened instead.
    pub seen: String,
    /// Timeline entries around the failure.
    pub context: Vec<Entry>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "step {} ({}) failed", self.step, self.kind)?;
        writeln!(f, "  expected: {}", self.expected)?;
        writeln!(f, "  seen:     {}", self.seen)?;
        writeln!(f, "  timeline around the failure:")?;
        for entry in &self.context {
            writeln!(f, "    {entry}")?;
        }
        Ok(())
    }
}

/// How a scenario ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step failed (or the rig could not be set up).
    Failed(Box<Failure>),
    /// The rig lacks what the scenario needs.
    Skipped(String),
    /// The run was stopped (Ctrl-C) before the scenario finished.
    Interrupted(Box<Interruption>),
}

/// Where a run was stopped.
#[derive(Debug, Clone)]
pub struct Interruption {
    /// The step under way, or about to start (from 1; 0 during the set-up).
    pub step: usize,
    /// Its kind (`set-up` during the set-up).
    pub kind: String,
    /// The timeline before the interruption.
    pub context: Vec<Entry>,
}

impl std::fmt::Display for Interruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "interrupted at step {} ({})", self.step, self.kind)?;
        writeln!(f, "  timeline before the interruption:")?;
        for entry in &self.context {
            writeln!(f, "    {entry}")?;
        }
        Ok(())
    }
}

/// One step's timing.
#[derive(Debug, Clone)]
pub struct StepTiming {
    /// Step kind.
    pub kind: String,
    /// How long it took (wall time).
    pub duration: Duration,
    /// How long it took on the rig's clock (board time).
    pub board: Duration,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario id (file stem).
    pub id: String,
    /// Scenario name.
    pub name: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Wall time of the whole run.
    pub duration: Duration,
    /// Board time the steps took, on the rig's clock (set-up and tear-down are not in it;
    /// zero when no step ran).
    pub board_time: Duration,
    /// The rig's clock the run had.
    pub clock: RigClock,
    /// Steps that ran.
    pub steps: Vec<StepTiming>,
    /// Where the timeline was written.
    pub output: PathBuf,
    /// What the steps noted on the timeline ([`What::Note`]), in order: the evidence of
    /// their verdicts, and warnings.
    pub notes: Vec<Note>,
}

/// A note a step left on the timeline ([`What::Note`]), with the timeline before it.
#[derive(Debug, Clone)]
pub struct Note {
    /// The note (`expect_backoff dut: passed on 6 attempts, delays ...`).
    pub text: String,
    /// A warning: the step passed, but this deserves a look.
    pub warning: bool,
    /// The timeline up to the note ([`REPORT_WINDOW`] before it), the note included.
    pub context: Vec<Entry>,
}

impl Report {
    /// The steps' board time per wall time of the whole run (`None` for a run that took
    /// no time): the rig's speed, less what set-up and tear-down (starting processes, the
    /// broker, the PKI) cost in wall time.
    pub fn board_ratio(&self) -> Option<f64> {
        let wall = self.duration.as_secs_f64();
        (wall > 0.0).then(|| self.board_time.as_secs_f64() / wall)
    }

    /// The warnings the steps noted, in order.
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.notes
            .iter()
            .filter(|note| note.warning)
            .map(|note| note.text.as_str())
    }

    /// Every step passed, and one noted a warning: the run passed with warnings.
    pub fn passed_with_warnings(&self) -> bool {
        matches!(self.outcome, Outcome::Passed) && self.warnings().next().is_some()
    }
}

/// Receives progress while a scenario runs.
pub trait Progress: Send + Sync {
    /// A step starts.
    fn step_started(&self, _index: usize, _kind: &str) {}
    /// A step ended, after `_took` of wall time.
    fn step_finished(&self, _index: usize, _kind: &str, _passed: bool, _took: Duration) {}
    /// The run was stopped during a step (it neither passed nor failed).
    fn step_interrupted(&self, _index: usize, _kind: &str, _took: Duration) {}
}

/// A scenario's steps on the rig's boards and broker.
struct BoardSteps<'a> {
    world: &'a World,
    scenario: &'a Scenario,
}

impl step_loop::StepRunner for BoardSteps<'_> {
    async fn run(
        &mut self,
        index: usize,
        _step: &crate::scenario::Span<Step>,
    ) -> Result<(), world::Mismatch> {
        // Every string of the step gets the variables' values here, once, so no step
        // kind has to fill them in itself.
        match self.scenario.step_filled(index, &self.world.variables()) {
            Ok(filled) => self.world.run_step(self.scenario, &filled).await,
            Err(why) => Err(world::mismatch("the step's variables to have values", why)),
        }
    }
}

/// The notes on `timeline`, each with the timeline before it.
fn notes(timeline: &Timeline) -> Vec<Note> {
    timeline
        .entries()
        .iter()
        .filter_map(|entry| match &entry.what {
            What::Note { text, warning } => Some(Note {
                text: text.clone(),
                warning: *warning,
                context: timeline
                    .around(entry.at, REPORT_WINDOW, Duration::ZERO)
                    .into_iter()
                    .filter(|e| e.seq <= entry.seq)
                    .collect(),
            }),
            _ => None,
        })
        .collect()
}

/// Progress that goes nowhere.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// Runs scenarios on a rig.
#[derive(Debug, Clone)]
pub struct Runner {
    rig: Rig,
    output_root: PathBuf,
}

impl Runner {
    /// A runner for `rig`, writing under `<workspace>/target/hil`.
    pub fn new(rig: Rig) -> Self {
        Runner {
            rig,
            output_root: crate::rig::workspace_root().join("target").join("hil"),
        }
    }

    /// Writes outputs under `root` instead.
    pub fn with_output_root(mut self, root: PathBuf) -> Self {
        self.output_root = root;
        self
    }

    /// Why the rig cannot run `scenario`, if it cannot.
    pub fn unsupported(&self, scenario: &Scenario) -> Option<String> {
        if matches!(self.rig.broker, BrokerSpec::External { .. }) {
            return Some(
                "the runner starts its broker; an external broker is for `hil` tools only".into(),
            );
        }
        let (kind, capabilities) = (self.rig.broker.kind(), self.rig.broker.capabilities());
        if let Some(reason) = broker_shortfall(scenario, kind, capabilities) {
            return Some(reason);
        }
        for board in &scenario.boards {
            let Some(spec) = self.rig.boards.get(board) else {
                return Some(format!(
                    "the rig {} has no board {board:?}",
                    self.rig.path.display()
                ));
            };
            let can = spec.capabilities();
            for step in scenario.all_steps() {
                let lacking = match step {
                    Step::WifiDown(_) | Step::WifiUp(_) if !can.wifi => {
                        Some("network (Wi-Fi) control")
                    }
                    Step::SetSensor(_) if !can.environment => Some("sensor control"),
                    Step::PowerCycle(_) if !can.power_cycle => Some("power control"),
                    _ => None,
                };
                let on_board = step.board().is_some_and(|b| b.get() == board);
                if let Some(lacking) = lacking.filter(|_| on_board) {
                    return Some(format!(
                        "step {} needs {lacking}, which board {board} ({}) on this rig does not offer",
                        step.kind(),
                        spec.kind()
                    ));
                }
            }
        }
        None
    }

    /// Runs `scenario`.
    pub async fn run(&self, scenario: &Scenario, progress: &dyn Progress) -> Report {
        self.run_until(scenario, progress, &CancellationToken::new())
            .await
    }

    /// The clock `scenario` runs on: the rig's, or its `max_speed` when the rig is faster.
    pub fn clock_for(&self, scenario: &Scenario) -> RigClock {
        match &scenario.max_speed {
            Some(max) if *max.get() < self.rig.clock.speed() => {
                RigClock::new(*max.get()).unwrap_or(self.rig.clock)
            }
            _ => self.rig.clock,
        }
    }

    /// Runs `scenario` until it ends or `stop` is cancelled, whichever comes first; either
    /// way the rig is torn down and the timeline written before this returns. The set-up
    /// (broker and boards starting) is not cut short; the first step then does not start.
    pub async fn run_until(
        &self,
        scenario: &Scenario,
        progress: &dyn Progress,
        stop: &CancellationToken,
    ) -> Report {
        let started = std::time::Instant::now();
        let output = self.output_root.join(scenario.id());
        let clock = self.clock_for(scenario);
        let mut report = Report {
            id: scenario.id(),
            name: scenario.name.clone(),
            outcome: Outcome::Passed,
            duration: Duration::ZERO,
            board_time: Duration::ZERO,
            clock,
            steps: Vec::new(),
            output: output.clone(),
            notes: Vec::new(),
        };
        if let Some(reason) = self.unsupported(scenario) {
            report.outcome = Outcome::Skipped(reason);
            return report;
        }
        if let Some(section) = &scenario.fleet {
            return self
                .run_fleet(scenario, section, progress, stop, report)
                .await;
        }
        let timeline = Timeline::with_clock(clock);
        let world = self.set_up(scenario, timeline.clone()).await;
        let world = match world {
            Ok(world) => world,
            Err(_) if stop.is_cancelled() => {
                report.outcome = Outcome::Interrupted(Box::new(Interruption {
                    step: 0,
                    kind: "set-up".into(),
                    context: timeline.entries(),
                }));
                report.duration = started.elapsed();
                return report;
            }
            Err(reason) => {
                report.outcome = Outcome::Failed(Box::new(Failure {
                    step: 0,
                    kind: "set-up".into(),
                    expected: "the rig starts".into(),
                    seen: reason,
                    context: timeline.entries(),
                }));
                report.duration = started.elapsed();
                return report;
            }
        };
        let mut boards = BoardSteps {
            world: &world,
            scenario,
        };
        step_loop::run_steps(
            scenario,
            &mut boards,
            &timeline,
            progress,
            stop,
            &mut report,
        )
        .await;
        world.tear_down().await;
        report.notes = notes(&timeline);
        if std::fs::create_dir_all(&output).is_ok() {
            let _ = std::fs::write(output.join("timeline.json"), timeline.to_json());
            let picture = crate::svg::render(&scenario.name, &timeline.entries());
            let _ = std::fs::write(output.join("timeline.svg"), picture);
        }
        report.duration = started.elapsed();
        report.board_time = report.steps.iter().map(|step| step.board).sum();
        report
    }

    async fn set_up(&self, scenario: &Scenario, timeline: Arc<Timeline>) -> Result<World, String> {
        let (pki, broker) = start_broker(&self.rig, timeline.clone()).await?;
        // Where this run's broker is: runs in parallel each have their own.
        timeline.record(What::Action {
            text: format!(
                "{} broker for {} at {}",
                broker.kind(),
                broker.endpoint(),
                std::net::SocketAddr::new(broker.address(), broker.port())
            ),
        });
        let mut boards: BTreeMap<String, Box<dyn Board>> = BTreeMap::new();
        for name in &scenario.boards {
            let board = start_board(&self.rig, name, broker.as_ref(), timeline.clone()).await?;
            boards.insert(name.clone(), board);
        }
        let access_points = scenario
            .boards
            .iter()
            .filter_map(|b| Some((b.clone(), self.rig.access_point(b)?.clone())))
            .collect();
        let world = World::new(scenario, timeline, broker, boards, pki, access_points)
            .with_provision_hooks(self.rig.provision_hooks.clone());
        let ca_id = world.pki.signer.id().map_err(|e| e.to_string())?;
        world.set_variable("ca.id".into(), ca_id);
        Ok(world)
    }
}
