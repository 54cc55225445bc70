//! The console's reader thread: every read goes through the [`LineDecoder`] (clean text to
//! the async side, whole lines to the timeline), and a port that goes away is reopened by
//! its key.
//!
//! Reopening: when a read fails (the USB device left: EIO, hang-up or end of file), the
//! line under way is ended, the loss goes on the timeline, and the port is looked up by its
//! [`PortKey`] and opened every [`REOPEN_RETRY`] until it opens or the window
//! ([`PortConfig::reopen_window`]) has passed. Every failure is retried within the window:
//! ENOENT (or a USB serial number without a tty) while the device is away, EBUSY while
//! another program holds the new port (ModemManager probes fresh ACM ports), EACCES while
//! udev has not yet given the node its group; each new kind of failure goes on the timeline
//! once. When it opens, the gap goes on the timeline
//! ([`What::ConsoleReopened`]: how long, how many attempts, the path it came back under);
//! when the window passes, the reader stops and the console's next wait fails with
//! [`crate::errors::ConsoleError::Gone`]. A port that fails again before one good read
//! continues the same window, so a device that keeps failing cannot keep the reader
//! retrying for ever.

use super::PortConfig;
use super::lines::{Decoded, LineDecoder};
use crate::timeline::{Timeline, What};
use serialport::TTYPort;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long the reader waits between two attempts to reopen a port.
pub const REOPEN_RETRY: Duration = Duration::from_millis(50);

/// What a console and its reader thread share.
#[derive(Default)]
pub(super) struct Shared {
    /// The open port; `None` while it is gone.
    pub(super) port: Mutex<Option<TTYPort>>,
    /// Why the reader gave up, once it has.
    pub(super) gone: Mutex<Option<String>>,
    /// Set when the console is dropped.
    pub(super) stop: AtomicBool,
}

/// Opens the device at `path` (raw mode, 100 ms read timeout).
pub(super) fn open_port(path: &Path, baud: u32) -> Result<TTYPort, serialport::Error> {
    serialport::new(path.to_string_lossy(), baud)
        .timeout(Duration::from_millis(100))
        .open_native()
}

/// `path`, and where it leads when it is a link (`/dev/serial/by-id/...`).
pub(super) fn device_of(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// A port opened again, with the reader's handle and where it was found.
struct Reopened {
    port: TTYPort,
    reader: TTYPort,
    path: PathBuf,
    attempts: u32,
}

/// The reader thread's state.
pub(super) struct Reader {
    pub(super) board: String,
    pub(super) config: PortConfig,
    pub(super) shared: Arc<Shared>,
    pub(super) tx: mpsc::UnboundedSender<Vec<u8>>,
    pub(super) timeline: Arc<Timeline>,
}

impl Reader {
    /// Reads `reader` (a handle on the port opened at `path`) until the console is dropped
    /// or the port is gone for good.
    pub(super) fn run(self, mut reader: TTYPort, mut path: PathBuf) {
        let mut decoder = LineDecoder::default();
        let mut buf = [0u8; 1024];
        // The end of the reopen window under way: set when the port is lost, cleared by a
        // good read.
        let mut deadline: Option<Instant> = None;
        while !self.shared.stop.load(Ordering::Relaxed) {
            let reason = match reader.read(&mut buf) {
                Ok(n) if n > 0 => {
                    deadline = None;
                    if !self.deliver(decoder.push(&buf[..n])) {
                        return;
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    deadline = None;
                    continue;
                }
                Ok(_) => "end of file".to_owned(),
                Err(e) => e.to_string(),
            };
            if !self.deliver(decoder.finish()) {
                return;
            }
            if let Ok(mut port) = self.shared.port.lock() {
                *port = None;
            }
            let window = self.config.reopen_window;
            self.timeline.record(What::Action {
                text: format!(
                    "{}: console {} lost ({reason}); reopening {} for up to {window:?}",
                    self.board,
                    path.display(),
                    self.config.key
                ),
            });
            let lost = Instant::now();
            match self.reopen(*deadline.get_or_insert(lost + window)) {
                Ok(back) => {
                    // The port is usable before the timeline says it is back.
                    if let Ok(mut port) = self.shared.port.lock() {
                        *port = Some(back.port);
                    }
                    self.timeline.record(What::ConsoleReopened {
                        board: self.board.clone(),
                        path: back.path.display().to_string(),
                        device: device_of(&back.path).display().to_string(),
                        gone: lost.elapsed(),
                        attempts: back.attempts,
                    });
                    reader = back.reader;
                    path = back.path;
                }
                Err(_) if self.shared.stop.load(Ordering::Relaxed) => return,
                Err(last) => {
                    self.timeline.record(What::Action {
                        text: format!(
                            "{}: console {} did not come back within {window:?}: {last}",
                            self.board, self.config.key
                        ),
                    });
                    if let Ok(mut gone) = self.shared.gone.lock() {
                        *gone = Some(last);
                    }
                    return;
                }
            }
        }
    }

    /// Lines to the timeline, text to the async side; false once nobody listens.
    fn deliver(&self, decoded: Decoded) -> bool {
        for line in decoded.lines {
            self.timeline.record(What::Console {
                board: self.board.clone(),
                line,
                sent: false,
            });
        }
        decoded.text.is_empty() || self.tx.send(decoded.text.into_bytes()).is_ok()
    }

    /// Looks the port up and opens it every [`REOPEN_RETRY`] until `deadline`; each new
    /// kind of failure goes on the timeline once. The error is the last attempt's.
    fn reopen(&self, deadline: Instant) -> Result<Reopened, String> {
        let mut attempts = 0;
        let mut reported = String::new();
        loop {
            std::thread::sleep(REOPEN_RETRY);
            if self.shared.stop.load(Ordering::Relaxed) {
                return Err("the console was closed".to_owned());
            }
            attempts += 1;
            let error = match self.config.key.resolve(&self.config.roots) {
                Ok(path) => match open_port(&path, self.config.baud)
                    .and_then(|port| Ok((port.try_clone_native()?, port)))
                {
                    Ok((reader, port)) => {
                        return Ok(Reopened {
                            port,
                            reader,
                            path,
                            attempts,
                        });
                    }
                    Err(e) => format!("{}: {e}", path.display()),
                },
                Err(e) => e.to_string(),
            };
            if error != reported {
                self.timeline.record(What::Action {
                    text: format!(
                        "{}: console not back yet (attempt {attempts}): {error}",
                        self.board
                    ),
                });
                reported = error;
            }
            if Instant::now() >= deadline {
                return Err(reported);
            }
        }
    }
}
