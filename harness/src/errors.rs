//! Error types of the harness library.
//!
//! One type per area: [`PkiError`] (test PKI), [`RigError`](crate::rig::RigError) (rig
//! files, with spans for miette), [`ConsoleError`], [`BoardError`], [`BrokerError`],
//! [`ProvisionError`], [`ProbeSelectError`] (choosing a lab rig's debug probe), and for
//! provisioning hooks [`CommandLineError`] (a rig's command line) and [`HookError`]
//! (running it), [`SpeedError`] (a rig clock's speed), [`PartitionError`] (a `M/N`
//! slice of a suite), and [`FleetError`] (a fleet run). Messages are lowercase and say what failed on what.

use std::path::PathBuf;
use std::time::Duration;

/// A rig clock's speed that is not a positive number in
/// [`SPEED_RANGE`](crate::clock::SPEED_RANGE) (see
/// [`RigClock::new`](crate::clock::RigClock::new)). Give a speed such as 1 (real time)
/// or 20.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("speed must be a positive number from 0.000001 to 1000000, not {speed}")]
pub struct SpeedError {
    /// The speed given.
    pub speed: f64,
}

/// The test PKI could not be read, written or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A PKI file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key could not be generated or loaded.
    #[error("certificate generation failed")]
    Rcgen(#[from] rcgen::Error),
    /// A certificate or key in the PKI directory does not parse.
    #[error("PKI file does not parse: {0}")]
    Parse(String),
    /// The board's CSR does not parse or its signature is wrong.
    #[error("the board's CSR is invalid: {0}")]
    Csr(String),
}

/// Talking to a board's console failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The serial port could not be opened.
    #[error("cannot open serial port {port}")]
    Open {
        /// The port.
        port: String,
        /// Why.
        #[source]
        source: serialport::Error,
    },
    /// Writing to the port failed.
    #[error("cannot write to {port}")]
    Write {
        /// The port.
        port: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The port's key names no device now (a USB serial number with no tty, say).
    #[error("cannot find serial port {key}")]
    Lookup {
        /// The key, as the rig gives it.
        key: String,
        /// Why.
        #[source]
        source: PortLookupError,
    },
    /// The port went away (a USB device re-enumerating) and could not be reopened within
    /// the reopen window; the timeline shows when it went.
    #[error("serial port {port} went away and did not come back within {window:?}: {reason}")]
    Gone {
        /// The port.
        port: String,
        /// How long reopening was tried.
        window: Duration,
        /// The last attempt's error.
        reason: String,
    },
    /// Nothing matching came in time.
    #[error("no {what} on {port} within {timeout:?}; last output: {tail:?}")]
    Timeout {
        /// What was awaited (a regex, a reply).
        what: String,
        /// The port.
        port: String,
        /// How long it waited.
        timeout: Duration,
        /// The last console output, for the report.
        tail: String,
    },
    /// The port went away and did not come back.
    #[error("serial port {port} closed")]
    Closed {
        /// The port.
        port: String,
    },
    /// A pattern is not a valid regular expression.
    #[error("invalid regular expression {pattern:?}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why.
        #[source]
        source: regex::Error,
    },
}

impl ConsoleError {
    /// The error with a [`ConsoleError::Timeout`]'s wait given as `timeout`: the console
    /// waits in wall time, and a caller that converted a scenario's board-time duration
    /// reports that duration instead.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        if let ConsoleError::Timeout {
            timeout: waited, ..
        } = &mut self
        {
            *waited = timeout;
        }
        self
    }
}

/// A console port's key could not be resolved to a device path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortLookupError {
    /// No tty belongs to a USB device with that serial number: it is not attached (or not
    /// back yet after a reset), or the number is wrong; the USB ttys there are listed.
    #[error(
        "no tty belongs to a USB device with serial number {serial:?}; USB ttys: {}",
        list_or_none(usb_ttys)
    )]
    NoTty {
        /// The serial number looked for.
        serial: String,
        /// Every tty of a USB device, with its ids, serial number and interface.
        usb_ttys: Vec<String>,
    },
    /// The USB device has several ttys (a debugger with two virtual COM ports): name one
    /// by its `/dev/serial/by-id/` link, which ends in its interface number.
    #[error(
        "the USB device with serial number {serial:?} has {} ttys: {}; name one with port = \"/dev/serial/by-id/...-if<NN>\"",
        ttys.len(),
        ttys.join(", ")
    )]
    SeveralTtys {
        /// The serial number looked for.
        serial: String,
        /// Its ttys.
        ttys: Vec<String>,
    },
    /// sysfs could not be read (not Linux, or `/sys` not mounted): name the port by its
    /// path instead.
    #[error("cannot read {}", path.display())]
    Sysfs {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A board could not be started, driven or observed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoardError {
    /// The board process or probe could not be started.
    #[error("cannot start board {board}: {reason}")]
    Start {
        /// Board name.
        board: String,
        /// Why.
        reason: String,
    },
    /// The board's control channel failed.
    #[error("board {board}: control channel: {reason}")]
    Control {
        /// Board name.
        board: String,
        /// Why.
        reason: String,
    },
    /// The console failed.
    #[error("board {board}: console")]
    Console {
        /// Board name.
        board: String,
        /// Why.
        #[source]
        source: ConsoleError,
    },
    /// The board's debug probe could not be chosen or opened.
    #[error("cannot start board {board}")]
    Probe {
        /// Board name.
        board: String,
        /// Why.
        #[source]
        source: ProbeSelectError,
    },
    /// The rig cannot do this with this board (power control, say).
    #[error("board {board} cannot {operation}")]
    Unsupported {
        /// Board name.
        board: String,
        /// What was asked.
        operation: &'static str,
    },
}

/// No single debug probe matches a rig's `probe = "VID:PID[:serial]"`, or it cannot be
/// opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeSelectError {
    /// No attached probe matches; check the cable, or the VID:PID and serial number against
    /// the attached ones listed.
    #[error("no probe {wanted} is attached; attached: {}", list_or_none(attached))]
    NotAttached {
        /// The selector, as written in the rig.
        wanted: String,
        /// Every attached probe (`VID:PID[:serial] (product)`), sorted.
        attached: Vec<String>,
    },
    /// Several probes match, so the board could be any of them; `help` says how to name
    /// one (its serial number), or that they cannot be told apart.
    #[error("{} probes match {wanted}: {}; {help}", candidates.len(), candidates.join(", "))]
    Ambiguous {
        /// The selector, as written in the rig.
        wanted: String,
        /// Every matching probe with its serial number, sorted.
        candidates: Vec<String>,
        /// What to do.
        help: String,
    },
    /// The probe was found but could not be opened (permissions, or in use by another
    /// program such as a debugger).
    #[error("cannot open probe {probe}")]
    Open {
        /// The probe.
        probe: String,
        /// Why.
        #[source]
        source: probe_rs::probe::DebugProbeError,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// The broker could not be started or observed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker could not start.
    #[error("cannot start the {kind} broker: {reason}")]
    Start {
        /// Backend kind.
        kind: &'static str,
        /// Why.
        reason: String,
    },
    /// The backend lacks what was asked (a tap, JITR, faults).
    #[error("the {kind} broker cannot {operation}")]
    Unsupported {
        /// Backend kind.
        kind: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// A control-plane operation failed.
    #[error("broker control plane: {0}")]
    ControlPlane(#[from] mock_broker::aws::registry::AwsError),
    /// The test PKI failed.
    #[error("broker PKI")]
    Pki(#[from] PkiError),
    /// A request to the broker's HTTP API failed or was refused.
    #[error("{operation} over HTTP: {reason}")]
    Http {
        /// The AWS operation (`Publish`, ...).
        operation: &'static str,
        /// The transport error, or the status, AWS exception and message of the answer.
        reason: String,
    },
}

/// Provisioning a board failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The board said no, or said something unexpected.
    #[error("board {board} refused `{command}`: {reply}")]
    Refused {
        /// Board name.
        board: String,
        /// The console command.
        command: String,
        /// What the board answered.
        reply: String,
    },
    /// The board's thing name is not the one its certificate carries.
    #[error("board {board} reports thing {reported:?}, its certificate says {expected:?}")]
    ThingMismatch {
        /// Board name.
        board: String,
        /// From `thing`.
        reported: String,
        /// From the certificate's SKI.
        expected: String,
    },
    /// The console failed.
    #[error("provisioning {board}")]
    Board {
        /// Board name.
        board: String,
        /// Why.
        #[source]
        source: BoardError,
    },
    /// Signing or registering failed.
    #[error("provisioning: PKI")]
    Pki(#[from] PkiError),
    /// Registering with the broker failed.
    #[error("provisioning: broker")]
    Broker(#[from] BrokerError),
    /// The board's provisioning hook (the rig's `command` or `csr_command`) failed.
    #[error("board {board}: provisioning hook `{hook}`")]
    Hook {
        /// Board name.
        board: String,
        /// `command` or `csr_command`.
        hook: &'static str,
        /// Why.
        #[source]
        source: HookError,
    },
}

/// A rig's hook command line does not parse. Placeholders are `{name}`; `{{` and `}}`
/// stand for braces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandLineError {
    /// A quote is not closed, or the line ends in a backslash.
    #[error("unbalanced quotes or a trailing backslash")]
    Quoting,
    /// The line names no program.
    #[error("the command line is empty")]
    Empty,
    /// A `{name}` the harness does not know.
    #[error("unknown placeholder `{{{name}}}`")]
    UnknownPlaceholder {
        /// The name between the braces.
        name: String,
    },
    /// A `{` without its `}`.
    #[error("`{{` without its `}}` in `{word}` (write `{{{{` for a brace)")]
    Unclosed {
        /// The argument it is in.
        word: String,
    },
}

/// A provisioning hook could not run, failed, or printed nothing usable. `command` is the
/// rig's command line with its placeholders, not their values (a Wi-Fi password stays out
/// of reports).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The files the placeholders name could not be written.
    #[error("cannot write {path} for the hook")]
    Files {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The program could not be started (not found, not executable).
    #[error("cannot start `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("`{command}` {status}; {}", stderr_report(stderr))]
    Failed {
        /// The command line, with its placeholders.
        command: String,
        /// How it ended (`exit status: 3`, `signal: 9 (SIGKILL)`).
        status: String,
        /// The last lines it wrote on stderr.
        stderr: String,
    },
    /// The program ran longer than the rig's `timeout`; it was killed with its children.
    #[error(
        "`{command}` did not finish within {timeout:?} and was killed; {}",
        stderr_report(stderr)
    )]
    TimedOut {
        /// The command line, with its placeholders.
        command: String,
        /// The rig's timeout.
        timeout: Duration,
        /// The last lines it wrote on stderr.
        stderr: String,
    },
    /// The CSR hook's output holds no PEM certificate request.
    #[error("`{command}` printed no PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)")]
    NoCsr {
        /// The command line, with its placeholders.
        command: String,
    },
}

/// A hook's stderr for an error message: one line as is, more lines indented below.
fn stderr_report(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.as_slice() {
        [] => "it wrote nothing on stderr".to_owned(),
        [line] => format!("its stderr: {line}"),
        lines => format!("its stderr:\n    {}", lines.join("\n    ")),
    }
}

/// A partition (`hil run --partition M/N`) that names no slice of a suite: the text as given,
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid partition {given:?}")]
pub struct PartitionError {
    /// The text as given (`M/N` when built from numbers).
    pub given: String,
    /// What is wrong with it.
    #[source]
    pub kind: PartitionErrorKind,
}

/// What is wrong with a [`PartitionError`]'s text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionErrorKind {
    /// The text is not two numbers around a `/`: write `M/N`, e.g. `1/3`.
    #[error("expected M/N, slice M of N slices (e.g. 1/3)")]
    Form,
    /// `M` or `N` is not a whole number (digits only).
    #[error("{0:?} is not a whole number")]
    Number(String),
    /// `N` is 0: a suite is cut into one slice or more.
    #[error("there must be at least one slice (N ≥ 1)")]
    NoSlices,
    /// `M` is 0 or greater than `N`: slices count from 1 to `N`.
    #[error("there is no slice {slice}; slices are 1 to {count}")]
    NoSuchSlice {
        /// `M`.
        slice: usize,
        /// `N`.
        count: usize,
    },
}

/// A fleet run (`hil fleet`, [`Fleet`](crate::fleet::Fleet)) could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The rig cannot run a fleet (its broker is not the embedded one, it has no Wi-Fi
    /// access point) or its broker did not start.
    #[error("cannot start the fleet: {reason}")]
    Start {
        /// Why.
        reason: String,
    },
    /// The options make no fleet (no boards, a mode a fleet does not take).
    #[error("invalid fleet options: {reason}")]
    Options {
        /// What is wrong.
        reason: String,
    },
    /// `fleet-board` could not be found, built or started (set `HIL_FLEET_BOARD`, or run
    /// `cargo build -p firmware-under-test --bin fleet-board`).
    #[error("fleet-board: {reason}")]
    Program {
        /// Why.
        reason: String,
    },
    /// `fleet-board` wrote a line that is not one of its events (a program of another
    /// version?).
    #[error("fleet-board wrote {line:?}: {reason}")]
    Protocol {
        /// The line.
        line: String,
        /// Why it does not decode.
        reason: String,
    },
    /// `fleet-board` ended before the run did.
    #[error("fleet-board ended ({status}); {}", stderr_text(stderr))]
    Exited {
        /// Its exit status.
        status: String,
        /// Its last lines on stderr.
        stderr: String,
    },
    /// `fleet-board` did not get to a point in time (wall time).
    #[error("fleet-board did not {what} within {after:?}")]
    Timeout {
        /// What it did not do.
        what: &'static str,
        /// How long the harness waited.
        after: Duration,
    },
    /// The speed is not one a clock can run at.
    #[error(transparent)]
    Speed(#[from] SpeedError),
    /// Signing a board's CSR failed.
    #[error("fleet: PKI")]
    Pki(#[from] PkiError),
    /// Registering with the broker failed.
    #[error("fleet: broker")]
    Broker(#[from] BrokerError),
}

fn stderr_text(stderr: &str) -> String {
    match stderr.lines().collect::<Vec<_>>().as_slice() {
        [] => "it wrote nothing on stderr".to_owned(),
        lines => format!("its stderr:\n    {}", lines.join("\n    ")),
    }
}
