//! A board's serial console, for real boards (USB CDC) and emulated ones (a PTY) alike.
//!
//! [`Console`] opens the port with `serialport` and reads it on a thread. The thread frames
//! the bytes ([`LineDecoder`]: CR LF, LF, bare CR; junk from a reset dropped; UTF-8 split
//! across reads decoded whole) into lines for the [`Timeline`](crate::timeline::Timeline)
//! and clean text for the async side. There, [`Console::command`] sends a line and returns
//! the reply up to the EOT (0x04) that ends every reply, without the board's log lines
//! (`[I] ...`); [`Console::expect`] waits for a regular expression.
//!
//! A port is named by a [`PortKey`]: a path, or the USB serial number of the device it
//! belongs to, looked up in sysfs (`locate`). A port that disappears (a USB device
//! re-enumerating around a reset, maybe under another name) is looked up and reopened by
//! its key for up to [`REOPEN_WINDOW`], and the gap goes on the timeline (`reader`).
//!
//! [`Console::release`] lets go of the port for another program (a provisioning hook that
//! talks to the board itself) until [`Console::reclaim`].
//!
//! The async side is in `imp`, the reader thread in `reader`, the framing in `lines`.

mod imp;
mod lines;
mod locate;
mod reader;
#[cfg(test)]
mod tests;

pub use imp::{Console, EOT, PortConfig, RELEASE_TIMEOUT, REOPEN_WINDOW, strip_logs};
pub use lines::{Decoded, LineDecoder};
pub use locate::{DeviceRoots, PortKey, UsbTty, find_usb_serial, usb_ttys};
pub use reader::REOPEN_RETRY;
