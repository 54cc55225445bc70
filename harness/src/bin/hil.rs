//! `hil`: the harness command line.
use clap::Parser;

/// Hardware-in-the-loop tests for cloud-connected boards.
#[derive(Parser)]
#[command(version, about)]
struct Args {}

fn main() {
    let _args = Args::parse();
}
