//! Ctrl-C for `hil run`: the first SIGINT or SIGTERM cancels a token, which stops every
//! scenario under way cleanly (the runner drops the step, tears its rig down and reports
//! it interrupted) and starts no other, so the summary and the JUnit file are still
//! written; a second signal exits at once. Both exit with [`EXIT_INTERRUPTED`].
//!
//! SIGTERM exits with 130 too, not the shell's 143: for `hil` both mean "stopped from
//! outside before the end", and one code is simpler for CI scripts to test for.

use std::sync::{Arc, OnceLock};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT's number).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The stop token of a run, and the signal that cancelled it.
pub struct Interrupt {
    /// Cancelled by the first signal.
    pub token: CancellationToken,
    signal: Arc<OnceLock<&'static str>>,
}

impl Interrupt {
    /// `SIGINT` or `SIGTERM`, once one came.
    pub fn signal(&self) -> Option<&'static str> {
        self.signal.get().copied()
    }
}

/// Starts watching SIGINT and SIGTERM (from now on they no longer kill the process).
pub fn watch() -> std::io::Result<Interrupt> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let token = CancellationToken::new();
    let received = Arc::new(OnceLock::new());
    let (cancel, name) = (token.clone(), received.clone());
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        let _ = name.set(first);
        eprintln!(
            "\n{first}: stopping the running scenario(s) and tearing their rigs down (again to exit at once)"
        );
        cancel.cancel();
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        eprintln!("second signal: exiting at once");
        // No tear-down now: a terminal's Ctrl-C reached the whole process group (boards,
        // Mosquitto) already, and emulated boards also end when their parent does.
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    });
    Ok(Interrupt {
        token,
        signal: received,
    })
}
