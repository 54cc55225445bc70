//! Running a `[fleet]` scenario: the fleet started and provisioned as `hil fleet` does it
//! ([`Fleet`]), then its steps: `fleet_power_on`, `fleet_storm`, `expect_fleet` and `wait`,
//! each judged on the fleet's accounting. The steps, their verdicts and the fleet's figures
//! go on the scenario's timeline (as notes); `fleet.json` and `fleet.html` are written
//! beside `timeline.json`. The fleet runs on its own clock (`[fleet] speed`, default 1).

use super::step_loop::{StepRunner, run_steps};
use super::world::{Mismatch, mismatch};
use super::{Failure, Interruption, Outcome, Progress, Report, Runner};
use crate::clock::RigClock;
use crate::fleet::{Fleet, FleetOptions, StormOptions, StormVerdict};
use crate::provision::ProvisionMode;
use crate::scenario::{FleetSection, Scenario, Step};
use crate::timeline::{Timeline, What};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The fleet's options from its section (validated at load).
fn options_of(section: &FleetSection) -> FleetOptions {
    let mode = match section.mode.as_ref().map(|m| m.get().as_str()) {
        Some("jitp") => ProvisionMode::Jitp,
        Some("preregistered") => ProvisionMode::Preregistered,
        _ => ProvisionMode::Jitr,
    };
    FleetOptions {
        mode,
        speed: Some(section.speed.as_ref().map_or(1.0, |s| *s.get())),
        ramp: section
            .ramp
            .as_ref()
            .map_or(Duration::ZERO, Scenario::checked_duration),
        flaws: section.flaws.iter().map(|f| f.get().clone()).collect(),
        ..FleetOptions::new(*section.boards.get() as usize)
    }
}

/// Seconds, for verdicts.
fn secs(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

impl Runner {
    /// Runs `scenario`, whose `[fleet]` is `section`, into `report`; see the module
    /// documentation.
    pub(super) async fn run_fleet(
        &self,
        scenario: &Scenario,
        section: &FleetSection,
        progress: &dyn Progress,
        stop: &CancellationToken,
        mut report: Report,
    ) -> Report {
        let started = std::time::Instant::now();
        let options = options_of(section);
        let clock = options
            .speed
            .and_then(|speed| RigClock::new(speed).ok())
            .unwrap_or_default();
        report.clock = clock;
        let timeline = Timeline::with_clock(clock);
        let set_up = async {
            let mut fleet = Fleet::start(&self.rig, options).await?;
            fleet.provision().await?;
            Ok::<Fleet, crate::errors::FleetError>(fleet)
        };
        let fleet = tokio::select! {
            biased;
            () = stop.cancelled() => None,
            fleet = set_up => Some(fleet),
        };
        let mut fleet = match fleet {
            Some(Ok(fleet)) => fleet,
            None => {
                report.outcome = Outcome::Interrupted(Box::new(Interruption {
                    step: 0,
                    kind: "set-up".into(),
                    context: timeline.entries(),
                }));
                report.duration = started.elapsed();
                return report;
            }
            Some(Err(e)) => {
                report.outcome = Outcome::Failed(Box::new(Failure {
                    step: 0,
                    kind: "set-up".into(),
                    expected: format!("{} boards started and provisioned", section.boards.get()),
                    seen: e.to_string(),
                    context: timeline.entries(),
                }));
                report.duration = started.elapsed();
                return report;
            }
        };
        let mut steps = FleetSteps {
            fleet: &mut fleet,
            timeline: &timeline,
        };
        run_steps(scenario, &mut steps, &timeline, progress, stop, &mut report).await;
        let fleet_report = if stop.is_cancelled() {
            // Dropped: the fleet process and the broker stop with it.
            drop(fleet);
            None
        } else {
            fleet.finish().await.ok()
        };
        report.notes = super::notes(&timeline);
        let output = &report.output;
        if std::fs::create_dir_all(output).is_ok() {
            let _ = std::fs::write(output.join("timeline.json"), timeline.to_json());
            let picture = crate::svg::render(&scenario.name, &timeline.entries());
            let _ = std::fs::write(output.join("timeline.svg"), picture);
            if let Some(fleet_report) = &fleet_report {
                let json = serde_json::to_string_pretty(&fleet_report.to_json());
                let _ = std::fs::write(output.join("fleet.json"), json.unwrap_or_default());
                let page = crate::fleet::render_html(fleet_report);
                let _ = std::fs::write(output.join("fleet.html"), page);
            }
        }
        report.duration = started.elapsed();
        report.board_time = report.steps.iter().map(|step| step.board).sum();
        report
    }
}

/// A fleet scenario's steps on its fleet.
struct FleetSteps<'a> {
    fleet: &'a mut Fleet,
    timeline: &'a Arc<Timeline>,
}

impl StepRunner for FleetSteps<'_> {
    async fn run(
        &mut self,
        _index: usize,
        step: &crate::scenario::Span<Step>,
    ) -> Result<(), Mismatch> {
        fleet_step(self.fleet, step.get(), self.timeline).await
    }
}

/// Runs one step of a fleet scenario; its evidence goes on `timeline` as a note.
async fn fleet_step(
    fleet: &mut Fleet,
    step: &Step,
    timeline: &Arc<Timeline>,
) -> Result<(), Mismatch> {
    let note = |text: String| {
        timeline.record(What::Note {
            text,
            warning: false,
        })
    };
    let failed = |e: crate::errors::FleetError| mismatch("the fleet runs", e.to_string());
    match step {
        Step::FleetPowerOn(s) => {
            let within = Scenario::checked_duration(&s.within);
            fleet.power_on(within).await.map_err(failed)?;
            let tally = fleet.tally();
            if tally.reached_telemetry < tally.boards {
                let causes: Vec<String> = tally
                    .failures_by_cause
                    .iter()
                    .map(|(cause, count)| format!("{count} {cause}"))
                    .collect();
                return Err(mismatch(
                    format!("every board's first telemetry within {within:?}"),
                    format!(
                        "{} of {} boards sent telemetry; without, by cause: {}",
                        tally.reached_telemetry,
                        tally.boards,
                        causes.join(", ")
                    ),
                ));
            }
            if let Some(d) = &tally.time_to_first_telemetry {
                note(format!(
                    "fleet_power_on: {} boards sent telemetry; power-on → first telemetry p50 {}, p99 {}, max {}; {} attempts",
                    tally.reached_telemetry,
                    secs(d.p50_ms),
                    secs(d.p99_ms),
                    secs(d.max_ms),
                    tally.attempts
                ));
            }
            Ok(())
        }
        Step::FleetStorm(s) => {
            let defaults = StormOptions::default();
            let options = StormOptions {
                after: s
                    .after
                    .as_ref()
                    .map_or(defaults.after, Scenario::checked_duration),
                within: s
                    .within
                    .as_ref()
                    .map_or(defaults.within, Scenario::checked_duration),
            };
            let storm = fleet.reconnect_storm(options).await.map_err(failed)?;
            let expected = format!(
                "every board dropped streams again within {:?}, its first retry spread by jitter",
                options.within
            );
            if storm.all_streaming_ms.is_none() {
                return Err(mismatch(
                    expected,
                    format!(
                        "{} dropped, {} back, {} streaming again",
                        storm.dropped, storm.reconnected, storm.streaming
                    ),
                ));
            }
            if storm.verdict == StormVerdict::Herd {
                return Err(mismatch(expected, storm.reason));
            }
            note(format!(
                "fleet_storm: {} dropped, every one streaming again {} after the drop; peak {} connection attempts in a second; {}",
                storm.dropped,
                secs(storm.all_streaming_ms.unwrap_or_default()),
                storm.peak_attempts_per_s,
                storm.reason
            ));
            Ok(())
        }
        Step::ExpectFleet(s) => {
            let tally = fleet.tally();
            if let Some(bound) = &s.first_telemetry_p99 {
                let bound = Scenario::checked_duration(bound);
                let p99 = tally.time_to_first_telemetry.as_ref().map(|d| d.p99_ms);
                match p99 {
                    Some(p99) if Duration::from_millis(p99) <= bound => {}
                    _ => {
                        return Err(mismatch(
                            format!("power-on → first telemetry p99 at most {bound:?}"),
                            p99.map_or("no board sent telemetry".into(), |ms| {
                                format!("p99 {}", secs(ms))
                            }),
                        ));
                    }
                }
            }
            if let Some(most) = s.max_attempts
                && tally.max_attempts > most
            {
                return Err(mismatch(
                    format!("at most {most} connection attempts by any board"),
                    format!("a board made {}", tally.max_attempts),
                ));
            }
            note(format!(
                "expect_fleet: p99 first telemetry {}, at most {} attempts by one board",
                tally
                    .time_to_first_telemetry
                    .as_ref()
                    .map_or("-".into(), |d| secs(d.p99_ms)),
                tally.max_attempts
            ));
            Ok(())
        }
        Step::Wait(s) => fleet
            .follow(Scenario::checked_duration(&s.for_))
            .await
            .map_err(failed),
        other => Err(mismatch(
            "a fleet step or wait",
            format!("{} in a fleet scenario", other.kind()),
        )),
    }
}
