//! The serial console: CMSDK APB UART0 at `0x4000_4000`, 115200 baud, 8N1.
//!
//! Receive is interrupt-driven: the UART0 RX handler moves each byte into a 1 KiB queue
//! that the main loop drains ([`Uart::read`]). The UART holds one byte; QEMU hands it the
//! next only once that one was read, so the host's pseudo-terminal buffers the rest and no
//! byte is lost however fast the host types. When the queue is full the handler stops
//! reading, leaving the byte in the UART, until the main loop has made room and runs it
//! again: the back-pressure reaches the host instead of dropping bytes.
//!
//! Transmit is polled: [`Uart::write`] waits for room in the transmit register. Like a
//! UART nobody reads, output that cannot leave for [`STALL`] is dropped instead of
//! hanging the firmware (QEMU stalls the UART when the host holds the pseudo-terminal
//! open without reading it; with the port closed, QEMU drops the bytes itself).
//!
//! What is printed — the console contract's text, CR LF and EOT — is the core's
//! ([`firmware_under_test::console`]); this module only moves bytes.

use crate::clock;
use crate::interrupts::Interrupt;
use core::cell::RefCell;
use critical_section::Mutex;
use firmware_under_test::time::Duration;

const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
const INTCLEAR: usize = BASE + 0x0c;
const BAUDDIV: usize = BASE + 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_ENABLE: u32 = 1 << 0;
const CTRL_RX_ENABLE: u32 = 1 << 1;
const CTRL_RX_INTERRUPT: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// Console speed (QEMU does not pace the bytes; a real AN385 would).
const BAUD: u32 = 115_200;
/// How long the transmitter may make no progress before output is dropped.
pub const STALL: Duration = Duration::from_millis(200);
/// Bytes received and not yet read by the main loop.
const RX_CAPACITY: usize = 1024;

static RX: Mutex<RefCell<heapless::Deque<u8, RX_CAPACITY>>> =
    Mutex::new(RefCell::new(heapless::Deque::new()));

fn read_reg(address: usize) -> u32 {
    // SAFETY: `address` is one of UART0's registers, always mapped on the AN385.
    unsafe { core::ptr::read_volatile(address as *const u32) }
}

fn write_reg(address: usize, value: u32) {
    // SAFETY: as in `read_reg`; writing these registers has no effect beyond the UART.
    unsafe { core::ptr::write_volatile(address as *mut u32, value) }
}

/// UART0, set up as the console.
#[derive(Debug)]
pub struct Uart {
    _private: (),
}

impl Uart {
    /// Sets the baud rate, enables transmit and receive and the receive interrupt.
    pub fn init() -> Uart {
        write_reg(BAUDDIV, clock::CORE_HZ / BAUD);
        write_reg(INTCLEAR, 0xf);
        write_reg(CTRL, CTRL_TX_ENABLE | CTRL_RX_ENABLE | CTRL_RX_INTERRUPT);
        // SAFETY: the handler below only touches RX, behind a critical section.
        unsafe { cortex_m::peripheral::NVIC::unmask(Interrupt::Uart0Rx) };
        Uart { _private: () }
    }

    /// Moves received bytes into `buf`; returns how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = critical_section::with(|cs| {
            let mut rx = RX.borrow_ref_mut(cs);
            let mut n = 0;
            while n < buf.len() {
                let Some(byte) = rx.pop_front() else { break };
                buf[n] = byte;
                n += 1;
            }
            n
        });
        if n > 0 {
            // Room again: run the handler for a byte it may have left in the UART.
            cortex_m::peripheral::NVIC::pend(Interrupt::Uart0Rx);
        }
        n
    }

    /// Is a received byte waiting? Called with interrupts masked by the main loop's sleep.
    pub fn has_input(&self) -> bool {
        critical_section::with(|cs| !RX.borrow_ref(cs).is_empty())
    }

    /// Sends `bytes`, dropping the rest when the transmitter stalls for [`STALL`].
    pub fn write(&mut self, bytes: &[u8]) {
        let mut last_progress = clock::now();
        for &byte in bytes {
            while read_reg(STATE) & STATE_TX_FULL != 0 {
                if clock::now() - last_progress >= STALL {
                    return;
                }
            }
            write_reg(DATA, u32::from(byte));
            last_progress = clock::now();
        }
    }

    /// Waits until the last byte has left the transmit register (before a reset).
    pub fn flush(&mut self) {
        let start = clock::now();
        while read_reg(STATE) & STATE_TX_FULL != 0 && clock::now() - start < STALL {}
    }
}

/// UART0 receive: moves bytes from the UART into [`RX`] while there is room.
#[unsafe(no_mangle)]
extern "C" fn UART0RX() {
    critical_section::with(|cs| {
        let mut rx = RX.borrow_ref_mut(cs);
        loop {
            write_reg(INTCLEAR, INT_RX);
            if read_reg(STATE) & STATE_RX_FULL == 0 {
                return;
            }
            if rx.is_full() {
                // Leave the byte in the UART (QEMU then holds the host's bytes back);
                // `Uart::read` runs this handler again once it has made room.
                return;
            }
            // Reading DATA empties the UART; QEMU may deliver the next byte at once.
            let _ = rx.push_back(read_reg(DATA) as u8);
        }
    });
}
