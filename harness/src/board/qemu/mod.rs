//! The QEMU backend: a Cortex-M firmware image (an ELF) run by `qemu-system-arm` as a
//! board, driven the way a lab board is.
//!
//! - `flash` checks the ELF ([`check_elf`]: ELF32, ARM, little-endian, an entry point,
//!   loadable segments inside the [`Machine`]'s memory) and (re)starts QEMU with it
//!   (`process`): halted, in the board's private state dir (its flash and secure element
//!   as files, through semihosting), with its own QMP socket there.
//! - The console is QEMU's serial PTY (from QMP `query-chardev`), opened by the same
//!   [`crate::console::Console`] as every board's; the guest runs only once it is open.
//! - LEDs are read from their register through QMP (`xp`, [`QmpReader`]) by the path every
//!   register board shares ([`crate::board::register_leds`]).
//! - `reset` is QMP `system_reset`; `power_cycle` quits QEMU and starts it again on the
//!   same state dir; `erase` deletes the flash file (`nvm.json`), keeping the device key;
//!   Wi-Fi down/up is QMP `set_link` on the user-network NIC ([`NETDEV`]). The board
//!   resolves the rig's endpoint with the `hosts` file in its state dir, which maps it to
//!   QEMU's user-network host address ([`HOST_ADDRESS`]).
//! - QEMU is killed when the board is dropped, in a panic too, and when the harness dies.
//!
//! The QMP client is `qmp`; [`QemuBoard`] (in `board`) puts the pieces together.

mod board;
mod elf;
mod process;
pub mod qmp;

pub use board::{HOST_ADDRESS, NETDEV, QemuBoard, QemuOptions, QmpReader, default_firmware};
pub use elf::{MACHINES, MPS2_AN385, Machine, check_elf, machine};
pub use process::{QemuCommand, QemuProcess};
