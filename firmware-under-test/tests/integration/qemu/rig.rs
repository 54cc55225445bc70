//! The test rig: the image's path, a QMP client, and a board (QEMU with its console PTY,
//! QMP socket and state dir, killed on drop).

use crate::support::{Console, WAIT};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The four LEDs: bits 0-3 of the SCC's CFG_REG1 (the MCC LEDs), active high.
pub(super) const LED_REGISTER: u32 = 0x4002_f004;
pub(super) const BLUE: u32 = 1 << 0;
pub(super) const GREEN: u32 = 1 << 1;
pub(super) const YELLOW: u32 = 1 << 2;
pub(super) const RED: u32 = 1 << 3;
/// The NIC's netdev id, for `set_link`.
pub(super) const NETDEV: &str = "net0";

pub(super) fn firmware() -> PathBuf {
    let path = std::env::var_os("HIL_QEMU_FIRMWARE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/qemu/thumbv7m-none-eabi/release/fut-mps2-an385")
        });
    assert!(
        path.is_file(),
        "no firmware image at {}: run ci/build-qemu-firmware or set HIL_QEMU_FIRMWARE",
        path.display()
    );
    path
}

/// A QMP connection.
pub(super) struct Qmp {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
}

impl Qmp {
    /// Connects once QEMU has made the socket, and leaves capabilities negotiation.
    pub(super) async fn connect(path: &Path) -> Qmp {
        let deadline = tokio::time::Instant::now() + WAIT;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(stream) => break stream,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "QEMU's QMP socket {} never answered: {e}",
                        path.display()
                    );
                    // QEMU creates the socket while it starts: poll for it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        let (read, write) = stream.into_split();
        let mut qmp = Qmp {
            lines: BufReader::new(read).lines(),
            write,
        };
        let greeting = qmp.next().await;
        assert!(greeting.get("QMP").is_some(), "{greeting}");
        qmp.execute("qmp_capabilities", json!({})).await;
        qmp
    }

    pub(super) async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("QMP answers")
            .expect("QMP is readable")
            .expect("QEMU closed QMP");
        serde_json::from_str(&line).unwrap()
    }

    /// Runs a command; returns its `return` value (events in between are skipped).
    pub(super) async fn execute(&mut self, command: &str, arguments: Value) -> Value {
        let mut line = json!({"execute": command, "arguments": arguments}).to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes()).await.unwrap();
        loop {
            let reply = self.next().await;
            if let Some(value) = reply.get("return") {
                return value.clone();
            }
            assert!(reply.get("event").is_some(), "{command}: {reply}");
        }
    }

    /// Reads a word of guest physical memory with the monitor's `xp`.
    pub(super) async fn read_word(&mut self, address: u32) -> u32 {
        let out = self
            .execute(
                "human-monitor-command",
                json!({"command-line": format!("xp /1wx {address:#x}")}),
            )
            .await;
        let text = out.as_str().expect("xp prints text");
        let value = text
            .split(": ")
            .nth(1)
            .and_then(|v| v.trim().strip_prefix("0x"))
            .unwrap_or_else(|| panic!("xp printed {text:?}"));
        u32::from_str_radix(value, 16).unwrap()
    }

    /// The serial port's PTY, from `query-chardev`.
    pub(super) async fn serial_pty(&mut self) -> String {
        let chardevs = self.execute("query-chardev", json!({})).await;
        chardevs
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["label"] == "serial0")
            .and_then(|c| c["filename"].as_str())
            .and_then(|f| f.strip_prefix("pty:"))
            .unwrap_or_else(|| panic!("no serial0 PTY in {chardevs}"))
            .to_owned()
    }
}

/// QEMU running the image, killed on drop (also when a test panics).
pub(super) struct QemuBoard {
    _child: tokio::process::Child,
    qmp: Qmp,
}

impl QemuBoard {
    /// Starts QEMU halted with its state in `state_dir`, opens the console, then lets the
    /// guest run, so the boot banner is seen; returns the banner too.
    pub(super) async fn boot(state_dir: &Path) -> (QemuBoard, Console, String) {
        Self::boot_with(state_dir, &[]).await
    }

    /// As [`QemuBoard::boot`], with the LAN9118 on QEMU's user network.
    pub(super) async fn boot_networked(state_dir: &Path) -> (QemuBoard, Console, String) {
        Self::boot_with(
            state_dir,
            &["-nic", &format!("user,model=lan9118,id={NETDEV}")],
        )
        .await
    }

    pub(super) async fn boot_with(
        state_dir: &Path,
        extra: &[&str],
    ) -> (QemuBoard, Console, String) {
        std::fs::create_dir_all(state_dir).unwrap();
        let qmp_path = state_dir.join("qmp.sock");
        let _ = std::fs::remove_file(&qmp_path);
        let child = tokio::process::Command::new("qemu-system-arm")
            .current_dir(state_dir)
            .args(["-M", "mps2-an385", "-display", "none", "-monitor", "none"])
            .args(["-serial", "pty", "-S"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp_path.display()))
            .arg("-kernel")
            .arg(firmware())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("qemu-system-arm starts (apt-get install qemu-system-arm)");
        let mut qmp = Qmp::connect(&qmp_path).await;
        let mut console = Console::open(&qmp.serial_pty().await);
        qmp.execute("cont", json!({})).await;
        let banner = console.expect("\u{4}").await;
        (QemuBoard { _child: child, qmp }, console, banner)
    }

    /// Sets the NIC's link up or down (QMP `set_link`).
    pub(super) async fn set_link(&mut self, up: bool) {
        self.qmp
            .execute("set_link", json!({"name": NETDEV, "up": up}))
            .await;
    }

    /// Resets the machine as a reset button would (QMP `system_reset`).
    pub(super) async fn reset(&mut self) {
        self.qmp.execute("system_reset", json!({})).await;
    }

    /// Polls the LED register until `done` holds for the values read so far; returns them.
    pub(super) async fn watch_leds(
        &mut self,
        what: &str,
        mut done: impl FnMut(&[u32]) -> bool,
    ) -> Vec<u32> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            seen.push(self.qmp.read_word(LED_REGISTER).await);
            if done(&seen) {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "LEDs: {what} not seen within {WAIT:?}; register values {seen:x?}"
            );
            // Register reads are samples: a few per blink half-period is enough.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the LED register reads `value`.
    pub(super) async fn wait_leds(&mut self, value: u32) {
        self.watch_leds(&format!("{value:#x}"), |seen| seen.last() == Some(&value))
            .await;
    }
}

/// Waits for the boot banner that follows a reset.
pub(super) async fn banner_after_reset(console: &mut Console) -> String {
    let banner = console.expect("\u{4}").await;
    assert!(banner.contains("HIL reference firmware"), "{banner}");
    banner
}
