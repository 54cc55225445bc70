//! One test per scenario file in `scenarios/`, named after the file, run on the rig that
//! `HIL_RIG` names (the emulated rig by default); and again on the QEMU rig
//! (`scenarios/rigs/qemu.toml`, the reference firmware as a Cortex-M image), ignored
//! unless QEMU and the image are there.
//!
//! On an emulated rig the tests run in parallel, each scenario with its own broker and
//! boards. A rig that runs one scenario at a time (a lab board: see
//! [`harness::schedule::one_at_a_time`]) is taken by one test at a time: `cargo test` runs
//! the tests on threads of one process, which a lock serialises; `cargo nextest` runs each
//! in its own process, which the `lab` profile's `hil-rig` test group serialises (see
//! `.config/nextest.toml`).

use harness::rig::{Rig, workspace_root};
use harness::runner::{Outcome, Quiet, Runner};
use harness::scenario::Scenario;
use harness::schedule::one_at_a_time;
use std::path::PathBuf;

/// Held while a scenario runs on a rig that takes one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[rstest::rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario(#[files("../scenarios/*.toml")] path: PathBuf) {
    let rig =
        Rig::from_env(&workspace_root()).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let _alone = match one_at_a_time(&rig) {
        Some(_) => Some(ONE_AT_A_TIME.lock().await),
        None => None,
    };
    run(rig, &scenario).await;
}

#[rstest::rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn scenario_on_qemu(#[files("../scenarios/*.toml")] path: PathBuf) {
    let rig = Rig::load(&workspace_root().join("scenarios/rigs/qemu.toml"))
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    run(rig, &scenario).await;
}

/// Runs `scenario` on `rig`: a pass or a skip (said on stderr) passes, anything else panics
/// with the report.
async fn run(rig: Rig, scenario: &Scenario) {
    let report = Runner::new(rig).run(scenario, &Quiet).await;
    match report.outcome {
        Outcome::Passed => {}
        Outcome::Skipped(reason) => eprintln!("skipped {}: {reason}", scenario.name),
        Outcome::Failed(failure) => panic!("{}: {}\n{failure}", scenario.id(), scenario.name),
        Outcome::Interrupted(stop) => panic!("{}: {}\n{stop}", scenario.id(), scenario.name),
    }
}
