//! The console's reader thread: bytes to the async side, lines to the timeline, and
//! reopening a port that went away.

use super::{EOT, REOPEN_WINDOW};
use crate::timeline::{Timeline, What};
use serialport::TTYPort;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

pub(super) type SharedPort = Arc<Mutex<Option<TTYPort>>>;

pub(super) fn open_port(path: &str, baud: u32) -> Result<TTYPort, serialport::Error> {
    serialport::new(path, baud)
        .timeout(Duration::from_millis(100))
        .open_native()
}

/// Reader thread: bytes to the async side, lines to the timeline, reopen on loss.
pub(super) fn read_loop(
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
