//! The reference firmware as a Cortex-M image under QEMU beside the host-built emulated
//! board: boot-to-first-telemetry and the JITR seed scenario's wall time, side by side.
//!
//! ```sh
//! ci/build-qemu-firmware
//! cargo bench -p harness --bench qemu_vs_emulated [-- RUNS]
//! ```
//!
//! Each rig runs `scenarios/jitr-first-connection.toml` RUNS times (default 3) through the
//! runner: the QEMU rig (`scenarios/rigs/qemu.toml`, real time), the default emulated rig
//! at speed 1 (real time, like QEMU) and at its own speed. Boot-to-first-telemetry is the
//! wall time from the `reset` that ends provisioning to the broker's first PUBLISH on
//! `<thing>/sensors`, read from the run's timeline (it includes the JITR round: the first
//! connection is closed after registration, the board backs off and connects again). The
//! figures are medians; nothing here asserts a speed.

use harness::clock::RigClock;
use harness::rig::{Rig, workspace_root};
use harness::runner::{Outcome, Quiet, Runner};
use harness::scenario::Scenario;
use serde_json::Value;
use std::path::Path;

/// Wall time (ms since the run began) from the provisioning `reset` to the first telemetry.
fn boot_to_first_telemetry(timeline: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(timeline).ok()?;
    let entries: Vec<Value> = serde_json::from_str(&text).ok()?;
    let reset = entries
        .iter()
        .filter(|e| e["kind"] == "console" && e["sent"] == true && e["line"] == "reset")
        .filter_map(|e| e["wall"].as_f64())
        .next_back()?;
    let telemetry = entries
        .iter()
        .filter(|e| e["kind"] == "broker")
        .filter(|e| e["event"]["event"] == "publish_in")
        .filter(|e| {
            e["event"]["topic"]
                .as_str()
                .is_some_and(|t| t.ends_with("/sensors"))
        })
        .filter_map(|e| e["wall"].as_f64())
        .find(|wall| *wall > reset)?;
    Some(telemetry - reset)
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

struct Figures {
    rig: String,
    boot_ms: Option<f64>,
    jitr: Option<f64>,
    failed: usize,
}

async fn measure(label: &str, rig: &Rig, scenario: &Scenario, runs: usize) -> Figures {
    let mut boots = Vec::new();
    let mut walls = Vec::new();
    let mut failed = 0;
    for run in 1..=runs {
        let report = Runner::new(rig.clone()).run(scenario, &Quiet).await;
        match &report.outcome {
            Outcome::Passed => {
                walls.push(report.duration.as_secs_f64());
                if let Some(ms) = boot_to_first_telemetry(&report.output.join("timeline.json")) {
                    boots.push(ms);
                }
            }
            other => {
                failed += 1;
                eprintln!("{label}: run {run} did not pass: {other:?}");
            }
        }
    }
    Figures {
        rig: label.to_owned(),
        boot_ms: median(boots),
        jitr: median(walls),
        failed,
    }
}

fn show(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2} {unit}"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let runs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(3)
        .max(1);
    let root = workspace_root();
    let scenario = Scenario::load(&root.join("scenarios/jitr-first-connection.toml"))
        .map_err(|e| format!("{:?}", miette::Report::new(e)))?;
    let load = |path: &str| {
        Rig::load(&root.join(path)).map_err(|e| format!("{:?}", miette::Report::new(e)))
    };
    let emulated = load("scenarios/rigs/emulated.toml")?;
    let mut real_time = emulated.clone();
    real_time.clock = RigClock::new(1.0).map_err(|e| e.to_string())?;
    let qemu = load("scenarios/rigs/qemu.toml")?;

    println!("jitr-first-connection, {runs} run(s) per rig, medians (wall time)");
    let mut rows = vec![
        measure("qemu (mps2-an385 image)", &qemu, &scenario, runs).await,
        measure("emulated, speed 1", &real_time, &scenario, runs).await,
    ];
    let speed = emulated.clock.speed();
    rows.push(
        measure(
            &format!("emulated, speed {speed}"),
            &emulated,
            &scenario,
            runs,
        )
        .await,
    );
    println!(
        "{:<28} {:>26} {:>16} {:>7}",
        "rig", "boot to first telemetry", "JITR scenario", "failed"
    );
    for row in &rows {
        println!(
            "{:<28} {:>26} {:>16} {:>7}",
            row.rig,
            show(row.boot_ms, "ms"),
            show(row.jitr, "s"),
            row.failed
        );
    }
    Ok(())
}
