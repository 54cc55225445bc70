//! Optional RTT capture for probe-rs boards: the target's RTT up-channels, read through the
//! probe and put on the timeline as console lines of `<board> (rtt <n>)`.
//!
//! Firmware sets up its RTT control block at start-up, so attaching is retried for
//! [`ATTACH_WINDOW`] before giving up; the capture then polls every channel at the given
//! period until dropped. The session is shared with the LED poller and flashing, and
//! locked for each poll only.

use crate::timeline::{Timeline, What};
use probe_rs::Session;
use probe_rs::rtt::Rtt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long to look for the RTT control block after start.
pub const ATTACH_WINDOW: Duration = Duration::from_secs(5);

/// Attaches to the target's RTT control block.
pub fn attach(session: &Mutex<Session>) -> Result<Rtt, String> {
    let mut session = session
        .lock()
        .map_err(|_| "the probe session is poisoned".to_owned())?;
    let mut core = session.core(0).map_err(|e| format!("core 0: {e}"))?;
    Rtt::attach(&mut core).map_err(|e| format!("no RTT control block found: {e}"))
}

/// A running capture; stops when dropped.
pub struct RttCapture {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for RttCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RttCapture").finish_non_exhaustive()
    }
}

impl RttCapture {
    /// Attaches (retrying for [`ATTACH_WINDOW`]) and starts polling every `period`.
    pub fn start(
        board: &str,
        session: Arc<Mutex<Session>>,
        period: Duration,
        timeline: Arc<Timeline>,
    ) -> Result<Self, String> {
        let deadline = std::time::Instant::now() + ATTACH_WINDOW;
        let mut rtt = loop {
            match attach(&session) {
                Ok(rtt) => break rtt,
                Err(e) if std::time::Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let board = board.to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("rtt-{board}"))
            .spawn(move || {
                let mut partial: Vec<Vec<u8>> = Vec::new();
                let mut buf = [0u8; 1024];
                while !flag.load(Ordering::Relaxed) {
                    if let Ok(mut session) = session.lock()
                        && let Ok(mut core) = session.core(0)
                    {
                        for channel in rtt.up_channels().iter_mut() {
                            let n = channel.number();
                            if partial.len() <= n {
                                partial.resize(n + 1, Vec::new());
                            }
                            while let Ok(read) = channel.read(&mut core, &mut buf) {
                                if read == 0 {
                                    break;
                                }
                                partial[n].extend_from_slice(&buf[..read]);
                            }
                            while let Some(end) = partial[n].iter().position(|b| *b == b'\n') {
                                let line: Vec<u8> = partial[n].drain(..=end).collect();
                                timeline.record(What::Console {
                                    board: format!("{board} (rtt {n})"),
                                    line: String::from_utf8_lossy(&line).trim_end().to_owned(),
                                    sent: false,
                                });
                            }
                        }
                    }
                    std::thread::sleep(period);
                }
            })
            .map_err(|e| format!("cannot start the RTT thread: {e}"))?;
        Ok(RttCapture {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for RttCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_rs::probe::Probe;
    use probe_rs::probe::fake_probe::FakeProbe;

    #[test]
    fn a_target_without_an_rtt_block_is_a_clear_error() {
        let probe = Probe::from_specific_probe(Box::new(FakeProbe::with_mocked_core()));
        let session = Mutex::new(super::super::probe::attach(probe, "STM32F411RETx").unwrap());
        let error = attach(&session).unwrap_err();
        assert!(error.contains("no RTT control block found"), "{error}");
    }
}
