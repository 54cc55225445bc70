//! Fleet mode at scale: 1000 boards (the issue's target) through JITR to their first
//! telemetry, in real time, with the figures `hil fleet` prints.
//!
//! ```sh
//! cargo bench -p harness --bench fleet [-- BOARDS [SPEED]]
//! ```
//!
//! One `fleet-board` process (found or built like `hil fleet`'s: `$HIL_FLEET_BOARD`, or
//! the debug build in the target dir) runs BOARDS boards (default 1000) at SPEED (default
//! 1, real time: a board's Wi-Fi join, backoff and the zero-touch delay take what they
//! take on a real fleet) against the default rig's embedded broker, all powered on at
//! once. It prints the report's summary, then the issue's two targets beside the
//! figures: every board at its first telemetry within 60 s of wall time, and at most
//! 2 MiB of the fleet process's peak memory per board. Nothing is asserted: a slow or
//! busy machine makes slower figures, not a failure.

use harness::fleet::{Fleet, FleetOptions};
use harness::rig::{Rig, workspace_root};
use std::time::Duration;

/// Every board at its first telemetry within this (wall time).
const TARGET_WALL: Duration = Duration::from_secs(60);
/// At most this much of the fleet process's peak memory per board.
const TARGET_PER_BOARD: u64 = 2 * 1024 * 1024;

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let numbers: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let boards = numbers.first().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let speed = numbers.get(1).and_then(|n| n.parse().ok()).unwrap_or(1.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench(boards, speed));
}

async fn bench(boards: usize, speed: f64) {
    let rig = match Rig::load(&workspace_root().join("scenarios/rigs/emulated.toml")) {
        Ok(rig) => rig,
        Err(e) => {
            eprintln!("fleet bench: cannot load the default rig: {e}");
            return;
        }
    };
    let options = FleetOptions {
        speed: Some(speed),
        ..FleetOptions::new(boards)
    };
    println!("fleet bench: {boards} boards at speed {speed} (JITR, all powered on at once)");
    let report = async {
        let mut fleet = Fleet::start(&rig, options).await?;
        fleet.provision().await?;
        fleet.run().await
    }
    .await;
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("fleet bench: the run failed: {e}");
            return;
        }
    };
    print!("{}", report.summary());
    let all = report.wall.all_first_telemetry_ms;
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!(
        "target: every board at its first telemetry within {}s of wall time: {} ({})",
        TARGET_WALL.as_secs(),
        verdict(all.is_some_and(|ms| ms <= TARGET_WALL.as_secs_f64() * 1000.0)),
        all.map_or_else(
            || format!("{} boards did not get there", report.tally.failed),
            |ms| format!("{:.1} s", ms / 1000.0)
        )
    );
    let per_board = report.fleet_process.peak_rss_per_board_bytes;
    println!(
        "target: at most {} MiB per board in the fleet process: {} ({} KiB)",
        TARGET_PER_BOARD / (1024 * 1024),
        verdict(per_board <= TARGET_PER_BOARD),
        per_board / 1024
    );
}
