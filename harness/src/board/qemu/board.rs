//! [`QemuBoard`]: the [`Board`] implementation over a QEMU process, its QMP connection,
//! its console and its LED poller; and [`QmpReader`], the LED registers through QMP.

use super::process::{QemuCommand, QemuProcess};
use super::qmp::Qmp;
use super::{Machine, check_elf};
use crate::board::register_leds::{LedPoller, RegisterReader};
use crate::board::{Board, Capabilities, Environment, FlashProgress, LedObserver, NoProgress};
use crate::console::Console;
use crate::errors::BoardError;
use crate::rig::LedBit;
use crate::timeline::Timeline;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The name of the user-network backend and NIC (`-nic user,model=lan9118,id=net0`), the
/// one `set_link` takes.
pub const NETDEV: &str = "net0";

/// The host as QEMU's user network shows it to the guest: the guest's connections to it
/// reach the host's loopback, where the rig's broker listens.
pub const HOST_ADDRESS: &str = "10.0.2.2";

/// How long the console may take to answer after QEMU starts.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(15);

/// The files of the board's flash, as the firmware keeps them in its state dir (the
/// device key and serial number stay: the secure element keeps them).
const FLASH_FILES: &[&str] = &["nvm.json", "nvm.json.tmp"];

/// The image `ci/build-qemu-firmware` builds, under the workspace's target dir.
pub fn default_firmware(workspace: &Path) -> PathBuf {
    workspace.join("target/qemu/thumbv7m-none-eabi/release/fut-mps2-an385")
}

/// How to run a board under QEMU.
#[derive(Debug, Clone)]
pub struct QemuOptions {
    /// The machine (`-M`) and its memory map.
    pub machine: &'static Machine,
    /// The firmware ELF.
    pub firmware: PathBuf,
    /// The `qemu-system-arm` program.
    pub program: PathBuf,
    /// LED registers.
    pub leds: BTreeMap<String, LedBit>,
    /// LED polling period.
    pub poll: Duration,
    /// Names the board resolves, and their addresses (the `hosts` file).
    pub hosts: Vec<(String, String)>,
}

impl QemuOptions {
    fn command(&self) -> QemuCommand {
        QemuCommand {
            program: self.program.clone(),
            machine: self.machine.name.to_owned(),
            firmware: self.firmware.clone(),
            nic: format!("user,model=lan9118,id={NETDEV}"),
        }
    }
}

/// How long the LED poller waits for one register read through QMP.
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// A register read asked of the QMP task: the address, and where the answer goes.
type ReadRequest = (u32, std::sync::mpsc::Sender<Result<u32, String>>);

/// Reads words of guest memory through QMP (`xp`) for the LED poller: the poller's thread
/// asks a task on the runtime and waits at most [`READ_TIMEOUT`], so it never drives the
/// runtime itself and always sees its stop flag soon (dropping the poller cannot hang, even
/// on a current-thread runtime). The task ends with the reader.
#[derive(Debug, Clone)]
pub struct QmpReader {
    requests: tokio::sync::mpsc::UnboundedSender<ReadRequest>,
}

impl QmpReader {
    /// A reader through `qmp`; spawns its task on the current runtime.
    pub fn spawn(qmp: Arc<tokio::sync::Mutex<Qmp>>) -> QmpReader {
        let (requests, mut incoming) = tokio::sync::mpsc::unbounded_channel::<ReadRequest>();
        tokio::spawn(async move {
            while let Some((address, answer)) = incoming.recv().await {
                let word = qmp.lock().await.read_word(address).await;
                let _ = answer.send(word.map_err(|e| e.to_string()));
            }
        });
        QmpReader { requests }
    }
}

impl RegisterReader for QmpReader {
    fn read_word(&mut self, address: u32) -> Result<u32, String> {
        let (answer, word) = std::sync::mpsc::channel();
        self.requests
            .send((address, answer))
            .map_err(|_| "the QMP task ended".to_owned())?;
        word.recv_timeout(READ_TIMEOUT)
            .map_err(|_| format!("no QMP answer within {READ_TIMEOUT:?}"))?
    }
}

/// A board under QEMU.
pub struct QemuBoard {
    name: String,
    options: QemuOptions,
    timeline: Arc<Timeline>,
    // Field order: the poller stops before QEMU goes, QEMU before the state dir.
    poller: Option<LedPoller>,
    console: Console,
    process: Option<QemuProcess>,
    leds: LedObserver,
    state_dir: tempfile::TempDir,
}

impl std::fmt::Debug for QemuBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuBoard")
            .field("name", &self.name)
            .field("machine", &self.options.machine.name)
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

impl QemuBoard {
    /// Checks the firmware, makes the board's state dir (with its `hosts` file) and boots
    /// the firmware under QEMU, as a board that was flashed before is powered on.
    pub async fn start(
        name: &str,
        options: QemuOptions,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BoardError> {
        let fail = |reason: String| BoardError::Start {
            board: name.to_owned(),
            reason,
        };
        check_elf(&options.firmware, options.machine).map_err(fail)?;
        let state_dir = tempfile::Builder::new()
            // Not the board's name: it may hold `/` or `,` (QEMU's option separator), and
            // the QMP socket's path must stay under the 108 bytes a unix socket allows.
            .prefix("hil-qemu-")
            .tempdir()
            .map_err(|e| fail(format!("cannot create a state dir: {e}")))?;
        // Private: QEMU writes the device key with the host's umask (semihosting has no
        // file modes).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(state_dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(format!("cannot make the state dir private: {e}")))?;
        let hosts: String = options
            .hosts
            .iter()
            .map(|(host, address)| format!("{address} {host}\n"))
            .collect();
        std::fs::write(state_dir.path().join("hosts"), hosts)
            .map_err(|e| fail(format!("cannot write the hosts file: {e}")))?;
        let names: Vec<&str> = options.leds.keys().map(String::as_str).collect();
        let leds = LedObserver::new(name, timeline.clone(), &names);
        let (process, console, poller) =
            Self::boot(name, &options, state_dir.path(), &timeline, &leds)
                .await
                .map_err(fail)?;
        Ok(QemuBoard {
            name: name.to_owned(),
            options,
            timeline,
            poller: Some(poller),
            console,
            process: Some(process),
            leds,
            state_dir,
        })
    }

    /// Starts QEMU halted, opens the console, starts LED polling, lets the guest run and
    /// reads the boot output up to the console's first empty reply.
    async fn boot(
        name: &str,
        options: &QemuOptions,
        state_dir: &Path,
        timeline: &Arc<Timeline>,
        leds: &LedObserver,
    ) -> Result<(QemuProcess, Console, LedPoller), String> {
        let process =
            QemuProcess::start(name, &options.command(), state_dir, timeline.clone()).await?;
        let mut console = Console::open(name, process.pty(), 115_200, timeline.clone())
            .map_err(|e| format!("console {}: {e}", process.pty()))?;
        let reader = QmpReader::spawn(process.qmp());
        let poller = LedPoller::start(reader, options.leds.clone(), options.poll, leds.clone());
        process.cont().await?;
        console
            .sync(CONSOLE_TIMEOUT)
            .await
            .map_err(|e| format!("console {}: {e}", process.pty()))?;
        Ok((process, console, poller))
    }

    /// QEMU's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(QemuProcess::pid)
    }

    /// The board's state dir: QEMU's working directory, with the firmware's flash and
    /// secure element files.
    pub fn state_dir(&self) -> &Path {
        self.state_dir.path()
    }

    fn control_error(&self, reason: impl std::fmt::Display) -> BoardError {
        BoardError::Control {
            board: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    /// The running QEMU, or why there is none.
    fn running(&self) -> Result<&QemuProcess, BoardError> {
        self.process
            .as_ref()
            .ok_or_else(|| self.control_error("qemu is not running"))
    }

    async fn qmp(
        &self,
        command: &str,
        arguments: serde_json::Value,
    ) -> Result<serde_json::Value, BoardError> {
        let result = self
            .running()?
            .qmp()
            .lock()
            .await
            .execute(command, arguments)
            .await;
        result.map_err(|e| self.control_error(e))
    }

    /// Powers the board off (QEMU quits; its LEDs go dark), runs `between` on the state
    /// dir, and powers it on again.
    async fn restart(
        &mut self,
        between: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<(), BoardError> {
        self.poller = None;
        // Let go of the PTY first: the next QEMU may get the same /dev/pts number.
        let _ = self.console.release().await;
        if let Some(process) = self.process.take() {
            process.quit().await;
        }
        for led in self.leds.names() {
            self.leds.record(&led, false);
        }
        between(self.state_dir.path()).map_err(|e| self.control_error(e))?;
        let (process, console, poller) = Self::boot(
            &self.name,
            &self.options,
            self.state_dir.path(),
            &self.timeline,
            &self.leds,
        )
        .await
        .map_err(|e| self.control_error(e))?;
        self.process = Some(process);
        self.console = console;
        self.poller = Some(poller);
        Ok(())
    }
}

/// Deletes the firmware's flash files in `dir` (the key stays).
fn erase_flash(dir: &Path) -> Result<(), String> {
    for file in FLASH_FILES {
        let path = dir.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot erase {}: {e}", path.display())),
        }
    }
    Ok(())
}

/// A QEMU board's environment is its network link only: Wi-Fi down/up is the NIC's link.
#[async_trait::async_trait]
impl Environment for QemuBoard {
    async fn set_wifi(&mut self, _ssid: &str, up: bool) -> Result<(), BoardError> {
        let result = self
            .running()?
            .qmp()
            .lock()
            .await
            .set_link(NETDEV, up)
            .await;
        result.map_err(|e| self.control_error(e))
    }

    async fn set_sensors(&mut self, _: Option<u32>, _: Option<f64>) -> Result<(), BoardError> {
        Err(BoardError::Unsupported {
            board: self.name.clone(),
            operation: "override sensors (the firmware under QEMU reads its own)",
        })
    }

    async fn press(&mut self, _: &str) -> Result<(), BoardError> {
        Err(BoardError::Unsupported {
            board: self.name.clone(),
            operation: "press buttons (QEMU's mps2 buttons are read-only to the host)",
        })
    }
}

#[async_trait::async_trait]
impl Board for QemuBoard {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::QEMU
    }

    fn console(&mut self) -> &mut Console {
        &mut self.console
    }

    fn leds(&self) -> &LedObserver {
        &self.leds
    }

    fn environment(&mut self) -> Option<&mut dyn Environment> {
        Some(self)
    }

    /// Checks the ELF, powers the board off, erases its flash when asked, and boots the
    /// image (QEMU loads it afresh).
    async fn flash(&mut self, erase: bool, progress: &dyn FlashProgress) -> Result<(), BoardError> {
        check_elf(&self.options.firmware, self.options.machine)
            .map_err(|e| self.control_error(e))?;
        self.restart(|dir| if erase { erase_flash(dir) } else { Ok(()) })
            .await?;
        progress.progress("flash", 1, 1);
        Ok(())
    }

    /// Erases the firmware's flash (credentials); the secure element keeps the device key.
    async fn erase(&mut self) -> Result<(), BoardError> {
        self.flash(true, &NoProgress).await
    }

    async fn reset(&mut self) -> Result<(), BoardError> {
        self.qmp("system_reset", serde_json::json!({}))
            .await
            .map(drop)
    }

    async fn power_cycle(&mut self) -> Result<(), BoardError> {
        self.restart(|_| Ok(())).await
    }

    async fn shutdown(mut self: Box<Self>) -> Result<(), BoardError> {
        self.poller = None;
        if let Some(process) = self.process.take() {
            process.quit().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasing_keeps_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["nvm.json", "device-key.pem", "device-serial"] {
            std::fs::write(dir.path().join(file), "x").unwrap();
        }
        erase_flash(dir.path()).unwrap();
        erase_flash(dir.path()).unwrap();
        assert!(!dir.path().join("nvm.json").exists());
        assert!(dir.path().join("device-key.pem").exists());
        assert!(dir.path().join("device-serial").exists());
    }
}
