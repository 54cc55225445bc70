//! `emulated-board`: runs the reference firmware on the host.
use clap::Parser;

/// Runs the reference firmware on the host as the CI board.
#[derive(Parser)]
#[command(version = firmware_under_test::FIRMWARE_VERSION, about)]
struct Args {}

fn main() {
    let _args = Args::parse();
}
