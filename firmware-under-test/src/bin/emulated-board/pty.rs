//! The serial console: a pseudo-terminal in raw mode that the harness opens like a USB
//! serial port.
//!
//! The board keeps the master side. The slave side is closed right after creation, so the
//! harness can open it exclusively; its termios settings (raw) stay with the terminal.
//! While nobody has the slave open, reads of the master fail (EIO): the reader thread
//! notes that the console is detached, and output is dropped, as a USB CDC port drops
//! what the board prints while no host has it open. Output that cannot go out within a few
//! milliseconds is dropped too.

use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// The master side of the console.
pub struct Pty {
    master: TTYPort,
    path: String,
    attached: Arc<AtomicBool>,
}

impl Pty {
    /// Creates the terminal pair and starts a thread that forwards what the harness types.
    pub fn open() -> Result<(Pty, mpsc::UnboundedReceiver<Vec<u8>>), String> {
        let (mut master, slave) =
            TTYPort::pair().map_err(|e| format!("cannot create a pseudo-terminal: {e}"))?;
        let path = slave
            .name()
            .ok_or_else(|| "the pseudo-terminal has no name".to_owned())?;
        drop(slave);
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(|e| format!("cannot configure the pseudo-terminal: {e}"))?;
        let mut reader = master
            .try_clone_native()
            .map_err(|e| format!("cannot clone the pseudo-terminal: {e}"))?;
        reader
            .set_timeout(Duration::from_millis(100))
            .map_err(|e| format!("cannot configure the pseudo-terminal: {e}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let attached = Arc::new(AtomicBool::new(false));
        let seen = attached.clone();
        std::thread::Builder::new()
            .name("console-reader".into())
            .spawn(move || {
                let mut buf = [0u8; 512];
                loop {
                    match reader.read(&mut buf) {
                        Ok(n) if n > 0 => {
                            seen.store(true, Ordering::Relaxed);
                            if tx.send(buf[..n].to_vec()).is_err() {
                                return;
                            }
                        }
                        // The slave is open and quiet.
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                            seen.store(true, Ordering::Relaxed);
                            if tx.is_closed() {
                                return;
                            }
                        }
                        // EIO (or end of file): nobody has the slave open.
                        _ => {
                            seen.store(false, Ordering::Relaxed);
                            if tx.is_closed() {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the console thread: {e}"))?;
        Ok((
            Pty {
                master,
                path,
                attached,
            },
            rx,
        ))
    }

    /// The slave's path, e.g. `/dev/pts/7`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Sends console output; dropped while nobody has the console open, or when it
    /// cannot be written soon.
    pub fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || !self.attached.load(Ordering::Relaxed) {
            return;
        }
        let _ = self.master.write_all(bytes);
        let _ = self.master.flush();
    }
}
