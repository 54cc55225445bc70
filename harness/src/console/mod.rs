//! A board's serial console, for real boards (USB CDC) and emulated ones (a PTY) alike.
//!
//! [`Console`] opens the port with `serialport` and reads it on a thread, which splits the
//! output into lines (CR LF) for the [`Timeline`] and the transcript, and hands the raw
//! bytes to the async side. There, [`Console::command`] sends a line and returns the reply
//! up to the EOT (0x04) that ends every reply, without the board's log lines (`[I] ...`);
//! [`Console::expect`] waits for a regular expression. A port that disappears (a USB
//! device re-enumerating around a reset) is reopened for up to [`REOPEN_WINDOW`].
//!
//! The async side is in `imp`, the reader thread in `reader`.

mod imp;
mod reader;
#[cfg(test)]
mod tests;

pub use imp::{Console, EOT, REOPEN_WINDOW, strip_logs};
