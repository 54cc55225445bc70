//! Boards: the [`Board`] trait and its backends.
//!
//! A board can be flashed (with progress), reset, power-cycled where the rig allows it,
//! talked to over its [`Console`], and watched through its [`LedObserver`]. Emulated boards
//! also have an [`Environment`] (Wi-Fi access points, sensors, buttons) that a lab bench
//! does not offer. Backends:
//! - [`emulated::EmulatedBoard`]: the `emulated-board` process, one per board;
//! - [`probe::ProbeRsBoard`]: a real board on a debug probe (probe-rs);
//! - [`qemu::QemuBoard`]: a firmware image under QEMU.
//!
//! [`register_leds`] is the one path from an LED register to edges, for probe-rs and QEMU.

pub mod emulated;
pub mod leds;
pub mod probe;
pub mod qemu;
pub mod register_leds;
pub mod rtt;

use crate::console::Console;
use crate::errors::BoardError;
pub use leds::{DEFAULT_SETTLE, EdgeSync, LedMismatch, LedObserver};

/// How long a level must last to count as solid in the harness's own tests.
pub const DEFAULT_SETTLE_FOR_TESTS: std::time::Duration = std::time::Duration::from_millis(700);

/// What a board backend can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Power can be switched off and on.
    pub power_cycle: bool,
    /// The board's network (its Wi-Fi, or a QEMU NIC's link) can be taken down and up.
    pub wifi: bool,
    /// Sensors and buttons can be controlled.
    pub environment: bool,
}

impl Capabilities {
    /// An emulated board: everything.
    pub const EMULATED: Capabilities = Capabilities {
        power_cycle: true,
        wifi: true,
        environment: true,
    };
    /// A board on a debug probe: nothing the rig file can describe yet.
    pub const PROBE_RS: Capabilities = Capabilities {
        power_cycle: false,
        wifi: false,
        environment: false,
    };
    /// A board under QEMU: power (QEMU restarted) and the network link (`set_link`);
    /// no sensors or buttons.
    pub const QEMU: Capabilities = Capabilities {
        power_cycle: true,
        wifi: true,
        environment: false,
    };
}

/// Receives flashing progress.
pub trait FlashProgress: Send + Sync {
    /// `done` of `total` bytes written (or verified).
    fn progress(&self, phase: &str, done: u64, total: u64);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl FlashProgress for NoProgress {
    fn progress(&self, _: &str, _: u64, _: u64) {}
}

/// The world around an emulated board.
#[async_trait::async_trait]
pub trait Environment: Send {
    /// Takes an access point down or brings it up.
    async fn set_wifi(&mut self, ssid: &str, up: bool) -> Result<(), BoardError>;
    /// Overrides sensor readings (None keeps the current source).
    async fn set_sensors(
        &mut self,
        light: Option<u32>,
        temperature: Option<f64>,
    ) -> Result<(), BoardError>;
    /// Presses a user button (`sw0`, `sw1`).
    async fn press(&mut self, button: &str) -> Result<(), BoardError>;
}

/// A board under test.
#[async_trait::async_trait]
pub trait Board: Send {
    /// The board's name in the rig.
    fn name(&self) -> &str;
    /// What it can do.
    fn capabilities(&self) -> Capabilities;
    /// Its console.
    fn console(&mut self) -> &mut Console;
    /// Its LEDs.
    fn leds(&self) -> &LedObserver;
    /// Its environment, if it is emulated.
    fn environment(&mut self) -> Option<&mut dyn Environment>;
    /// Flashes the firmware (erasing its flash first with `erase`) and starts it.
    async fn flash(&mut self, erase: bool, progress: &dyn FlashProgress) -> Result<(), BoardError>;
    /// Erases the board's flash: the firmware and its data on a real board (it stays blank
    /// until flashed); an emulated board's provisioning data, after which it boots
    /// unprovisioned.
    async fn erase(&mut self) -> Result<(), BoardError>;
    /// Resets the board.
    async fn reset(&mut self) -> Result<(), BoardError>;
    /// Switches power off and on.
    async fn power_cycle(&mut self) -> Result<(), BoardError>;
    /// Stops the board and releases everything it holds (processes, probes, ports).
    async fn shutdown(self: Box<Self>) -> Result<(), BoardError>;
    /// The memory the firmware uses now, in bytes, where the harness can measure it: the
    /// emulated board's resident set (`VmRSS` of its process). `None` for a board whose
    /// memory is not measured (a real board, QEMU's guest).
    fn memory_bytes(&self) -> Option<u64> {
        None
    }
}

/// The resident set of process `pid` in bytes (`VmRSS` in `/proc/<pid>/status`), if it
/// can be read.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
