//! The console's output side: log lines with their level tag, replies ended by EOT, and
//! the bounded buffer the platform drains.

use super::Board;
use crate::console::EOT;
use core::fmt::Write;

/// Log level of errors (`[E]`).
pub(super) const LOG_ERROR: u8 = 1;
/// Log level of warnings (`[W]`).
pub(super) const LOG_WARN: u8 = 2;
/// Log level of information (`[I]`).
pub(super) const LOG_INFO: u8 = 3;

impl Board {
    pub(super) fn log(&mut self, level: u8, message: core::fmt::Arguments<'_>) {
        if level <= self.log_level {
            let tag = match level {
                LOG_ERROR => 'E',
                LOG_WARN => 'W',
                LOG_INFO => 'I',
                _ => 'D',
            };
            self.say(format_args!("[{tag}] {message}"));
        }
    }

    pub(super) fn ok(&mut self) {
        self.reply(format_args!("OK"));
    }

    pub(super) fn error(&mut self, message: core::fmt::Arguments<'_>) {
        self.reply(format_args!("ERROR: {message}"));
    }

    pub(super) fn reply(&mut self, message: core::fmt::Arguments<'_>) {
        self.say(message);
        self.end_reply();
    }

    pub(super) fn end_reply(&mut self) {
        self.write_console(&[EOT]);
    }

    /// Writes one console line, ended by CR LF.
    pub(super) fn say(&mut self, message: core::fmt::Arguments<'_>) {
        let mut writer = ConsoleWriter(self);
        let _ = writer.write_fmt(message);
        let _ = writer.write_str("\r\n");
    }

    pub(super) fn write_console(&mut self, bytes: &[u8]) {
        if self.console.extend_from_slice(bytes).is_err() {
            self.console_overflow = true;
        }
    }
}

struct ConsoleWriter<'a>(&'a mut Board);

impl Write for ConsoleWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write_console(s.as_bytes());
        Ok(())
    }
}
