//! The four status LEDs: bits 0-3 of the AN385's MCC LED register, SCC `CFG_REG1` at
//! `0x4002_F004`, active high.
//!
//! | bit | LED | meaning |
//! | --- | --- | --- |
//! | 0 | blue | Wi-Fi (the network link) |
//! | 1 | green | cloud connection |
//! | 2 | yellow | data |
//! | 3 | red | error |
//!
//! The order is the core's [`Led::ALL`]. Bits 4-7 (the other MCC LEDs) stay 0.
//!
//! Why not the FPGAIO `LED0` register at `0x4002_8000`: on the AN385 it drives the two
//! user LEDs only, and QEMU (7.2) keeps 2 bits of it (writing `0xf` reads back `0x3`).
//! The SCC register is the one ARM documents as "MCC LEDs: 0 = OFF 1 = ON", 8 bits, and
//! QEMU keeps what is written. `LED0` bits 0 and 1 mirror blue and green, so something
//! watching the user LEDs sees the network state.
//!
//! Which LED shows what, and when, is the core's decision ([`firmware_under_test::board`]).

use firmware_under_test::led::Led;

/// SCC `CFG_REG1`: the MCC LEDs, where the four LEDs are.
pub const LED_REGISTER: usize = 0x4002_f004;
/// FPGAIO `LED0`: the two user LEDs, mirroring blue and green.
pub const USER_LED_REGISTER: usize = 0x4002_8000;

/// The LED register's bit for `led`.
pub fn bit(led: Led) -> u32 {
    match led {
        Led::Blue => 1 << 0,
        Led::Green => 1 << 1,
        Led::Yellow => 1 << 2,
        Led::Red => 1 << 3,
    }
}

/// The LEDs, with the level last written.
#[derive(Debug)]
pub struct Leds {
    bits: u32,
}

impl Leds {
    /// All LEDs dark.
    pub fn init() -> Leds {
        let leds = Leds { bits: 0 };
        leds.write();
        leds
    }

    /// Lights or darkens `led`.
    pub fn set(&mut self, led: Led, on: bool) {
        if on {
            self.bits |= bit(led);
        } else {
            self.bits &= !bit(led);
        }
        self.write();
    }

    fn write(&self) {
        // SAFETY: both addresses are registers of the AN385's FPGA that only drive LEDs;
        // bits 4-31 of CFG_REG1 and 2-31 of LED0 are written as 0 (reserved or dark).
        unsafe {
            core::ptr::write_volatile(LED_REGISTER as *mut u32, self.bits);
            core::ptr::write_volatile(USER_LED_REGISTER as *mut u32, self.bits & 0b11);
        }
    }
}
