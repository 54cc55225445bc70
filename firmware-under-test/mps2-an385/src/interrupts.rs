//! The AN385's external interrupt vector table, which a device crate (PAC) would
//! otherwise provide to cortex-m-rt, and the interrupt numbers the firmware enables.
//!
//! Numbers are those of ARM AN385 (and QEMU's `mps2-an385`): UART0 receive is 0, transmit
//! 1, Ethernet (LAN9118) 13. Only UART0 receive has a handler ([`crate::uart`]);
//! `device.x` points the others at cortex-m-rt's `DefaultHandler`. Ethernet is named for
//! completeness: [`crate::lan9118`] is polled, not interrupt-driven.

use cortex_m::interrupt::InterruptNumber;

/// External interrupts the firmware uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Interrupt {
    /// UART0 receive.
    Uart0Rx = 0,
}

// SAFETY: the numbers are the AN385's, below its 32 external interrupts.
unsafe impl InterruptNumber for Interrupt {
    fn number(self) -> u16 {
        self as u16
    }
}

/// How many external interrupts the table has.
const VECTORS: usize = 32;

/// One vector table entry.
pub type Vector = unsafe extern "C" fn();

unsafe extern "C" {
    fn UART0RX();
    fn UART0TX();
    fn ETHERNET();
    fn DefaultHandler();
}

/// The external interrupt vectors, placed after the core's exceptions by cortex-m-rt's
/// `link.x`.
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
#[used]
pub static __INTERRUPTS: [Vector; VECTORS] = {
    let mut table: [Vector; VECTORS] = [DefaultHandler; VECTORS];
    table[0] = UART0RX;
    table[1] = UART0TX;
    table[13] = ETHERNET;
    table
};
