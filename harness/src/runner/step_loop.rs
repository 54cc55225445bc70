//! The step loop every kind of scenario shares ([`run_steps`]): each step announced to the
//! [`Progress`], marked started, passed, failed or interrupted on the timeline, timed in
//! wall and board time; the first failure (what was expected, what was seen, the timeline
//! around it) or an interruption (the stop token) ends the loop in the [`Report`]. What a
//! step does is the [`StepRunner`]'s: the rig's boards and broker (`World`), or a fleet
//! (`fleet_run`).

use super::world::Mismatch;
use super::{Failure, Interruption, Outcome, Progress, REPORT_WINDOW, Report, StepTiming};
use crate::scenario::{Scenario, Span, Step};
use crate::timeline::{Timeline, What};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs one step of a scenario.
pub(super) trait StepRunner {
    /// Runs step `index` (from 0) of the scenario.
    async fn run(&mut self, index: usize, step: &Span<Step>) -> Result<(), Mismatch>;
}

/// Runs `scenario`'s steps with `runner` into `report`; see the module documentation.
pub(super) async fn run_steps(
    scenario: &Scenario,
    runner: &mut impl StepRunner,
    timeline: &Timeline,
    progress: &dyn Progress,
    stop: &CancellationToken,
    report: &mut Report,
) {
    for (index, step) in scenario.steps.iter().enumerate() {
        let number = index + 1;
        let kind = step.get().kind();
        let status = |status: &str| What::Step {
            index: number,
            text: kind.to_owned(),
            status: status.into(),
        };
        progress.step_started(number, kind);
        timeline.record(status("started"));
        let step_start = std::time::Instant::now();
        let step_board_start = timeline.now();
        let result = tokio::select! {
            biased;
            () = stop.cancelled() => None,
            result = runner.run(index, step) => Some(result),
        };
        let took = step_start.elapsed();
        report.steps.push(StepTiming {
            kind: kind.to_owned(),
            duration: took,
            board: timeline.now().saturating_sub(step_board_start),
        });
        // A step that failed because the run is being stopped (a terminal's Ctrl-C
        // reaches the boards too) was interrupted, not failed.
        let result = match result {
            Some(Err(_)) if stop.is_cancelled() => None,
            other => other,
        };
        let Some(result) = result else {
            let at = timeline.record(status("interrupted"));
            progress.step_interrupted(number, kind, took);
            report.outcome = Outcome::Interrupted(Box::new(Interruption {
                step: number,
                kind: kind.to_owned(),
                context: timeline.around(at, REPORT_WINDOW, Duration::ZERO),
            }));
            return;
        };
        let passed = result.is_ok();
        let at = timeline.record(status(if passed { "passed" } else { "failed" }));
        progress.step_finished(number, kind, passed, took);
        if let Err(m) = result {
            report.outcome = Outcome::Failed(Box::new(Failure {
                step: number,
                kind: kind.to_owned(),
                expected: m.expected,
                seen: m.seen,
                context: timeline.around(at, REPORT_WINDOW, Duration::ZERO),
            }));
            return;
        }
    }
}
