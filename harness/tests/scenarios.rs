//! One test per scenario file in `scenarios/`, named after the file, run on the rig that
//! `HIL_RIG` names (the emulated rig by default).

use harness::rig::{Rig, workspace_root};
use harness::runner::{Outcome, Quiet, Runner};
use harness::scenario::Scenario;
use std::path::PathBuf;

#[rstest::rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario(#[files("../scenarios/*.toml")] path: PathBuf) {
    let rig =
        Rig::from_env(&workspace_root()).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let report = Runner::new(rig).run(&scenario, &Quiet).await;
    match report.outcome {
        Outcome::Passed => {}
        Outcome::Skipped(reason) => eprintln!("skipped {}: {reason}", scenario.name),
        Outcome::Failed(failure) => panic!("{}: {}\n{failure}", scenario.id(), scenario.name),
        Outcome::Interrupted(stop) => panic!("{}: {}\n{stop}", scenario.id(), scenario.name),
    }
}
