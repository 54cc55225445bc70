//! One run of QEMU for a board: [`QemuProcess`] starts `qemu-system-<arch>` halted (`-S`)
//! in the board's state dir with its QMP socket there, connects QMP, and hands back the
//! serial PTY; the board opens its console on it and lets the guest run
//! ([`QemuProcess::cont`]), so the boot banner is not lost.
//!
//! Lifetime: QEMU runs under a small `sh` lifeline that holds the write end of a pipe from
//! the harness on its standard input: when the harness closes it (the [`QemuProcess`] is
//! dropped, also in a panic) or dies (the kernel closes it), the lifeline kills QEMU. Drop
//! also kills QEMU by its pid at once. No unsafe code, no `prctl`. QEMU's standard error
//! goes on the timeline.

use super::qmp::{QMP_TIMEOUT, Qmp, QmpError};
use crate::timeline::{Timeline, What};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin};

/// How long QEMU may take to make its QMP socket, and to quit.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The lifeline: runs QEMU (`"$@"`, its standard output joined to its standard error, which
/// goes on the timeline: a guest's semihosting output included), prints its pid, kills it
/// when standard input closes, and exits with QEMU's status.
const LIFELINE: &str = r#"exec 3<&0
"$@" </dev/null >&2 &
q=$!
echo "$q"
( read -r _ <&3; kill -9 "$q" 2>/dev/null ) &
w=$!
exec 3<&-
wait "$q"
s=$?
kill "$w" 2>/dev/null
exit "$s""#;

/// What to run.
#[derive(Debug, Clone)]
pub struct QemuCommand {
    /// The `qemu-system-arm` program.
    pub program: PathBuf,
    /// `-M`.
    pub machine: String,
    /// `-kernel`.
    pub firmware: PathBuf,
    /// `-nic` (user networking with the machine's NIC).
    pub nic: String,
}

impl QemuCommand {
    /// QEMU's arguments, with its QMP socket at `qmp`.
    pub fn args(&self, qmp: &Path) -> Vec<String> {
        let mut args: Vec<String> = [
            "-M",
            &self.machine,
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "pty",
            "-S",
            "-semihosting-config",
            "enable=on,target=native",
            "-nic",
            &self.nic,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push("-qmp".into());
        // A `,` in the path (TMPDIR's) is written `,,` in QEMU's option syntax.
        let qmp = qmp.display().to_string().replace(',', ",,");
        args.push(format!("unix:{qmp},server=on,wait=off"));
        args.push("-kernel".into());
        args.push(self.firmware.display().to_string());
        args
    }
}

/// A running QEMU (halted until [`QemuProcess::cont`]).
pub struct QemuProcess {
    child: Child,
    _lifeline: Option<ChildStdin>,
    pid: u32,
    qmp: Arc<tokio::sync::Mutex<Qmp>>,
    pty: String,
}

impl std::fmt::Debug for QemuProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuProcess")
            .field("pid", &self.pid)
            .field("pty", &self.pty)
            .finish_non_exhaustive()
    }
}

impl QemuProcess {
    /// Starts QEMU for `board` in `state_dir` and connects QMP.
    pub async fn start(
        board: &str,
        command: &QemuCommand,
        state_dir: &Path,
        timeline: Arc<Timeline>,
    ) -> Result<QemuProcess, String> {
        let qmp_path = state_dir.join("qmp.sock");
        match std::fs::remove_file(&qmp_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", qmp_path.display())),
        }
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(LIFELINE)
            .arg("sh")
            .arg(&command.program)
            .args(command.args(&qmp_path))
            .current_dir(state_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run sh for {}: {e}", command.program.display()))?;
        let lifeline = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout from the lifeline")?;
        let mut pid_line = BufReader::new(stdout).lines();
        let pid = match tokio::time::timeout(START_TIMEOUT, pid_line.next_line()).await {
            Ok(Ok(Some(line))) => line
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("the lifeline printed {line:?}, not a pid"))?,
            _ => return Err("the lifeline printed no pid".into()),
        };
        let (stderr_tx, mut stderr_rx) = tokio::sync::mpsc::unbounded_channel();
        if let Some(stderr) = child.stderr.take() {
            let board = board.to_owned();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = stderr_tx.send(line.clone());
                    timeline.record(What::Action {
                        text: format!("{board} (qemu) {line}"),
                    });
                }
            });
        }
        let qmp = match Self::connect(&qmp_path, command, &mut child, &mut stderr_rx).await {
            Ok(qmp) => qmp,
            Err(e) => {
                let _ = child.kill().await;
                return Err(e);
            }
        };
        let mut process = QemuProcess {
            child,
            _lifeline: lifeline,
            pid,
            qmp: Arc::new(tokio::sync::Mutex::new(qmp)),
            pty: String::new(),
        };
        let pty = process
            .qmp
            .lock()
            .await
            .pty("serial0")
            .await
            .map_err(|e| e.to_string())?;
        process.pty = pty;
        Ok(process)
    }

    /// Connects to QEMU's QMP socket once it exists; QEMU's standard error says why when
    /// it exits first.
    async fn connect(
        path: &Path,
        command: &QemuCommand,
        child: &mut Child,
        stderr: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    ) -> Result<Qmp, String> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let program = command.program.display();
        loop {
            if path.exists() {
                // QEMU makes the socket file when it binds, a moment before it listens:
                // refused until then.
                match Qmp::connect(path, QMP_TIMEOUT).await {
                    Err(QmpError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::ConnectionRefused
                            && tokio::time::Instant::now() < deadline => {}
                    other => return other.map_err(|e| e.to_string()),
                }
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || tokio::time::Instant::now() >= deadline {
                // Whatever QEMU said before it went (its stderr ends when it exits).
                let mut said = Vec::new();
                while let Ok(Some(line)) =
                    tokio::time::timeout(Duration::from_secs(1), stderr.recv()).await
                {
                    said.push(line);
                }
                return Err(match exited {
                    Some(status) => format!(
                        "{program} exited ({status}) before making its QMP socket: {}",
                        said.join("; ")
                    ),
                    None => format!("{program} made no QMP socket within {START_TIMEOUT:?}"),
                });
            }
            // QEMU makes its socket while it starts: look again shortly (a start-up poll,
            // bounded by the deadline above).
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The serial port's PTY.
    pub fn pty(&self) -> &str {
        &self.pty
    }

    /// The QMP connection, shared with the LED poller.
    pub fn qmp(&self) -> Arc<tokio::sync::Mutex<Qmp>> {
        self.qmp.clone()
    }

    /// Lets the halted guest run.
    pub async fn cont(&self) -> Result<(), String> {
        self.qmp
            .lock()
            .await
            .execute("cont", serde_json::json!({}))
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Quits QEMU (QMP `quit`) and waits for it; kills it if it does not go in time.
    pub async fn quit(mut self) {
        let asked = self
            .qmp
            .lock()
            .await
            .execute("quit", serde_json::json!({}))
            .await;
        if asked.is_err()
            || tokio::time::timeout(START_TIMEOUT, self.child.wait())
                .await
                .is_err()
        {
            self.kill();
            let _ = self.child.wait().await;
        }
    }

    fn kill(&self) {
        if let Ok(pid) = i32::try_from(self.pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_arguments_follow_the_contract() {
        let command = QemuCommand {
            program: "qemu-system-arm".into(),
            machine: "mps2-an385".into(),
            firmware: "/fw.elf".into(),
            nic: "user,model=lan9118,id=net0".into(),
        };
        assert_eq!(
            command.args(Path::new("/s/qmp.sock")).join(" "),
            "-M mps2-an385 -display none -monitor none -serial pty -S \
             -semihosting-config enable=on,target=native -nic user,model=lan9118,id=net0 \
             -qmp unix:/s/qmp.sock,server=on,wait=off -kernel /fw.elf"
        );
    }

    /// What the lifeline runs dies when the harness's end of the pipe closes, as when the
    /// harness process dies.
    #[tokio::test]
    async fn the_lifeline_ends_its_program_when_the_harness_lets_go() {
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", LIFELINE, "sh", "sleep", "1000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let pid: u32 = out.next_line().await.unwrap().unwrap().parse().unwrap();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(stdin);
        // The lifeline waits for its program, so its exit is the program's end.
        let status = tokio::time::timeout(START_TIMEOUT, child.wait())
            .await
            .expect("the lifeline ends")
            .unwrap();
        assert!(!status.success(), "sleep was killed: {status}");
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
