//! [`Console`]: opening a port by its key, sending lines, and waiting for replies and
//! patterns in the text the reader thread hands over.

use super::locate::{DeviceRoots, PortKey};
use super::reader::{Reader, Shared, open_port};
use crate::errors::ConsoleError;
use crate::timeline::{Timeline, What};
use serialport::SerialPort;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// End of a reply.
pub const EOT: u8 = 0x04;
/// How long a vanished port is retried before the console gives up (by default).
pub const REOPEN_WINDOW: Duration = Duration::from_secs(10);
/// How long [`Console::release`] waits for the reader to let go of the port.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which port a console opens, and how it is kept open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// What names the port; looked up again on every reopen.
    pub key: PortKey,
    /// Baud rate.
    pub baud: u32,
    /// How long a port that went away is retried ([`REOPEN_WINDOW`] by default).
    pub reopen_window: Duration,
    /// Where sysfs and the device nodes are (`/sys` and `/dev`).
    pub roots: DeviceRoots,
}

impl PortConfig {
    /// `key` at `baud`, retried for [`REOPEN_WINDOW`], looked up under `/sys` and `/dev`.
    pub fn new(key: PortKey, baud: u32) -> Self {
        PortConfig {
            key,
            baud,
            reopen_window: REOPEN_WINDOW,
            roots: DeviceRoots::default(),
        }
    }
}

/// A console; see the module documentation.
pub struct Console {
    board: String,
    /// The key, as errors name the port.
    port_name: String,
    /// How the port is found and opened (again after [`Console::release`]).
    config: PortConfig,
    reopen_window: Duration,
    shared: Arc<Shared>,
    bytes: mpsc::UnboundedReceiver<Vec<u8>>,
    pending: Vec<u8>,
    timeline: Arc<Timeline>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("board", &self.board)
            .field("port", &self.port_name)
            .finish_non_exhaustive()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Looks the port up by its key, opens it once (a wrong key fails at once), and starts the
/// reader thread; returns the state shared with the thread and the bytes it hands over.
fn start(
    board: &str,
    config: &PortConfig,
    timeline: &Arc<Timeline>,
) -> Result<(Arc<Shared>, mpsc::UnboundedReceiver<Vec<u8>>), ConsoleError> {
    let port_name = config.key.to_string();
    let path = config
        .key
        .resolve(&config.roots)
        .map_err(|source| ConsoleError::Lookup {
            key: port_name.clone(),
            source,
        })?;
    let open_error = |source| ConsoleError::Open {
        port: path.display().to_string(),
        source,
    };
    let port = open_port(&path, config.baud).map_err(open_error)?;
    let reader = port.try_clone_native().map_err(open_error)?;
    let shared = Arc::new(Shared::default());
    if let Ok(mut slot) = shared.port.lock() {
        *slot = Some(port);
    }
    let (tx, bytes) = mpsc::unbounded_channel();
    let thread = Reader {
        board: board.to_owned(),
        config: config.clone(),
        shared: shared.clone(),
        tx,
        timeline: timeline.clone(),
    };
    std::thread::Builder::new()
        .name(format!("console-{board}"))
        .spawn(move || thread.run(reader, path))
        .map_err(|source| ConsoleError::Write {
            port: port_name,
            source,
        })?;
    Ok((shared, bytes))
}

impl Console {
    /// Opens the device at `path` at `baud` for `board`.
    pub fn open(
        board: &str,
        path: &str,
        baud: u32,
        timeline: Arc<Timeline>,
    ) -> Result<Console, ConsoleError> {
        Self::open_with(
            board,
            PortConfig::new(PortKey::Path(PathBuf::from(path)), baud),
            timeline,
        )
    }

    /// Looks the port up by its key and opens it for `board`. The first open is tried
    /// once, so a wrong key fails at once; later losses are retried (see the module
    /// documentation).
    pub fn open_with(
        board: &str,
        config: PortConfig,
        timeline: Arc<Timeline>,
    ) -> Result<Console, ConsoleError> {
        let port_name = config.key.to_string();
        let (shared, bytes) = start(board, &config, &timeline)?;
        Ok(Console {
            board: board.to_owned(),
            port_name,
            reopen_window: config.reopen_window,
            config,
            shared,
            bytes,
            pending: Vec::new(),
            timeline,
        })
    }

    /// Lets go of the port, so another program can open it (a provisioning tool that
    /// talks to the board itself): the reader stops and the port is closed, which also
    /// lifts the exclusive lock. What the board prints meanwhile is not seen. Until
    /// [`Console::reclaim`], commands fail with [`ConsoleError::Closed`].
    pub async fn release(&mut self) -> Result<(), ConsoleError> {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Ok(mut slot) = self.shared.port.lock() {
            slot.take();
        }
        // The reader notices within its read timeout; returning, it closes its copy of the
        // port, then its end of the channel.
        let drained = async { while self.bytes.recv().await.is_some() {} };
        tokio::time::timeout(RELEASE_TIMEOUT, drained)
            .await
            .map_err(|_| ConsoleError::Timeout {
                what: "the console's reader letting go of the port".into(),
                port: self.port_name.clone(),
                timeout: RELEASE_TIMEOUT,
                tail: String::new(),
            })?;
        self.pending.clear();
        self.timeline.record(What::Action {
            text: format!("{}: console {} released", self.board, self.port_name),
        });
        Ok(())
    }

    /// Looks the port up and opens it again after [`Console::release`].
    pub fn reclaim(&mut self) -> Result<(), ConsoleError> {
        let (shared, bytes) = start(&self.board, &self.config, &self.timeline)?;
        (self.shared, self.bytes) = (shared, bytes);
        self.pending.clear();
        self.timeline.record(What::Action {
            text: format!("{}: console {} reclaimed", self.board, self.port_name),
        });
        Ok(())
    }

    /// The path of the device open now (`None` while the port is gone).
    pub fn path(&self) -> Option<String> {
        self.shared.port.lock().ok()?.as_ref()?.name()
    }

    /// Sends `line` followed by CR LF.
    pub fn send(&mut self, line: &str) -> Result<(), ConsoleError> {
        self.timeline.record(What::Console {
            board: self.board.clone(),
            line: line.to_owned(),
            sent: true,
        });
        self.write_raw(format!("{line}\r\n").as_bytes())
    }

    /// Drops the output received so far, so the next [`Console::expect`] sees only what
    /// the board prints from now on.
    pub fn discard_output(&mut self) {
        while self.bytes.try_recv().is_ok() {}
        self.pending.clear();
    }

    /// Sends bytes as they are (for bad-input tests).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ConsoleError> {
        let write_error = |source| ConsoleError::Write {
            port: self.port_name.clone(),
            source,
        };
        let closed = || ConsoleError::Closed {
            port: self.port_name.clone(),
        };
        let mut guard = self.shared.port.lock().map_err(|_| closed())?;
        let port = guard.as_mut().ok_or_else(closed)?;
        port.write_all(bytes).map_err(write_error)?;
        port.flush().map_err(write_error)
    }

    /// Waits until the output matches `pattern`; returns the matched text. Output up to the
    /// end of the match is consumed.
    pub async fn expect(
        &mut self,
        pattern: &str,
        timeout: Duration,
    ) -> Result<String, ConsoleError> {
        let regex = regex::bytes::Regex::new(pattern).map_err(|source| ConsoleError::Regex {
            pattern: pattern.to_owned(),
            source,
        })?;
        let found = self
            .until(&format!("/{pattern}/"), timeout, |bytes| {
                regex.find(bytes).map(|m| (m.start(), m.end()))
            })
            .await?;
        Ok(found)
    }

    /// Reads the next reply: everything up to the next EOT, without log lines.
    pub async fn reply(&mut self, timeout: Duration) -> Result<String, ConsoleError> {
        let raw = self
            .until("a reply (EOT)", timeout, |bytes| {
                bytes.iter().position(|b| *b == EOT).map(|end| (0, end + 1))
            })
            .await?;
        Ok(strip_logs(&raw))
    }

    /// Sends a command and returns its reply. It synchronises first, so output the board
    /// sent on its own (a boot banner after a reset) is not taken for the reply.
    pub async fn command(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<String, ConsoleError> {
        self.sync(timeout).await?;
        self.send(command)?;
        self.reply(timeout).await
    }

    /// Sends a PEM block after its command (`cert`, `signer`, `rootca`): the lines, then an
    /// empty line; returns the reply.
    pub async fn send_block(
        &mut self,
        command: &str,
        block: &str,
        timeout: Duration,
    ) -> Result<String, ConsoleError> {
        self.sync(timeout).await?;
        self.send(command)?;
        for line in block.lines() {
            self.send(line)?;
        }
        self.send("")?;
        self.reply(timeout).await
    }

    /// Synchronises with the board: sends an empty line and reads replies until its empty
    /// reply, so output from before (a boot banner) is consumed.
    pub async fn sync(&mut self, timeout: Duration) -> Result<(), ConsoleError> {
        self.send("")?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.reply(left).await?.is_empty() {
                return Ok(());
            }
        }
    }

    /// Waits until `find` locates something in the pending output; consumes up to its end
    /// and returns the text from its start.
    async fn until(
        &mut self,
        what: &str,
        timeout: Duration,
        find: impl Fn(&[u8]) -> Option<(usize, usize)>,
    ) -> Result<String, ConsoleError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((start, end)) = find(&self.pending) {
                let taken: Vec<u8> = self.pending.drain(..end).collect();
                return Ok(String::from_utf8_lossy(&taken[start..]).into_owned());
            }
            match tokio::time::timeout_at(deadline, self.bytes.recv()).await {
                Ok(Some(bytes)) => self.pending.extend_from_slice(&bytes),
                Ok(None) => {
                    let gone = self.shared.gone.lock().ok().and_then(|g| g.clone());
                    return Err(match gone {
                        Some(reason) => ConsoleError::Gone {
                            port: self.port_name.clone(),
                            window: self.reopen_window,
                            reason,
                        },
                        None => ConsoleError::Closed {
                            port: self.port_name.clone(),
                        },
                    });
                }
                Err(_) => {
                    let tail = String::from_utf8_lossy(
                        &self.pending[self.pending.len().saturating_sub(300)..],
                    )
                    .into_owned();
                    return Err(ConsoleError::Timeout {
                        what: what.to_owned(),
                        port: self.port_name.clone(),
                        timeout,
                        tail,
                    });
                }
            }
        }
    }
}

/// A reply's text: without the EOT, the trailing line end, and log lines (`[X] ...`).
pub fn strip_logs(raw: &str) -> String {
    raw.trim_end_matches('\u{4}')
        .split("\r\n")
        .filter(|line| !(line.len() > 3 && line.starts_with('[') && line.as_bytes()[2] == b']'))
        .collect::<Vec<_>>()
        .join("\r\n")
        .trim_end_matches(['\r', '\n'])
        .to_owned()
}
