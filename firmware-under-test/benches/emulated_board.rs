//! Figures for the emulated board, printed rather than asserted:
//! - process start to prompt: from spawning `emulated-board` to the answer of its first
//!   console command;
//! - LED edge timestamp jitter: how far the blue LED's 250 ms blink edges stray from
//!   250 ms, at speed 1.
//!
//! Run with `cargo bench -p firmware-under-test --bench emulated_board`.

#[allow(dead_code)]
#[path = "../tests/integration/support.rs"]
mod support;

use serde_json::json;
use std::time::Instant;
use support::{Board, Pki, provision};

const STARTS: usize = 10;
const BLINK_EDGES: usize = 40;

fn summary(label: &str, mut values: Vec<f64>, unit: &str) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    println!(
        "{label:<34} n={n:<3} min {:>8.3} {unit}  median {:>8.3} {unit}  mean {:>8.3} {unit}  max {:>8.3} {unit}",
        values[0],
        values[n / 2],
        mean,
        values[n - 1]
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Process start to prompt.
    let mut starts = Vec::new();
    for _ in 0..STARTS {
        let began = Instant::now();
        let board = Board::start(1.0, &[]).await;
        let mut console = support::Console::open(&board.serial);
        console.sync().await;
        starts.push(began.elapsed().as_secs_f64() * 1000.0);
        assert!(board.terminate().await.success());
    }
    summary("process start to prompt", starts, "ms");

    // LED edge jitter: a provisioned board whose access point is not in range keeps
    // joining, so blue blinks at 250 ms for as long as we watch.
    let pki = Pki::new();
    let board = Board::start(1.0, &["--join-ms", "600000"]).await;
    let mut console = board.console().await;
    provision(&mut console, &pki, 8883).await;
    let mut control = board.control().await;
    control.request(json!({"cmd": "subscribe_gpio"})).await;
    assert_eq!(console.command("reset").await, "OK");
    let watch = Instant::now();
    let edges = control
        .edges_until(|edges| edges.iter().filter(|e| e["led"] == "blue").count() > BLINK_EDGES)
        .await;
    let blue: Vec<f64> = edges
        .iter()
        .filter(|e| e["led"] == "blue")
        .filter_map(|e| e["host_us"].as_f64())
        .collect();
    // The first edge is the boot's; measure between the later ones.
    let intervals: Vec<f64> = blue[1..]
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1000.0)
        .collect();
    let errors: Vec<f64> = intervals.iter().map(|i| (i - 250.0).abs()).collect();
    summary("blue blink half-period (250 ms)", intervals, "ms");
    summary("LED edge jitter |interval - 250|", errors, "ms");
    println!("watched {:.1} s of blinking", watch.elapsed().as_secs_f64());
    assert!(board.terminate().await.success());
}
