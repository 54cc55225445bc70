//! The probe-rs backend: a real board on a debug probe (probe-rs 0.32).
//!
//! - The probe is chosen by `VID:PID[:serial]` ([`choose_probe`], a pure function over the
//!   probe list): one match or an error that lists the candidates or the attached probes,
//!   never the first of several (`select`).
//! - The chip is attached by name; an unknown name gets an error listing close matches
//!   (`chip`).
//! - Flashing loads an ELF, writes it with verification, reports progress (an indicatif
//!   bar on a terminal), and resets the core. [`plan_flash`] runs the same path as a dry
//!   run, which works without hardware (`flash`).
//! - LEDs: the output registers named in the rig are read through the probe
//!   ([`SessionReader`]) every poll period (5 ms by default) by the path every register
//!   board shares ([`crate::board::register_leds`]): decoded ([`decode_leds`]) into
//!   levels, changes become edges on the timeline.
//! - The console is the board's USB serial port ([`crate::console::Console`], which
//!   reopens it by its key when the port re-enumerates around a reset); unless the rig
//!   names it, it is the tty of the probe's own USB device ([`console_key`]).
//! - With `rtt = true`, RTT up-channels are captured into the timeline ([`super::rtt`]).
//!
//! [`ProbeRsBoard`] (in `board`) puts these together behind the [`super::Board`] trait.
//! Power cycling needs rig hardware the rig file cannot describe yet, so it is refused.
//! What runs here without hardware is tested against probe-rs's `FakeProbe`; the rest has
//! not run on a board in this project's CI.

mod board;
mod chip;
mod flash;
mod registers;
mod select;
#[cfg(test)]
mod test_helpers;

pub use board::{ProbeRsBoard, ProbeRsOptions, console_key};
pub use chip::{attach, check_chip, close_matches};
pub use flash::{BarProgress, flash_elf, plan_flash, plan_flash_elf};
pub use registers::{LedPoller, SessionReader, decode_leds, read_led_registers};
pub use select::{choose_probe, describe_probe, select_probe, usb_serial};
