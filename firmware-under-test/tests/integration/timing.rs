//! The emulated board's clock at high speed: a timer's LED edges carry the timer's own
//! firmware time whatever the host's delays, an answer on the control socket comes after
//! every edge made before it, and the board says where its firmware time 0 is on the
//! host's monotonic clock.

use crate::support::{Board, Pki, provision};
use serde_json::{Value, json};

/// The firmware times of `led`'s edges among `edges`.
fn times(edges: &[Value], led: &str) -> Vec<u64> {
    edges
        .iter()
        .filter(|e| e["led"] == led)
        .filter_map(|e| e["t_ms"].as_u64())
        .collect()
}

/// The host's monotonic clock, in nanoseconds.
fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_origin_places_firmware_time_on_the_host_clock() {
    let board = Board::start(50.0, &[]).await;
    let mut control = board.control().await;
    for _ in 0..5 {
        let before = monotonic_ns();
        let state = control.request(json!({"cmd": "state"})).await;
        let after = monotonic_ns();
        let origin = state["clock_origin_ns"].as_u64().unwrap();
        let firmware_ms = state["firmware_ms"].as_u64().unwrap();
        // Firmware time is host time since the origin, times the speed, in whole ms. The
        // first request may reach the board before its firmware starts (the control socket
        // is up first): then `before` is earlier than the origin.
        let at = |host: u64| (i128::from(host) - i128::from(origin)) as f64 * 50.0 / 1e6;
        assert!(
            at(before).floor() <= firmware_ms as f64 && firmware_ms as f64 <= at(after).ceil(),
            "{firmware_ms} ms is not between {:.3} and {:.3}",
            at(before),
            at(after)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_speed_200_a_blink_keeps_its_firmware_time_and_answers_come_after_edges() {
    let pki = Pki::new();
    let (broker, _tap) = pki.broker().await;
    // At speed 200 a 250 ms half period is 1.25 ms of host time, about tokio's timer tick:
    // the host runs the board late all the time. A 6 s join blinks blue about 12 times.
    let board = Board::start(200.0, &["--join-ms", "6000"]).await;
    let mut console = board.console().await;
    provision(&mut console, &pki, broker.local_addr().port()).await;
    let mut control = board.control().await;
    control.request(json!({"cmd": "subscribe_gpio"})).await;
    assert_eq!(console.command("reset").await, "OK");

    // Ask for the state while blue blinks: every edge made before an answer is read
    // before it, so no edge read after an answer is older than the answer.
    let mut edges = Vec::new();
    let mut answered_at = 0;
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    while times(&edges, "blue").len() < 16 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "blue made {} edges within {:?}",
            times(&edges, "blue").len(),
            crate::support::WAIT
        );
        let state = control.request(json!({"cmd": "state"})).await;
        let after_previous_answer = std::mem::take(&mut control.edges);
        for edge in &after_previous_answer {
            let t_ms = edge["t_ms"].as_u64().unwrap();
            assert!(
                t_ms >= answered_at,
                "edge at {t_ms} ms read after the answer at {answered_at} ms"
            );
        }
        edges.extend(after_previous_answer);
        answered_at = state["firmware_ms"].as_u64().unwrap();
    }

    let blue = times(&edges, "blue");
    let gaps: Vec<u64> = blue.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap == 250),
        "blue's edges are 250 ms of firmware time apart: {blue:?}"
    );
    drop(broker);
}
