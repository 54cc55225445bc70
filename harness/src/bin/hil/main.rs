//! `hil`: runs scenario files on a rig, and the tools around them.
//!
//! Exit codes (see [`exit_code`]): 0 when every scenario passed or was skipped, 1 when one
//! failed, 2 when the input (rig, scenario, arguments) is invalid, 130 when `hil run` was
//! stopped by SIGINT or SIGTERM (see `interrupt`).

mod bring_up;
mod broker_cmd;
mod flash_cmd;
mod fleet_cmd;
mod interrupt;
mod leds_cmd;
mod provision_cmd;
mod qualify_cmd;
mod run_cmd;

use clap::{Parser, Subcommand};
use harness::rig::{BrokerSpec, Rig, workspace_root};
use miette::{Context, IntoDiagnostic};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Hardware-in-the-loop tests for cloud-connected boards.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files (or every *.toml in directories) on a rig.
    Run(run_cmd::RunArgs),
    /// Bring up many boards at once against the rig's broker and measure them (time to
    /// first telemetry, JITR, failures by cause, CPU and memory).
    Fleet(fleet_cmd::FleetArgs),
    /// Run the AWS IoT Device Advisor cases (scenarios/qualification/) and write a
    /// Markdown, an HTML and a JUnit report.
    Qualify(qualify_cmd::QualifyArgs),
    /// Run the rig's embedded broker on its own (signer CA registered for JITR) and print
    /// its events until Ctrl-C.
    Broker {
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Listen here instead of where the rig says (e.g. 0.0.0.0:8883 for boards on the LAN).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Do not print broker events.
        #[arg(long)]
        quiet: bool,
    },
    /// Bring a board up with the rig's broker and show its LEDs live.
    Leds {
        /// Board name in the rig.
        board: String,
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Provision it first (jitr, jitp, preregistered).
        #[arg(long)]
        provision: Option<harness::provision::ProvisionMode>,
        /// Stop after this long (e.g. 10s) instead of at Ctrl-C.
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        for_: Option<Duration>,
    },
    /// Provision a board against the rig's broker and wait for its first telemetry.
    Provision {
        /// Board name in the rig.
        board: String,
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long)]
        rig: Option<PathBuf>,
        /// jitr, jitp or preregistered.
        #[arg(long, default_value = "jitr")]
        mode: harness::provision::ProvisionMode,
        /// How long to wait for the first telemetry message.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        within: Duration,
    },
    /// Write firmware to a board (the rig's ELF, or ELF), verified, with progress bars.
    Flash {
        /// Board name in the rig.
        board: String,
        /// Firmware ELF instead of the rig's (probe-rs and QEMU boards).
        elf: Option<PathBuf>,
        /// Erase the chip first (an emulated board loses its provisioning).
        #[arg(long)]
        erase: bool,
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long)]
        rig: Option<PathBuf>,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// The test PKI of a rig.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
        /// Rig file (default: $HIL_RIG, or scenarios/rigs/emulated.toml).
        #[arg(long, global = true)]
        rig: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create the PKI (or keep the existing one); with --fresh, replace it.
    Init {
        /// Create everything anew.
        #[arg(long)]
        fresh: bool,
    },
    /// Show the PKI's certificates.
    Show,
}

/// What a command ended with.
pub(crate) enum Ending {
    Passed,
    Failed,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted,
}

/// The one place where results become exit codes.
fn exit_code(result: &miette::Result<Ending>) -> ExitCode {
    match result {
        Ok(Ending::Passed) => ExitCode::SUCCESS,
        Ok(Ending::Failed) => ExitCode::from(1),
        Ok(Ending::Interrupted) => ExitCode::from(interrupt::EXIT_INTERRUPTED),
        Err(_) => ExitCode::from(2),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => Err(miette::miette!("cannot start the async runtime: {e}")),
    };
    if let Err(report) = &result {
        eprintln!("{report:?}");
    }
    exit_code(&result)
}

pub(crate) fn load_rig(path: Option<&Path>) -> miette::Result<Rig> {
    Ok(match path {
        Some(path) => Rig::load(path)?,
        None => Rig::from_env(&workspace_root())?,
    })
}

async fn run(cli: Cli) -> miette::Result<Ending> {
    match cli.command {
        Command::Run(args) => run_cmd::run(args).await,
        Command::Fleet(args) => fleet_cmd::fleet(args).await,
        Command::Qualify(args) => qualify_cmd::qualify(args).await,
        Command::Broker { rig, listen, quiet } => {
            broker_cmd::serve(&load_rig(rig.as_deref())?, listen, quiet).await?;
            Ok(Ending::Passed)
        }
        Command::Leds {
            board,
            rig,
            provision,
            for_,
        } => {
            leds_cmd::watch(&load_rig(rig.as_deref())?, &board, provision, for_).await?;
            Ok(Ending::Passed)
        }
        Command::Provision {
            board,
            rig,
            mode,
            within,
        } => {
            let rig = load_rig(rig.as_deref())?;
            Ok(
                if provision_cmd::provision_board(&rig, &board, mode, within).await? {
                    Ending::Passed
                } else {
                    Ending::Failed
                },
            )
        }
        Command::Flash {
            board,
            elf,
            erase,
            rig,
        } => {
            flash_cmd::flash(&load_rig(rig.as_deref())?, &board, elf, erase).await?;
            Ok(Ending::Passed)
        }
        Command::Schema => {
            print!("{}", harness::scenario::json_schema());
            Ok(Ending::Passed)
        }
        Command::Pki { command, rig } => pki(command, &load_rig(rig.as_deref())?),
    }
}

fn pki(command: PkiCommand, rig: &Rig) -> miette::Result<Ending> {
    let endpoint = match &rig.broker {
        BrokerSpec::Embedded { endpoint, .. } => endpoint.clone(),
        BrokerSpec::External { host, .. } => host.clone(),
        _ => harness::rig::DEFAULT_ENDPOINT.to_owned(),
    };
    let names = [endpoint.as_str(), "localhost", "127.0.0.1"];
    let fresh = matches!(command, PkiCommand::Init { fresh: true });
    let pki = harness::pki::TestPki::open(&rig.pki_dir, &names, fresh)
        .into_diagnostic()
        .wrap_err_with(|| format!("test PKI in {}", rig.pki_dir.display()))?;
    println!("test PKI in {}", pki.dir().display());
    for (role, pem) in [
        ("root CA", &pki.root.pem),
        ("signer CA (registered for JITR)", &pki.signer.pem),
        ("server CA (the boards' rootca)", &pki.server_ca.pem),
        ("operator CA", &pki.operator_ca.pem),
        ("server certificate", &pki.server.cert_pem),
        ("operator certificate", &pki.operator.cert_pem),
    ] {
        match mock_broker::aws::certs::CertInfo::from_pem(pem) {
            Ok(info) => println!("  {role:<34} {}  id {}…", info.subject, &info.id[..16]),
            Err(e) => println!("  {role:<34} unreadable: {e}"),
        }
    }
    println!("private keys are in *.key (mode 0600) and are never printed");
    Ok(Ending::Passed)
}
