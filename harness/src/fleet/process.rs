//! The `fleet-board` process ([`FleetProcess`]): found or built like the emulated board,
//! started with its stdin and stdout as pipes, its lines decoded, killed when dropped (a
//! panic too) and gone by itself when the harness dies (it watches its parent, and its
//! stdin ends). Also what `/proc` says of a process's CPU time and memory
//! ([`ProcSample`]), for the report's figures.

use super::events::BoardEvent;
use crate::errors::FleetError;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The program's name in the workspace's target dir.
pub const PROGRAM: &str = "fleet-board";
/// The variable that names another `fleet-board`.
pub const PROGRAM_ENV: &str = "HIL_FLEET_BOARD";
/// How many of the program's last stderr lines an error shows.
const STDERR_LINES: usize = 20;

/// How to start `fleet-board`; the flags of `EMULATED_BOARD.md` ("Fleet mode").
#[derive(Debug, Clone)]
pub struct Launch {
    /// The program; found or built when `None`.
    pub program: Option<PathBuf>,
    /// How many boards.
    pub boards: usize,
    /// The clock's speed.
    pub speed: f64,
    /// The endpoint name and the address it resolves to.
    pub host: (String, std::net::IpAddr),
    /// Wi-Fi join, board ms.
    pub join_ms: u64,
    /// Telemetry period, board ms.
    pub telemetry_ms: u64,
    /// The runtime's worker threads.
    pub threads: u16,
    /// Flaws every board runs with (`--flaw NAME` each).
    pub flaws: Vec<String>,
}

/// A running `fleet-board`; see the module documentation.
pub struct FleetProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl FleetProcess {
    /// Starts the program as `launch` says.
    pub fn start(launch: &Launch) -> Result<Self, FleetError> {
        let program = match &launch.program {
            Some(path) => path.clone(),
            None => crate::board::emulated::find_workspace_binary(PROGRAM, PROGRAM_ENV)
                .map_err(|reason| FleetError::Program { reason })?,
        };
        let mut command = tokio::process::Command::new(&program);
        command
            .arg("--boards")
            .arg(launch.boards.to_string())
            .arg("--speed")
            .arg(launch.speed.to_string())
            .arg("--host")
            .arg(format!("{}={}", launch.host.0, launch.host.1))
            .arg("--join-ms")
            .arg(launch.join_ms.to_string())
            .arg("--telemetry-ms")
            .arg(launch.telemetry_ms.to_string())
            .arg("--threads")
            .arg(launch.threads.to_string())
            .args(
                launch
                    .flaws
                    .iter()
                    .flat_map(|flaw| ["--flaw", flaw.as_str()]),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| FleetError::Program {
            reason: format!("cannot start {}: {e}", program.display()),
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(FleetError::Program {
                reason: "the program's pipes are missing".into(),
            });
        };
        let kept = Arc::new(Mutex::new(VecDeque::new()));
        let keep = kept.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut kept = keep.lock().unwrap_or_else(|p| p.into_inner());
                if kept.len() == STDERR_LINES {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
        Ok(FleetProcess {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            stderr: kept,
        })
    }

    /// The process id (for `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends one command (a JSON object) as a line.
    pub async fn send(&mut self, command: &serde_json::Value) -> Result<(), FleetError> {
        let mut line = command.to_string();
        line.push('\n');
        match self.stdin.write_all(line.as_bytes()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.exited().await),
        }
    }

    /// The next line of stdout, decoded; an error when the process ended or said
    /// something that is not an event.
    pub async fn next(&mut self) -> Result<BoardEvent, FleetError> {
        match self.stdout.next_line().await {
            Ok(Some(line)) => BoardEvent::parse(&line).map_err(|e| FleetError::Protocol {
                line,
                reason: e.to_string(),
            }),
            Ok(None) | Err(_) => Err(self.exited().await),
        }
    }

    /// Asks the process to stop, and kills it if it has not within 5 s.
    pub async fn stop(mut self) {
        let _ = self.stdin.write_all(b"{\"cmd\":\"stop\"}\n").await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    /// The error for a process that went away: its exit status and last stderr lines.
    async fn exited(&mut self) -> FleetError {
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
            .map_or_else(|| "still running".to_owned(), |s| s.to_string());
        let stderr = self
            .stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        FleetError::Exited { status, stderr }
    }
}

/// CPU time and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// User and system CPU time.
    pub cpu: Duration,
    /// Resident set size now (`VmRSS`), bytes.
    pub rss_bytes: u64,
    /// Peak resident set size (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
}

impl ProcSample {
    /// Reads the process `pid` (`None`: this process).
    pub fn read(pid: Option<u32>) -> std::io::Result<Self> {
        let dir = match pid {
            Some(pid) => Path::new("/proc").join(pid.to_string()),
            None => PathBuf::from("/proc/self"),
        };
        let stat = std::fs::read_to_string(dir.join("stat"))?;
        let status = std::fs::read_to_string(dir.join("status"))?;
        let bad = |what| std::io::Error::other(format!("{what} not found in {}", dir.display()));
        Ok(ProcSample {
            cpu: cpu_time(&stat).ok_or_else(|| bad("CPU time"))?,
            rss_bytes: status_kib(&status, "VmRSS").ok_or_else(|| bad("VmRSS"))? * 1024,
            peak_rss_bytes: status_kib(&status, "VmHWM").ok_or_else(|| bad("VmHWM"))? * 1024,
        })
    }
}

/// utime + stime of a `/proc/<pid>/stat` line (fields 14 and 15, counted after the
/// command name, which may hold spaces and parentheses), in USER_HZ ticks, which Linux
/// fixes at 100 a second for `/proc`.
pub fn cpu_time(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS:  1234 kB`), in KiB.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_user_and_system_ticks_after_a_name_with_spaces() {
        let stat =
            "4242 (fleet) (board) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 130 0 0 20 0 3 0 100 0";
        assert_eq!(cpu_time(stat), Some(Duration::from_millis(3800)));
        assert_eq!(cpu_time("garbage"), None);
    }

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\tfleet-board\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(102_400));
        assert_eq!(status_kib(status, "VmHWM"), Some(204_800));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let sample = ProcSample::read(None).unwrap();
        assert!(sample.rss_bytes > 0 && sample.peak_rss_bytes >= sample.rss_bytes);
    }
}
