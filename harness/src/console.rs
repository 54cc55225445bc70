//! A board's serial console, for real boards (USB CDC) and emulated ones (a PTY) alike.
//!
//! [`Console`] opens the port with `serialport` and reads it on a thread, which splits the
//! output into lines (CR LF) for the [`Timeline`] and the transcript, and hands the raw
//! bytes to the async side. There, [`Console::command`] sends a line and returns the reply
//! up to the EOT (0x04) that ends every reply, without the board's log lines (`[I] ...`);
//! [`Console::expect`] waits for a regular expression. A port that disappears (a USB
//! device re-enumerating around a reset) is reopened for up to [`REOPEN_WINDOW`].
//! [`Console::release`] lets go of the port for another program (a provisioning hook that
//! talks to the board itself) until [`Console::reclaim`].

use crate::errors::ConsoleError;
use crate::timeline::{Timeline, What};
use serialport::TTYPort;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// End of a reply.
pub const EOT: u8 = 0x04;
/// How long a vanished port is retried before the console gives up.
pub const REOPEN_WINDOW: Duration = Duration::from_secs(10);
/// How long [`Console::release`] waits for the reader to let go of the port.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

type SharedPort = Arc<Mutex<Option<TTYPort>>>;

fn open_port(path: &str, baud: u32) -> Result<TTYPort, serialport::Error> {
    serialport::new(path, baud)
        .timeout(Duration::from_millis(100))
        .open_native()
}

/// A console; see the module documentation.
pub struct Console {
    board: String,
    path: String,
    baud: u32,
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

/// Reader thread: bytes to the async side, lines to the timeline, reopen on loss.
fn read_loop(
    board: String,
    path: String,
    baud: u32,
    port: SharedPort,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    timeline: Arc<Timeline>,
    stop: Arc<AtomicBool>,
) {
    let mut reader = match port
        .lock()
        .ok()
        .and_then(|p| p.as_ref().and_then(|p| p.try_clone_native().ok()))
    {
        Some(reader) => reader,
        None => return,
    };
    let mut line = Vec::new();
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        match reader.read(&mut buf) {
            Ok(n) if n > 0 => {
                for &b in &buf[..n] {
                    match b {
                        b'\n' => {
                            let text = String::from_utf8_lossy(&line)
                                .trim_end_matches('\r')
                                .to_owned();
                            timeline.record(What::Console {
                                board: board.clone(),
                                line: text,
                                sent: false,
                            });
                            line.clear();
                        }
                        EOT => {}
                        _ => line.push(b),
                    }
                }
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            _ => {
                // The port went away: retry opening it for a while.
                let deadline = std::time::Instant::now() + REOPEN_WINDOW;
                let reopened = loop {
                    if stop.load(Ordering::Relaxed) || std::time::Instant::now() > deadline {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    if let Ok(fresh) = open_port(&path, baud)
                        && let Ok(clone) = fresh.try_clone_native()
                    {
                        if let Ok(mut shared) = port.lock() {
                            *shared = Some(fresh);
                        }
                        break Some(clone);
                    }
                };
                match reopened {
                    Some(fresh) => {
                        timeline.record(What::Action {
                            text: format!("{board}: console {path} reopened"),
                        });
                        reader = fresh;
                    }
                    None => return,
                }
            }
        }
    }
}

/// Starts the reader thread of `port`; returns its stop flag and its bytes.
fn spawn_reader(
    board: &str,
    path: &str,
    baud: u32,
    port: &SharedPort,
    timeline: &Arc<Timeline>,
) -> Result<(Arc<AtomicBool>, mpsc::UnboundedReceiver<Vec<u8>>), ConsoleError> {
    let (tx, bytes) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let (board, path, port, timeline, thread_stop) = (
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
        .spawn(move || read_loop(board, path, baud, port, tx, timeline, thread_stop))
        .map_err(|source| ConsoleError::Write {
            port: port_name,
            source,
        })?;
    Ok((stop, bytes))
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
        let (stop, bytes) = spawn_reader(board, path, baud, &port, &timeline)?;
        Ok(Console {
            board: board.to_owned(),
            path: path.to_owned(),
            baud,
            port,
            bytes,
            pending: Vec::new(),
            timeline,
            stop,
        })
    }

    /// Lets go of the port, so another program can open it (a provisioning tool that
    /// talks to the board itself): the reader stops and the port is closed, which also
    /// lifts the exclusive lock. What the board prints meanwhile is not seen. Until
    /// [`Console::reclaim`], commands fail with [`ConsoleError::Closed`].
    pub async fn release(&mut self) -> Result<(), ConsoleError> {
        self.stop.store(true, Ordering::Relaxed);
        let port = self
            .port
            .lock()
            .map_err(|_| ConsoleError::Closed {
                port: self.path.clone(),
            })?
            .take();
        drop(port);
        // The reader notices within its read timeout; returning, it closes its copy of the
        // port, then its end of the channel.
        let drained = async { while self.bytes.recv().await.is_some() {} };
        tokio::time::timeout(RELEASE_TIMEOUT, drained)
            .await
            .map_err(|_| ConsoleError::Timeout {
                what: "the console's reader letting go of the port".into(),
                port: self.path.clone(),
                timeout: RELEASE_TIMEOUT,
                tail: String::new(),
            })?;
        self.pending.clear();
        self.timeline.record(What::Action {
            text: format!("{}: console {} released", self.board, self.path),
        });
        Ok(())
    }

    /// Opens the port again after [`Console::release`].
    pub fn reclaim(&mut self) -> Result<(), ConsoleError> {
        let port = open_port(&self.path, self.baud).map_err(|source| ConsoleError::Open {
            port: self.path.clone(),
            source,
        })?;
        let port: SharedPort = Arc::new(Mutex::new(Some(port)));
        let (stop, bytes) =
            spawn_reader(&self.board, &self.path, self.baud, &port, &self.timeline)?;
        (self.port, self.stop, self.bytes) = (port, stop, bytes);
        self.pending.clear();
        self.timeline.record(What::Action {
            text: format!("{}: console {} reclaimed", self.board, self.path),
        });
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serialport::SerialPort;

    #[test]
    fn replies_lose_their_eot_and_log_lines() {
        assert_eq!(strip_logs("OK\r\n\u{4}"), "OK");
        assert_eq!(strip_logs("[I] wifi: joined\r\nabc\r\n\u{4}"), "abc");
        assert_eq!(strip_logs("\u{4}"), "");
        assert_eq!(strip_logs("a\r\nb\r\n\u{4}"), "a\r\nb");
        assert_eq!(strip_logs("[not a log line\r\n\u{4}"), "[not a log line");
    }

    /// A PTY pair stands in for a board: the test writes the board's side.
    #[tokio::test]
    async fn commands_get_eot_framed_replies_and_lines_reach_the_timeline() {
        let (mut board, harness_side) = TTYPort::pair().unwrap();
        let path = harness_side.name().unwrap();
        drop(harness_side);
        let timeline = Timeline::new();
        let mut console = Console::open("dut", &path, 115_200, timeline.clone()).unwrap();
        console.send("thing").unwrap();
        let mut got = [0u8; 7];
        board.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"thing\r\n");
        board
            .write_all(b"[I] mqtt: connected\r\nabc123\r\n\x04")
            .unwrap();
        assert_eq!(
            console.reply(Duration::from_secs(5)).await.unwrap(),
            "abc123"
        );
        board
            .write_all(b"HIL reference firmware 0.1.0\r\n\x04")
            .unwrap();
        let found = console
            .expect(r"firmware (\d+\.\d+)", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(found, "firmware 0.1");
        let lines: Vec<String> = timeline
            .entries()
            .into_iter()
            .filter_map(|e| match e.what {
                What::Console { line, sent, .. } => {
                    Some(format!("{}{line}", if sent { ">" } else { "<" }))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            lines[..3],
            [
                ">thing".to_owned(),
                "<[I] mqtt: connected".into(),
                "<abc123".into()
            ]
        );
    }

    #[tokio::test]
    async fn a_silent_board_times_out_with_the_tail_of_its_output() {
        let (mut board, harness_side) = TTYPort::pair().unwrap();
        let path = harness_side.name().unwrap();
        drop(harness_side);
        let mut console = Console::open("dut", &path, 115_200, Timeline::new()).unwrap();
        board.write_all(b"partial").unwrap();
        let error = console.reply(Duration::from_millis(300)).await.unwrap_err();
        assert!(
            matches!(&error, ConsoleError::Timeout { tail, .. } if tail == "partial"),
            "{error}"
        );
        assert!(matches!(
            console.expect("(", Duration::from_millis(10)).await,
            Err(ConsoleError::Regex { .. })
        ));
    }

    #[tokio::test]
    async fn a_released_port_can_be_opened_by_another_program_until_reclaimed() {
        let (mut board, harness_side) = TTYPort::pair().unwrap();
        let path = harness_side.name().unwrap();
        drop(harness_side);
        let timeline = Timeline::new();
        let mut console = Console::open("dut", &path, 115_200, timeline.clone()).unwrap();
        // Held: the port is locked against other openers.
        assert!(open_port(&path, 115_200).is_err());

        console.release().await.unwrap();
        assert!(matches!(
            console.send("thing"),
            Err(ConsoleError::Closed { .. })
        ));
        let mut tool = open_port(&path, 115_200).expect("a released port opens");
        tool.write_all(b"cert\r\n").unwrap();
        let mut got = [0u8; 6];
        board.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"cert\r\n");
        board.write_all(b"OK\r\n\x04").unwrap();
        let mut reply = [0u8; 5];
        tool.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"OK\r\n\x04");
        drop(tool);

        console.reclaim().unwrap();
        board.write_all(b"back\r\n\x04").unwrap();
        assert_eq!(console.reply(Duration::from_secs(5)).await.unwrap(), "back");
        let actions: Vec<String> = timeline
            .entries()
            .into_iter()
            .filter_map(|e| match e.what {
                What::Action { text } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(
            actions,
            [
                format!("dut: console {path} released"),
                format!("dut: console {path} reclaimed")
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_port_that_goes_away_and_comes_back_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ttyACM0");
        let (first, slave) = TTYPort::pair().unwrap();
        std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
        drop(slave);
        let timeline = Timeline::new();
        let mut console =
            Console::open("dut", link.to_str().unwrap(), 115_200, timeline.clone()).unwrap();
        let mut live = timeline.subscribe();
        // The "USB device" disappears (its terminal closes) and a new one appears under
        // the same name, as around a reset.
        drop(first);
        let (mut second, slave) = TTYPort::pair().unwrap();
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
        drop(slave);
        let reopened = async {
            loop {
                if let Ok(entry) = live.recv().await
                    && matches!(&entry.what, What::Action { text } if text.contains("reopened"))
                {
                    return;
                }
            }
        };
        tokio::time::timeout(REOPEN_WINDOW, reopened)
            .await
            .expect("the console reopens the port");
        second.write_all(b"back\r\n\x04").unwrap();
        assert_eq!(console.reply(Duration::from_secs(5)).await.unwrap(), "back");
    }
}
