//! The same portable scenarios (tag `portable`: telemetry and LEDs, an unknown CA refused,
//! topic case) on every broker backend: the embedded mock broker, Mosquitto as a process,
//! and Mosquitto in a container. Each must pass, not be skipped; and on a backend without
//! AWS's control plane, the AWS-only scenarios are skipped with the reason.

use harness::rig::{Rig, workspace_root};
use harness::runner::{Outcome, Quiet, Runner};
use harness::scenario::Scenario;
use std::path::PathBuf;

fn scenarios() -> Vec<Scenario> {
    let dir = workspace_root().join("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Scenario::load(p).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e))))
        .collect()
}

fn portable() -> Vec<Scenario> {
    let portable: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| s.tags.iter().any(|t| t == "portable"))
        .collect();
    assert!(portable.len() >= 3, "the portable set is there");
    portable
}

fn rig(file: &str) -> Rig {
    Rig::load(&workspace_root().join("scenarios/rigs").join(file))
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)))
}

/// Runs the portable scenarios on `rig`; every one must pass.
async fn portable_scenarios_pass_on(rig: Rig) {
    let runner = Runner::new(rig);
    let mut failures = Vec::new();
    for scenario in portable() {
        let report = runner.run(&scenario, &Quiet).await;
        match report.outcome {
            Outcome::Passed => {}
            Outcome::Skipped(reason) => {
                failures.push(format!("{}: skipped: {reason}", scenario.id()))
            }
            Outcome::Failed(failure) => failures.push(format!("{}: {failure}", scenario.id())),
            Outcome::Interrupted(stop) => failures.push(format!("{}: {stop}", scenario.id())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portable_scenarios_pass_on_the_embedded_broker() {
    portable_scenarios_pass_on(rig("emulated.toml")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (Debian package)"]
async fn portable_scenarios_pass_on_mosquitto() {
    portable_scenarios_pass_on(rig("emulated-mosquitto.toml")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Docker engine and the hil-mosquitto:2 image (ci/build-mosquitto-image)"]
async fn portable_scenarios_pass_in_a_mosquitto_container() {
    portable_scenarios_pass_on(rig("emulated-container.toml")).await;
}

#[test]
fn aws_only_scenarios_are_skipped_on_mosquitto_and_in_a_container_with_the_reason() {
    let all = scenarios();
    let is_portable = |s: &&Scenario| s.tags.iter().any(|t| t == "portable");
    for (file, kind) in [
        ("emulated-mosquitto.toml", "mosquitto"),
        ("emulated-container.toml", "container"),
    ] {
        let runner = Runner::new(rig(file));
        for scenario in all.iter().filter(|s| !is_portable(s)) {
            let reason = runner.unsupported(scenario).unwrap_or_else(|| {
                panic!(
                    "{} needs AWS behaviour and should be skipped",
                    scenario.id()
                )
            });
            assert!(
                reason.contains(&format!("{kind} broker does not have")),
                "{reason}"
            );
        }
        for scenario in all.iter().filter(is_portable) {
            assert_eq!(runner.unsupported(scenario), None, "{}", scenario.id());
        }
    }
}
