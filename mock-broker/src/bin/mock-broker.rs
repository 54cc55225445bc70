//! `mock-broker`: runs the local AWS IoT Core stand-in from the command line.
//!
//! `mock-broker serve` listens with mutual TLS. Without certificate options it creates (or
//! reuses) a throw-away PKI under `<state-dir>/pki` and prints a `mosquitto_sub` command
//! that connects to it. Ctrl-C or SIGTERM shuts it down cleanly, saving retained messages
//! and persistent sessions to the state dir.

use clap::{Args, Parser, Subcommand};
use miette::{Context, IntoDiagnostic, Result};
use mock_broker::aws::admin_api::AdminApi;
use mock_broker::aws::control_plane::{ControlPlane, ControlPlaneConfig, ControlPlaneError};
use mock_broker::aws::registry::{Account, AccountError};
use mock_broker::aws::shadow::ShadowService;
use mock_broker::dev_pki::{TestCa, Validity};
use mock_broker::mqtt::tls;
use mock_broker::{BrokerConfig, ClientAuth, MockBroker, ServerIdentity, TapEvent};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// How long the tap reader lets events gather between wake-ups (the tap holds
/// `tap_capacity` events, far more than arrive in this time).
const TAP_BATCH: std::time::Duration = std::time::Duration::from_millis(2);

/// A local stand-in for AWS IoT Core: MQTT 3.1.1 over mutual TLS.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MQTT over mutual TLS until Ctrl-C.
    Serve(Serve),
}

#[derive(Args)]
struct Serve {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8883")]
    listen: SocketAddr,
    /// Directory for state (retained messages, persistent sessions) and generated
    /// certificates.
    #[arg(long)]
    state_dir: PathBuf,
    /// Endpoint name for the generated server certificate (also gets `localhost` and
    /// 127.0.0.1 as subject alternative names).
    #[arg(long, default_value = "localhost")]
    endpoint: String,
    /// Server certificate chain, PEM (instead of a generated one).
    #[arg(long, requires = "server_key")]
    server_cert: Option<PathBuf>,
    /// Server private key, PEM.
    #[arg(long, requires = "server_cert")]
    server_key: Option<PathBuf>,
    /// CA certificate that client certificates must chain to, PEM (repeatable; instead of
    /// a generated client CA).
    #[arg(long)]
    client_ca: Vec<PathBuf>,
    /// Multiply protocol timers (keep-alive, session expiry, fault delays, the revocation
    /// and zero-touch delays) by this factor.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// How long after a certificate (or its CA) stops being ACTIVE its live connections
    /// are closed, in milliseconds (scaled by --time-scale).
    #[arg(long, default_value_t = 200)]
    revocation_delay_ms: u64,
    /// Print every tap event to stdout as a JSON line.
    #[arg(long)]
    tap: bool,
    /// Run AWS IoT Core's control plane: registries, JITR, policies, and the HTTP admin
    /// API. The client CAs become operator CAs, whose certificates may do anything.
    #[arg(long)]
    control_plane: bool,
    /// The built-in Microchip zero-touch rule: activate JITR certificates after this many
    /// milliseconds.
    #[arg(long, requires = "control_plane")]
    zero_touch_ms: Option<u64>,
    /// Address of the admin API (AWS IoT REST subset).
    #[arg(long, requires = "control_plane", default_value = "127.0.0.1:0")]
    admin_listen: SocketAddr,
    /// The AWS region the broker stands in for: in every ARN, and the only region the
    /// admin API accepts in a request's SigV4 credential scope.
    #[arg(long, requires = "control_plane", default_value = "us-east-1", value_parser = parse_region)]
    region: String,
    /// The 12-digit AWS account id the broker stands in for: in every ARN and event.
    #[arg(long, requires = "control_plane", default_value = "123456789012", value_parser = parse_account_id)]
    account_id: String,
}

fn parse_region(text: &str) -> std::result::Result<String, AccountError> {
    Account::check_region(text).map(|()| text.to_owned())
}

fn parse_account_id(text: &str) -> std::result::Result<String, AccountError> {
    Account::check_id(text).map(|()| text.to_owned())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "mock_broker=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()
        .into_diagnostic()
        .wrap_err("cannot start the async runtime")?;
    match cli.command {
        Command::Serve(serve) => runtime.block_on(run_serve(serve)),
    }
}

/// Files of the generated PKI.
struct DevPki {
    dir: PathBuf,
}

impl DevPki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

async fn run_serve(args: Serve) -> Result<()> {
    let mut shutdown = ShutdownSignal::install().wrap_err("cannot install signal handlers")?;
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        miette::bail!(
            "--time-scale must be a positive number, got {}",
            args.time_scale
        );
    }
    let pki = DevPki {
        dir: args.state_dir.join("pki"),
    };
    let generated_server = args.server_cert.is_none();
    let generated_client = args.client_ca.is_empty();
    if generated_server || generated_client {
        std::fs::create_dir_all(&pki.dir)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot create {}", pki.dir.display()))?;
    }
    let server = match (&args.server_cert, &args.server_key) {
        (Some(cert), Some(key)) => ServerIdentity::from_pem_files(cert, key)
            .into_diagnostic()
            .wrap_err("cannot load the server certificate")?,
        _ => generate_server(&pki, &args.endpoint)?,
    };
    let client_cas = if generated_client {
        generate_client(&pki)?;
        vec![pki.path("client-ca.pem")]
    } else {
        args.client_ca.clone()
    };
    let mut roots = Vec::new();
    for path in &client_cas {
        roots.extend(
            tls::read_certificates(path)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot load client CA {}", path.display()))?,
        );
    }

    let mut config = BrokerConfig::new(server, ClientAuth::TrustRoots(roots.clone()));
    config.listen = args.listen;
    config.state_dir = Some(args.state_dir.clone());
    config.core.time_scale = args.time_scale;
    config.revocation_delay = std::time::Duration::from_millis(args.revocation_delay_ms);
    let plane = if args.control_plane {
        let mut plane_config = ControlPlaneConfig::new(&args.endpoint);
        plane_config.account.region = args.region.clone();
        plane_config.account.id = args.account_id.clone();
        plane_config.operator_cas = roots;
        plane_config.state_dir = Some(args.state_dir.clone());
        plane_config.zero_touch = args.zero_touch_ms.map(std::time::Duration::from_millis);
        let plane = match ControlPlane::new(plane_config) {
            Ok(plane) => plane,
            Err(ControlPlaneError::AccountMismatch {
                path,
                saved_id,
                saved_region,
                id,
                region,
            }) => miette::bail!(
                "{} holds the registries of account {saved_id} in {saved_region}, not {id} in {region}: start with --account-id {saved_id} --region {saved_region}, or use another --state-dir",
                path.display()
            ),
            Err(error) => {
                return Err(error)
                    .into_diagnostic()
                    .wrap_err("cannot start the control plane");
            }
        };
        plane.install(&mut config);
        Some(plane)
    } else {
        // Without the control plane, the Device Shadow service still answers.
        let shadows = ShadowService::new(Some(&args.state_dir))
            .into_diagnostic()
            .wrap_err("cannot read the saved shadows")?;
        config.services.push(std::sync::Arc::new(shadows));
        None
    };
    let broker = MockBroker::start(config)
        .await
        .into_diagnostic()
        .wrap_err("cannot start the broker")?;
    let addr = broker.local_addr();
    let admin = match &plane {
        Some(plane) => Some(
            AdminApi::start_with_data(args.admin_listen, plane.clone(), broker.handle())
                .await
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot serve the admin API on {}", args.admin_listen))?,
        ),
        None => None,
    };

    let mut out = std::io::stderr().lock();
    let _ = writeln!(
        out,
        "mock-broker listening on {addr} (endpoint {})",
        args.endpoint
    );
    if generated_server {
        let _ = writeln!(
            out,
            "  server CA:    {}",
            pki.path("server-ca.pem").display()
        );
    }
    if generated_client {
        let _ = writeln!(
            out,
            "  client CA:    {}",
            pki.path("client-ca.pem").display()
        );
        let _ = writeln!(out, "  client cert:  {}", pki.path("client.pem").display());
        let _ = writeln!(out, "  client key:   {}", pki.path("client.key").display());
    }
    if generated_server && generated_client {
        let _ = writeln!(
            out,
            "try it:\n  mosquitto_sub -h localhost -p {port} --cafile {ca} --cert {cert} --key {key} -t '#' -v",
            port = addr.port(),
            ca = pki.path("server-ca.pem").display(),
            cert = pki.path("client.pem").display(),
            key = pki.path("client.key").display(),
        );
    }
    if let Some(admin) = &admin {
        let _ = writeln!(
            out,
            "admin API (AWS IoT REST subset) and iot-data API: {}",
            admin.url()
        );
        let _ = writeln!(
            out,
            "  account {} in {}: aws --endpoint-url {} --region {} iot get-registration-code",
            args.account_id,
            args.region,
            admin.url(),
            args.region
        );
        if let Some(ms) = args.zero_touch_ms {
            let _ = writeln!(
                out,
                "  zero-touch activation of JITR certificates after {ms} ms"
            );
        }
    }
    let _ = writeln!(out, "Ctrl-C stops it.");
    drop(out);

    // Every event is read (and printed with --tap), in batches: one wake-up of this thread
    // per TAP_BATCH rather than per event, which at load cost the broker a third of its CPU.
    let mut tap = broker.tap();
    let print = |event: &TapEvent| {
        if args.tap
            && let Ok(line) = serde_json::to_string(event)
        {
            println!("{line}");
        }
    };
    let printing = async {
        while let Some(event) = tap.next().await {
            print(&event);
            while let Some(event) = tap.try_next() {
                print(&event);
            }
            tokio::time::sleep(TAP_BATCH).await;
        }
    };
    tokio::select! {
        _ = printing => {}
        _ = shutdown.received() => {}
    }
    eprintln!("shutting down");
    broker.shutdown().await;
    Ok(())
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is created, so a signal that
/// arrives before it is awaited is not lost (nor does it kill the process).
struct ShutdownSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignal {
            interrupt: signal(SignalKind::interrupt()).into_diagnostic()?,
            terminate: signal(SignalKind::terminate()).into_diagnostic()?,
        })
    }

    async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Reuses `server.pem`/`server.key` under the PKI dir, or generates a server CA and a
/// server certificate for the endpoint.
fn generate_server(pki: &DevPki, endpoint: &str) -> Result<ServerIdentity> {
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    if !(cert.exists() && key.exists()) {
        let ca = TestCa::new("mock-broker server CA").into_diagnostic()?;
        let mut names = vec![endpoint, "localhost", "127.0.0.1"];
        names.dedup();
        let mut unique = Vec::new();
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        let issued = ca.server(&unique, Validity::Long).into_diagnostic()?;
        write_public(&pki.path("server-ca.pem"), &ca.pem())?;
        write_public(&cert, &issued.cert_pem)?;
        write_private(&key, &issued.key_pem)?;
    }
    ServerIdentity::from_pem_files(&cert, &key)
        .into_diagnostic()
        .wrap_err("cannot load the generated server certificate")
}

/// Reuses or generates a client CA and one client certificate for trying the broker out.
fn generate_client(pki: &DevPki) -> Result<()> {
    let (ca_path, cert, key) = (
        pki.path("client-ca.pem"),
        pki.path("client.pem"),
        pki.path("client.key"),
    );
    if ca_path.exists() && cert.exists() && key.exists() {
        return Ok(());
    }
    let ca = TestCa::new("mock-broker client CA").into_diagnostic()?;
    let issued = ca
        .client("mock-broker-client", Validity::Long)
        .into_diagnostic()?;
    write_public(&ca_path, &ca.pem())?;
    write_public(&cert, &issued.cert_pem)?;
    write_private(&key, &issued.key_pem)
}

fn write_public(path: &Path, pem: &str) -> Result<()> {
    std::fs::write(path, pem)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

/// Writes a private key readable by its owner only (mode 0600).
fn write_private(path: &Path, pem: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(pem.as_bytes())
    };
    write()
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}
