//! `emulated-board`: the reference firmware running on the host, as the CI board.
//!
//! The first line on stdout is `serial: /dev/pts/N`, the console's pseudo-terminal; with
//! `--control`, the second is `control: PATH`. `EMULATED_BOARD.md` documents the console,
//! the control channel and the state dir. The process exits cleanly on SIGTERM, on Ctrl-C,
//! and when its parent dies.

mod clock;
mod control;
mod emulator;
mod gpio;
mod lenient;
mod mqtt;
mod network;
mod nvm;
mod pty;
mod record_limit;
mod secure_element;
mod sensors;
mod wifi;

use clap::Parser;
use firmware_under_test::flaws::Flaw;
use std::net::IpAddr;
use std::path::PathBuf;

/// Runs the reference firmware on the host as an emulated board.
#[derive(Parser, Debug)]
#[command(version = firmware_under_test::FIRMWARE_VERSION, about)]
pub struct Args {
    /// The board's flash and secure element: provisioning data and the device key.
    #[arg(long)]
    state_dir: PathBuf,
    /// Also make the console reachable through this symlink.
    #[arg(long)]
    pty_link: Option<PathBuf>,
    /// Unix socket for the control channel (JSON lines).
    #[arg(long)]
    control: Option<PathBuf>,
    /// Time scale: at 10, telemetry every 1 s happens every 100 ms.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// An access point in range, `SSID:PASS` (WPA2) or `SSID` (open); repeatable.
    #[arg(long = "ap")]
    aps: Vec<String>,
    /// Resolve an endpoint name to a local address, `NAME=ADDR`; repeatable.
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// How long a Wi-Fi join takes, in firmware milliseconds.
    #[arg(long, default_value_t = 1500)]
    join_ms: u64,
    /// Telemetry QoS, 0 or 1.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
    /// Telemetry interval, in firmware milliseconds.
    #[arg(long, default_value_t = 1000)]
    telemetry_ms: u64,
    /// Seed of the backoff jitter (default: derived from the device serial, so boards
    /// differ).
    #[arg(long)]
    seed: Option<u64>,
    /// Break one AWS IoT Device Advisor rule on purpose (repeatable), to see its
    /// qualification case fail: no-client-cert, accept-any-server-name, accept-any-issuer,
    /// accept-expired-server-cert, small-tls-buffer, small-cert-buffer, tls12-chacha-only,
    /// wrong-client-id, no-backoff, no-jitter, no-telemetry,
    /// no-dup, no-retain, no-subscribe, no-subscribe-retry, ignore-pingresp-loss, clean-session-always,
    /// never-resubscribe, no-shadow-report, leak-per-connection, jobs-never-complete.
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
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("emulated-board: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(emulator::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emulated-board: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_help_names_every_flaw_and_an_unknown_one_is_refused_with_the_list() {
        let command = Args::command();
        let help = command
            .get_arguments()
            .find(|arg| arg.get_id() == "flaws")
            .and_then(|arg| arg.get_help())
            .map(|help| help.to_string().replace('\n', " "))
            .unwrap();
        for flaw in Flaw::ALL {
            assert!(
                help.contains(flaw.name()),
                "{} missing from {help}",
                flaw.name()
            );
        }
        let error = Args::try_parse_from(["emulated-board", "--state-dir", "x", "--flaw", "nope"])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown flaw; the flaws are no-client-cert, "),
            "{error}"
        );
        let args = Args::try_parse_from(["emulated-board", "--state-dir", "x", "--flaw", "no-dup"])
            .unwrap();
        assert_eq!(args.flaws, [Flaw::NoDup]);
    }
}
