//! Rig files: which boards a bench has, how each is reached, the broker, the Wi-Fi access
//! points and the PKI directory.
//!
//! Loading is two steps: the TOML is read into raw, span-carrying structs (unknown keys are
//! errors), then validated into a [`Rig`] (both in `parse`; this file holds the validated
//! types). Every error is a [`RigError`] that names the
//! file, line and column with a caret (miette), never a panic. Relative paths in a rig file
//! are relative to the rig file's directory. [`Rig::from_env`] loads `$HIL_RIG`, or the
//! default emulated rig. A board's `[boards.<name>.provision]` table gives it a
//! provisioning hook ([`ProvisionHook`]); its command lines are checked here, placeholders
//! included. A top-level `speed` sets the rig's one clock ([`Rig::clock`]); a board's own
//! `speed` that differs from it, and a speed other than 1 on a rig with a probe-rs or a
//! QEMU board (both run in real time), are errors.

// A RigError carries the file's text for its report; it is returned once, at start-up,
// so its size does not matter.
#![allow(clippy::result_large_err)]

use crate::clock::RigClock;
use crate::provision::hook::ProvisionHook;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The environment variable that selects a rig file.
pub const RIG_ENV: &str = "HIL_RIG";
/// The default rig, relative to the workspace root.
pub const DEFAULT_RIG: &str = "scenarios/rigs/emulated.toml";
/// The endpoint name emulated boards use when the rig names none.
pub const DEFAULT_ENDPOINT: &str = "broker.hil.test";

/// A rig file that cannot be used, with where and why.
pub use crate::file_error::FileError as RigError;

/// How the broker is run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BrokerSpec {
    /// The in-process mock broker (default): full tap, JITR, faults.
    Embedded {
        /// The name boards connect to (server certificate, SNI).
        endpoint: String,
        /// Where it listens (`127.0.0.1:0` by default; a lab rig listens on the LAN).
        listen: SocketAddr,
        /// The built-in zero-touch activation rule, if wanted.
        zero_touch: Option<Duration>,
        /// The AWS region it stands in for (`region`, default `us-east-1`): in every ARN
        /// and policy match.
        region: String,
        /// The 12-digit AWS account id (`account_id`, default `123456789012`).
        account_id: String,
    },
    /// Mosquitto as a process, configured by the harness for mutual TLS.
    Mosquitto {
        /// The name boards connect to (server certificate, SNI).
        endpoint: String,
        /// The `mosquitto` program (found on `PATH` by default).
        program: PathBuf,
    },
    /// Mosquitto in a container (testcontainers), with the same configuration.
    Container {
        /// The name boards connect to (server certificate, SNI).
        endpoint: String,
        /// Image (default `eclipse-mosquitto:2`).
        image: String,
    },
    /// A broker somewhere else, observed through a client.
    External {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
}

impl BrokerSpec {
    /// What a broker of this kind offers (known before it starts, to skip scenarios).
    pub fn capabilities(&self) -> crate::broker::BrokerCapabilities {
        match self {
            BrokerSpec::Embedded { .. } => crate::broker::BrokerCapabilities::FULL,
            _ => crate::broker::BrokerCapabilities::OBSERVED,
        }
    }

    /// The kind as written in rig files.
    pub fn kind(&self) -> &'static str {
        match self {
            BrokerSpec::Embedded { .. } => "embedded",
            BrokerSpec::Mosquitto { .. } => "mosquitto",
            BrokerSpec::Container { .. } => "container",
            BrokerSpec::External { .. } => "external",
        }
    }
}

/// An access point boards are provisioned with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPoint {
    /// SSID.
    pub ssid: String,
    /// Passphrase (empty for open networks).
    pub password: String,
    /// `open`, `wpa2` or `wep`.
    pub auth: String,
}

/// Where an LED's level is read on a real board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedBit {
    /// Register address.
    pub register: u32,
    /// Bit number.
    pub bit: u8,
    /// Lit when the bit is 0.
    pub active_low: bool,
}

/// A debug probe selector: `VID:PID[:serial]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSelector {
    /// USB vendor id.
    pub vid: u16,
    /// USB product id.
    pub pid: u16,
    /// Serial number, if several probes of the kind are attached.
    pub serial: Option<String>,
}

impl std::fmt::Display for ProbeSelector {
    /// As written in rig files: `03eb:2175` or `03eb:2175:SERIAL`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vid, self.pid)?;
        match &self.serial {
            Some(serial) => write!(f, ":{serial}"),
            None => Ok(()),
        }
    }
}

/// Where a probe-rs board's console is: the rig's `serial = { port | usb_serial, baud }`.
///
/// A `/dev/ttyACM<N>` name is handed out in enumeration order, so with several boards, or
/// after a board re-enumerates, it may name another board's port. The stable keys are a
/// `/dev/serial/by-id/` link, the USB serial number, or (the default) the probe's own USB
/// device, for a composite debugger such as Microchip's nEDBG whose virtual COM port
/// shares the probe's serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SerialPortSpec {
    /// `port = "/dev/..."`: a device path, reopened under the same path.
    Path(PathBuf),
    /// `usb_serial = "..."`: the tty of the USB device with this serial number (sysfs).
    UsbSerial(String),
    /// Neither: the tty of the probe's own USB device, found by the probe's serial number.
    ProbeUsb,
}

/// One board of the rig.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BoardSpec {
    /// The reference firmware built for the host.
    Emulated {
        /// The `emulated-board` binary (found or built in the workspace when absent).
        binary: Option<PathBuf>,
        /// The access point to provision (name in `[wifi]`).
        wifi: Option<String>,
        /// Deliberate defects (`flaws = ["no-jitter"]`), passed to the board as `--flaw`:
        /// each makes one qualification case fail (`emulated-board --help` lists them;
        /// the board refuses an unknown one at start).
        flaws: Vec<String>,
    },
    /// A real board on a debug probe.
    ProbeRs {
        /// Chip name, as probe-rs knows it.
        chip: String,
        /// Which probe.
        probe: ProbeSelector,
        /// Firmware ELF.
        firmware: PathBuf,
        /// Console port (`serial`).
        serial_port: SerialPortSpec,
        /// Console baud rate.
        baud: u32,
        /// LED registers.
        leds: BTreeMap<String, LedBit>,
        /// LED polling period.
        poll: Duration,
        /// Capture RTT up-channels into the timeline.
        rtt: bool,
        /// The access point to provision.
        wifi: Option<String>,
    },
    /// A firmware image under QEMU (`kind = "qemu"`).
    Qemu {
        /// The machine (`machine`, e.g. `mps2-an385`) and its memory map.
        machine: &'static crate::board::qemu::Machine,
        /// Firmware ELF (`firmware`; by default `$HIL_QEMU_FIRMWARE`, else the image
        /// `ci/build-qemu-firmware` builds).
        firmware: PathBuf,
        /// The QEMU program (`qemu`, default `qemu-system-arm` on `PATH`).
        program: PathBuf,
        /// LED registers (by default the machine's map for the reference firmware).
        leds: BTreeMap<String, LedBit>,
        /// LED polling period (`poll_ms`, default 10 ms: each read is a QMP round trip).
        poll: Duration,
        /// The access point to provision.
        wifi: Option<String>,
    },
}

impl BoardSpec {
    /// What a board of this kind can do (known before it starts, to skip scenarios).
    pub fn capabilities(&self) -> crate::board::Capabilities {
        match self {
            BoardSpec::Emulated { .. } => crate::board::Capabilities::EMULATED,
            BoardSpec::ProbeRs { .. } => crate::board::Capabilities::PROBE_RS,
            BoardSpec::Qemu { .. } => crate::board::Capabilities::QEMU,
        }
    }

    /// The kind as written in rig files.
    pub fn kind(&self) -> &'static str {
        match self {
            BoardSpec::Emulated { .. } => "emulated",
            BoardSpec::ProbeRs { .. } => "probe-rs",
            BoardSpec::Qemu { .. } => "qemu",
        }
    }
}

/// A loaded, validated rig.
#[derive(Debug, Clone, PartialEq)]
pub struct Rig {
    /// The rig file.
    pub path: PathBuf,
    /// The rig's one clock (`speed`, 1 when the file gives none): its emulated boards and
    /// embedded broker run this much faster than real time, and scenario durations are
    /// board time.
    pub clock: RigClock,
    /// The broker.
    pub broker: BrokerSpec,
    /// The test PKI directory.
    pub pki_dir: PathBuf,
    /// Create a fresh PKI on every run.
    pub fresh_pki: bool,
    /// Access points by name.
    pub wifi: BTreeMap<String, AccessPoint>,
    /// Boards by name.
    pub boards: BTreeMap<String, BoardSpec>,
    /// Provisioning hooks by board name (`[boards.<name>.provision]`): the rig's own
    /// programs that give those boards their credentials instead of the console.
    pub provision_hooks: BTreeMap<String, ProvisionHook>,
}

mod parse;

impl Rig {
    /// Reads and validates a rig file.
    pub fn load(path: &Path) -> Result<Rig, RigError> {
        let help = format!("set {RIG_ENV} to a rig file, or create {DEFAULT_RIG}");
        let text = std::fs::read_to_string(path)
            .map_err(|e| RigError::unreadable(path, "rig file", &e, Some(&help)))?;
        Self::parse(path, &text)
    }

    /// The rig in `$HIL_RIG`, or [`DEFAULT_RIG`] under `workspace_root`.
    pub fn from_env(workspace_root: &Path) -> Result<Rig, RigError> {
        let path = match std::env::var_os(RIG_ENV) {
            Some(path) => PathBuf::from(path),
            None => workspace_root.join(DEFAULT_RIG),
        };
        Self::load(&path)
    }

    /// The access point a board is provisioned with: its own, or the rig's first.
    pub fn access_point(&self, board: &str) -> Option<&AccessPoint> {
        let named = match self.boards.get(board)? {
            BoardSpec::Emulated { wifi, .. }
            | BoardSpec::ProbeRs { wifi, .. }
            | BoardSpec::Qemu { wifi, .. } => wifi.as_ref(),
        };
        match named {
            Some(name) => self.wifi.get(name),
            None => self.wifi.values().next(),
        }
    }
}

impl Rig {
    /// The provisioning hook of `board`, if the rig gives it one.
    pub fn provision_hook(&self, board: &str) -> Option<&ProvisionHook> {
        self.provision_hooks.get(board)
    }
}

/// The workspace this harness was built in (where `scenarios/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod qemu_tests;
