//! The `mosquitto` broker backend: Mosquitto as a child process, configured from the test
//! PKI ([`super::mosquitto_config`]), on an ephemeral port, observed by a client.
//!
//! The harness picks a free port, starts `mosquitto -c <conf>`, and waits until the port
//! accepts connections (or reports Mosquitto's own output if it exits first). The process
//! is killed when the broker is dropped, panics included. What the broker does is seen
//! through the observer of [`ObservedBroker`]; Mosquitto's own log goes to a file shown in
//! errors.

use super::mosquitto_config::ConfigDir;
use super::observed::{Host, ObservedBroker};
use crate::errors::BrokerError;
use crate::pki::TestPki;
use crate::timeline::Timeline;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long Mosquitto may take to listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How many ports are tried when another process takes the free port first.
const PORT_ATTEMPTS: usize = 3;

/// Mosquitto as a child process, with its configuration folder and log.
pub struct MosquittoProcess {
    child: tokio::process::Child,
    log: PathBuf,
    _config: ConfigDir,
}

/// Mosquitto as a process, seen through the observer.
pub type MosquittoBroker = ObservedBroker<MosquittoProcess>;

fn start_error(reason: impl std::fmt::Display) -> BrokerError {
    BrokerError::Start {
        kind: "mosquitto",
        reason: reason.to_string(),
    }
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16, BrokerError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| start_error(format!("no free port: {e}")))
}

/// The last lines of Mosquitto's log, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Waits until `port` accepts connections or the child exits; `Ok(false)` if it exited.
async fn wait_listening(
    child: &mut tokio::process::Child,
    port: u16,
    timeout: Duration,
) -> Result<bool, BrokerError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if child.try_wait().map_err(start_error)?.is_some() {
            return Ok(false);
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(start_error(format!(
                "mosquitto did not listen on port {port} within {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl ObservedBroker<MosquittoProcess> {
    /// Starts `program` for `endpoint` with the test PKI, and connects the observer.
    pub async fn start(
        program: &Path,
        endpoint: &str,
        pki: &TestPki,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BrokerError> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let config = ConfigDir::write(pki, "127.0.0.1", port, None)?;
            let log = config.path().join("mosquitto.log");
            let log_file = std::fs::File::create(&log).map_err(start_error)?;
            let mut child = tokio::process::Command::new(program)
                .arg("-c")
                .arg(config.conf())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(log_file)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    start_error(format!(
                        "cannot run {}: {e} (install Debian's `mosquitto` package, or set `program` in the rig's [broker])",
                        program.display()
                    ))
                })?;
            if !wait_listening(&mut child, port, START_TIMEOUT).await? {
                let tail = log_tail(&log);
                if tail.contains("Address already in use") {
                    last_error = Some(start_error(format!("port {port} was taken: {tail}")));
                    continue;
                }
                return Err(start_error(format!("mosquitto exited at start:\n{tail}")));
            }
            let process = MosquittoProcess {
                child,
                log,
                _config: config,
            };
            let localhost = IpAddr::from([127, 0, 0, 1]);
            return ObservedBroker::observe(process, endpoint, localhost, port, pki, timeline)
                .await;
        }
        Err(last_error.unwrap_or_else(|| start_error("no port could be used")))
    }

    /// Mosquitto's log file (its stderr).
    pub fn log(&self) -> &Path {
        &self.host().log
    }

    /// Mosquitto's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.host().child.id()
    }
}

#[async_trait::async_trait]
impl Host for MosquittoProcess {
    const KIND: &'static str = "mosquitto";

    fn describe(&self) -> String {
        format!("mosquitto's log:\n{}", log_tail(&self.log))
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
