//! The emulated board backend: runs `emulated-board` (see
//! `firmware-under-test/EMULATED_BOARD.md`) and drives it through its console and control
//! socket.
//!
//! One process per board, each with its own temporary state dir, pseudo-terminal and
//! control socket. The binary comes from the rig, from `$HIL_EMULATED_BOARD`, or from the
//! workspace's target dir, where it is built (once per process) with cargo. The process is
//! killed when the [`EmulatedBoard`] is dropped, panics included, and it exits by itself if
//! the harness process dies (it watches its parent). Its stderr and its LED edges go on
//! the timeline.
//!
//! The board's firmware clock runs at the timeline's speed, and each LED edge carries the
//! firmware time it happened at (`t_ms`). The edges go on the timeline at that time, mapped
//! by [`FirmwareClock`] (measured once at start-up with a `state` request), not at the time
//! the harness read them: at speed 20 a 250 ms blink lasts 12.5 ms of wall time, and
//! the delivery delay would otherwise skew the measured rate. The board answers a control
//! request only after the edges it made before it, so the LED observer's queries use a
//! `state` request as their barrier ([`EdgeSync`]) before they decide.

use super::{Board, Capabilities, EdgeSync, Environment, FlashProgress, LedObserver};
use crate::console::Console;
use crate::errors::BoardError;
use crate::led::LED_NAMES;
use crate::rig::AccessPoint;
use crate::timeline::{Timeline, What};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::sync::oneshot;

mod binary;
mod firmware_clock;

pub use binary::{find_binary, find_workspace_binary};
pub use firmware_clock::FirmwareClock;
use firmware_clock::monotonic_ns;

/// How many `state` exchanges measure the firmware clock; the shortest wins.
const CLOCK_EXCHANGES: usize = 3;

/// How long start-up and control requests may take.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(15);

/// How to start an emulated board (its speed is the timeline's).
#[derive(Debug, Clone, Default)]
pub struct EmulatedOptions {
    /// The binary; found or built when `None`.
    pub binary: Option<PathBuf>,
    /// Access points in range.
    pub access_points: Vec<AccessPoint>,
    /// Endpoint names and the addresses they resolve to.
    pub hosts: Vec<(String, IpAddr)>,
    /// Flaws to switch on (`--flaw NAME` each).
    pub flaws: Vec<String>,
}

/// The request side of the control socket, shared by the board and its LED observer:
/// a request takes its place among the awaited answers and writes its line under one
/// lock, so answers, which come in order, match their requests.
#[derive(Debug, Clone)]
struct ControlLink {
    write: Arc<tokio::sync::Mutex<tokio::net::unix::OwnedWriteHalf>>,
    waiting: Arc<Mutex<VecDeque<oneshot::Sender<Value>>>>,
}

impl ControlLink {
    async fn request(&self, request: Value) -> Result<Value, String> {
        let (tx, rx) = oneshot::channel();
        let mut line = request.to_string();
        line.push('\n');
        {
            let mut write = self.write.lock().await;
            self.waiting
                .lock()
                .map_err(|_| "control state poisoned".to_owned())?
                .push_back(tx);
            write
                .write_all(line.as_bytes())
                .await
                .map_err(|e| format!("write: {e}"))?;
        }
        let reply = tokio::time::timeout(CONTROL_TIMEOUT, rx)
            .await
            .map_err(|_| format!("no answer to {request} within {CONTROL_TIMEOUT:?}"))?
            .map_err(|_| "the control socket closed".to_owned())?;
        if reply["ok"] == true {
            Ok(reply)
        } else {
            Err(reply["error"].as_str().unwrap_or("refused").to_owned())
        }
    }
}

/// The board answers a request only after the edges it made before it (its contract),
/// so any answer is a barrier on the edge stream.
#[async_trait::async_trait]
impl EdgeSync for ControlLink {
    async fn sync(&self) -> Result<(), String> {
        self.request(json!({"cmd": "state"})).await.map(drop)
    }
}

/// The control socket: requests answered in order, edge events to the LED observer.
struct Control {
    link: ControlLink,
    reader: tokio::task::JoinHandle<()>,
    firmware_clock: Arc<OnceLock<FirmwareClock>>,
}

impl Drop for Control {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Control {
    async fn connect(path: &Path, leds: LedObserver) -> std::io::Result<Control> {
        let stream = tokio::net::UnixStream::connect(path).await?;
        let (read, write) = stream.into_split();
        let waiting: Arc<Mutex<VecDeque<oneshot::Sender<Value>>>> = Arc::default();
        let queue = waiting.clone();
        let firmware_clock: Arc<OnceLock<FirmwareClock>> = Arc::default();
        let mapping = firmware_clock.clone();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if value.get("event").and_then(Value::as_str) == Some("edge") {
                    if let (Some(led), Some(on)) = (value["led"].as_str(), value["on"].as_bool()) {
                        match (mapping.get(), value["t_ms"].as_u64()) {
                            (Some(clock), Some(t_ms)) => {
                                leds.record_at(led, on, clock.to_timeline(t_ms));
                            }
                            _ => leds.record(led, on),
                        }
                    }
                    continue;
                }
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                if let Some(reply) = next {
                    let _ = reply.send(value);
                }
            }
        });
        Ok(Control {
            link: ControlLink {
                write: Arc::new(tokio::sync::Mutex::new(write)),
                waiting,
            },
            reader,
            firmware_clock,
        })
    }

    /// Measures the board's firmware clock against the timeline with `state` requests;
    /// LED edges are stamped with it from then on: exactly with the `clock_origin_ns` the
    /// board gives, else from `firmware_ms` and the shortest of a few round trips. A board
    /// whose `state` says neither keeps the harness's receipt times.
    async fn measure_firmware_clock(&mut self, timeline: &Timeline) -> Result<(), String> {
        let mut best: Option<FirmwareClock> = None;
        for _ in 0..CLOCK_EXCHANGES {
            let sent = timeline.now();
            let state = self.request(json!({"cmd": "state"})).await?;
            let answered = timeline.now();
            if let (Some(origin), Some(host_now)) =
                (state["clock_origin_ns"].as_u64(), monotonic_ns())
            {
                let board_now = timeline.now();
                let clock =
                    FirmwareClock::from_origin(origin, host_now, board_now, timeline.clock());
                let _ = self.firmware_clock.set(clock);
                return Ok(());
            }
            let Some(firmware_ms) = state["firmware_ms"].as_u64() else {
                return Ok(());
            };
            let measured = FirmwareClock::from_exchange(sent, answered, firmware_ms);
            if best.is_none_or(|b| measured.uncertainty() < b.uncertainty()) {
                best = Some(measured);
            }
        }
        if let Some(clock) = best {
            let _ = self.firmware_clock.set(clock);
        }
        Ok(())
    }

    async fn request(&mut self, request: Value) -> Result<Value, String> {
        self.link.request(request).await
    }
}

/// A running emulated board.
pub struct EmulatedBoard {
    name: String,
    child: Child,
    console: Console,
    leds: LedObserver,
    control: Control,
    state_dir: tempfile::TempDir,
}

impl std::fmt::Debug for EmulatedBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedBoard")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl EmulatedBoard {
    /// Starts the board process and connects to its console and control socket. The
    /// board's firmware clock runs at the speed of the timeline's clock (the rig's).
    pub async fn start(
        name: &str,
        options: &EmulatedOptions,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BoardError> {
        let fail = |reason: String| BoardError::Start {
            board: name.to_owned(),
            reason,
        };
        let binary = find_binary(options.binary.as_deref()).map_err(fail)?;
        let state_dir = tempfile::Builder::new()
            .prefix(&format!("hil-{name}-"))
            .tempdir()
            .map_err(|e| fail(format!("cannot create a state dir: {e}")))?;
        let control_path = state_dir.path().join("control.sock");
        let mut command = tokio::process::Command::new(&binary);
        command
            .arg("--state-dir")
            .arg(state_dir.path().join("board"))
            .arg("--control")
            .arg(&control_path)
            .arg("--speed")
            .arg(timeline.clock().speed().to_string());
        for ap in &options.access_points {
            let spec = if ap.auth == "open" {
                ap.ssid.clone()
            } else {
                format!("{}:{}", ap.ssid, ap.password)
            };
            command.arg("--ap").arg(spec);
        }
        for (host, addr) in &options.hosts {
            command.arg("--host").arg(format!("{host}={addr}"));
        }
        for flaw in &options.flaws {
            command.arg("--flaw").arg(flaw);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", binary.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| fail("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let mut announce = async || -> Result<String, Option<BoardError>> {
            match tokio::time::timeout(CONTROL_TIMEOUT, lines.next_line()).await {
                Ok(Ok(Some(line))) => Ok(line),
                Ok(_) => Err(None),
                Err(_) => Err(Some(fail(format!(
                    "no start-up line within {CONTROL_TIMEOUT:?}"
                )))),
            }
        };
        // A board that exits at once (a bad argument, say) said why on stderr.
        let exited = async |child: &mut Child| -> BoardError {
            let mut said = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), stderr.read_to_string(&mut said))
                        .await;
            }
            let said = said.trim();
            fail(if said.is_empty() {
                "the board exited during start-up".into()
            } else {
                format!("the board exited during start-up: {said}")
            })
        };
        let serial_line = match announce().await {
            Ok(line) => line,
            Err(Some(e)) => return Err(e),
            Err(None) => return Err(exited(&mut child).await),
        };
        let serial = serial_line
            .strip_prefix("serial: ")
            .ok_or_else(|| fail(format!("unexpected first line {serial_line:?}")))?
            .to_owned();
        let control_line = match announce().await {
            Ok(line) => line,
            Err(Some(e)) => return Err(e),
            Err(None) => return Err(exited(&mut child).await),
        };
        if !control_line.starts_with("control: ") {
            return Err(fail(format!("unexpected second line {control_line:?}")));
        }
        if let Some(stderr) = child.stderr.take() {
            let (board, timeline) = (name.to_owned(), timeline.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    timeline.record(What::Action {
                        text: format!("{board} (emulator) {line}"),
                    });
                }
            });
        }
        let leds = LedObserver::new(name, timeline.clone(), &LED_NAMES);
        let mut control = Control::connect(&control_path, leds.clone())
            .await
            .map_err(|e| fail(format!("cannot connect to {}: {e}", control_path.display())))?;
        control
            .measure_firmware_clock(&timeline)
            .await
            .map_err(fail)?;
        leds.set_sync(Arc::new(control.link.clone()));
        let subscribed = control
            .request(json!({"cmd": "subscribe_gpio"}))
            .await
            .map_err(fail)?;
        for led in LED_NAMES {
            if let Some(on) = subscribed["leds"][led].as_bool() {
                leds.record(led, on);
            }
        }
        let mut console = Console::open(name, &serial, 115_200, timeline).map_err(|source| {
            BoardError::Console {
                board: name.to_owned(),
                source,
            }
        })?;
        console
            .sync(CONTROL_TIMEOUT)
            .await
            .map_err(|source| BoardError::Console {
                board: name.to_owned(),
                source,
            })?;
        Ok(EmulatedBoard {
            name: name.to_owned(),
            child,
            console,
            leds,
            control,
            state_dir,
        })
    }

    /// The board process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The board's flash and secure element directory.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.path().join("board")
    }

    async fn control(&mut self, request: Value) -> Result<Value, BoardError> {
        self.control
            .request(request)
            .await
            .map_err(|reason| BoardError::Control {
                board: self.name.clone(),
                reason,
            })
    }
}

#[async_trait::async_trait]
impl Environment for EmulatedBoard {
    async fn set_wifi(&mut self, ssid: &str, up: bool) -> Result<(), BoardError> {
        let cmd = if up { "wifi_up" } else { "wifi_down" };
        self.control(json!({"cmd": cmd, "ssid": ssid}))
            .await
            .map(drop)
    }

    async fn set_sensors(
        &mut self,
        light: Option<u32>,
        temperature: Option<f64>,
    ) -> Result<(), BoardError> {
        self.control(json!({"cmd": "set_sensors", "light": light, "temp": temperature}))
            .await
            .map(drop)
    }

    async fn press(&mut self, button: &str) -> Result<(), BoardError> {
        self.control(json!({"cmd": "press", "button": button}))
            .await
            .map(drop)
    }
}

#[async_trait::async_trait]
impl Board for EmulatedBoard {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::EMULATED
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

    /// "Flashing" an emulated board: power off, erase its flash (the provisioning data;
    /// the secure element keeps its key) when asked, power on.
    async fn flash(&mut self, erase: bool, progress: &dyn FlashProgress) -> Result<(), BoardError> {
        self.control(json!({"cmd": "power_off"})).await?;
        if erase {
            let nvm = self.state_dir().join("nvm.json");
            match std::fs::remove_file(&nvm) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(BoardError::Control {
                        board: self.name.clone(),
                        reason: format!("cannot erase {}: {e}", nvm.display()),
                    });
                }
            }
        }
        progress.progress("flash", 1, 1);
        self.control(json!({"cmd": "power_on"})).await.map(drop)
    }

    /// The emulated firmware is the host binary, so only the provisioning data goes.
    async fn erase(&mut self) -> Result<(), BoardError> {
        self.flash(true, &super::NoProgress).await
    }

    async fn reset(&mut self) -> Result<(), BoardError> {
        self.control(json!({"cmd": "reset"})).await.map(drop)
    }

    async fn power_cycle(&mut self) -> Result<(), BoardError> {
        self.control(json!({"cmd": "power_off"})).await?;
        self.control(json!({"cmd": "power_on"})).await.map(drop)
    }

    fn memory_bytes(&self) -> Option<u64> {
        crate::board::resident_bytes(self.child.id()?)
    }

    async fn shutdown(mut self: Box<Self>) -> Result<(), BoardError> {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                let _ = self.child.kill().await;
                Ok(())
            }
        }
    }
}
