//! `fleet-board`: many boards in one process, for `hil fleet`.
//!
//! Each board is the reference firmware's core with its own P-256 key (generated in
//! memory), CSR, credential store, TLS connection and MQTT session, on one tokio runtime;
//! no console device, no control socket, no state dir. The parent drives the process with
//! JSON lines on stdin and reads each board's events on stdout; `EMULATED_BOARD.md`
//! ("Fleet mode") is the contract. The process exits when stdin ends, on `stop`, on
//! SIGTERM or Ctrl-C, and when its parent dies.
//!
//! What it shares with `emulated-board` (the network stack, the secure element, the
//! sensors, the clock) is that binary's own files, included with `#[path]`; the firmware
//! library stays `no_std`.

#[path = "../emulated-board/clock.rs"]
#[allow(dead_code)] // shared with emulated-board; the fleet does not publish its origin
mod clock;
mod fleet;
mod instance;
#[path = "../emulated-board/lenient.rs"]
mod lenient;
#[path = "../emulated-board/mqtt.rs"]
mod mqtt;
#[path = "../emulated-board/network.rs"]
mod network;
mod protocol;
#[path = "../emulated-board/record_limit.rs"]
mod record_limit;
#[path = "../emulated-board/secure_element.rs"]
#[allow(dead_code)] // shared with emulated-board; the fleet keeps its keys in memory
mod secure_element;
#[path = "../emulated-board/sensors.rs"]
#[allow(dead_code)] // shared with emulated-board; the fleet has no control channel
mod sensors;

use clap::Parser;
use firmware_under_test::flaws::Flaw;
use std::net::IpAddr;

/// Runs many boards of the reference firmware in one process, driven over stdin/stdout.
#[derive(Parser, Debug)]
#[command(version = firmware_under_test::FIRMWARE_VERSION, about)]
pub struct Args {
    /// How many boards.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    boards: u32,
    /// Time scale of the fleet's clock: at 10, telemetry every 1 s happens every 100 ms.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Resolve an endpoint name to a local address, `NAME=ADDR`; repeatable.
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// How long a Wi-Fi join takes, in board milliseconds.
    #[arg(long, default_value_t = 1500)]
    join_ms: u64,
    /// Telemetry QoS, 0 or 1.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
    /// Telemetry interval, in board milliseconds.
    #[arg(long, default_value_t = 1000)]
    telemetry_ms: u64,
    /// Seed of the backoff jitter of board 0; board i gets seed + i (default: derived from
    /// each board's serial, so boards differ).
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// Break one AWS IoT Device Advisor rule on purpose on every board (repeatable), as
    /// `emulated-board --flaw` does: no-jitter, no-backoff, ...
    #[arg(long = "flaw", value_name = "NAME")]
    flaws: Vec<Flaw>,
}

impl Args {
    fn host_map(&self) -> Result<Vec<(String, IpAddr)>, String> {
        crate::network::host_map(&self.hosts)
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.threads))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fleet-board: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(fleet::run(args));
    // Board tasks may be mid-handshake; they are dropped with the runtime.
    runtime.shutdown_background();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet-board: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
