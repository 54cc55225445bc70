//! [`Console`]: opening a port, sending lines, and waiting for replies and patterns in what
//! the reader thread hands over.

use super::reader::{SharedPort, open_port, read_loop};
use crate::errors::ConsoleError;
use crate::timeline::{Timeline, What};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// End of a reply.
pub const EOT: u8 = 0x04;
/// How long a vanished port is retried before the console gives up.
pub const REOPEN_WINDOW: Duration = Duration::from_secs(10);

/// A console; see the module documentation.
pub struct Console {
    board: String,
    path: String,
    port: SharedPort,
    bytes: mpsc::UnboundedReceiver<Vec<u8>>,
    pending: Vec<u8>,
    timeline: Arc<Timeline>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("board", &self.board)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Console {
    /// Opens `path` at `baud` for `board`.
    pub fn open(
        board: &str,
        path: &str,
        baud: u32,
        timeline: Arc<Timeline>,
    ) -> Result<Console, ConsoleError> {
        let port = open_port(path, baud).map_err(|source| ConsoleError::Open {
            port: path.to_owned(),
            source,
        })?;
        let port: SharedPort = Arc::new(Mutex::new(Some(port)));
        let (tx, bytes) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (board, path, port, timeline, stop) = (
                board.to_owned(),
                path.to_owned(),
                port.clone(),
                timeline.clone(),
                stop.clone(),
            );
            let name = format!("console-{board}");
            let port_name = path.clone();
            std::thread::Builder::new()
                .name(name)
                .spawn(move || read_loop(board, path, baud, port, tx, timeline, stop))
                .map_err(|source| ConsoleError::Write {
                    port: port_name,
                    source,
                })?;
        }
        Ok(Console {
            board: board.to_owned(),
            path: path.to_owned(),
            port,
            bytes,
            pending: Vec::new(),
            timeline,
            stop,
        })
    }

    /// The port's path.
    pub fn path(&self) -> &str {
        &self.path
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
            port: self.path.clone(),
            source,
        };
        let mut guard = self.port.lock().map_err(|_| ConsoleError::Closed {
            port: self.path.clone(),
        })?;
        let port = guard.as_mut().ok_or_else(|| ConsoleError::Closed {
            port: self.path.clone(),
        })?;
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
                    return Err(ConsoleError::Closed {
                        port: self.path.clone(),
                    });
                }
                Err(_) => {
                    let tail = String::from_utf8_lossy(
                        &self.pending[self.pending.len().saturating_sub(300)..],
                    )
                    .into_owned();
                    return Err(ConsoleError::Timeout {
                        what: what.to_owned(),
                        port: self.path.clone(),
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
