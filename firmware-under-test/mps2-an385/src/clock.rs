//! Firmware time: the core's [`Instant`] (milliseconds since boot) from the FPGAIO
//! prescaled counter, and sleeping until a deadline or an interrupt.
//!
//! Time is read, not counted: the AN385's FPGAIO `COUNTER` (`0x4002_8018`) increments
//! every `PRESCALE + 1` cycles of the 25 MHz clock, so with `PRESCALE` = 24 999 it counts
//! milliseconds; [`now`] extends it to 64 bits. Counting SysTick interrupts instead drifts
//! under QEMU (1.5 % slow, measured: 9 851 ticks in 10.001 s of host time), because each
//! reload is rearmed late; QEMU computes `COUNTER` from its clock, so it keeps time.
//! SysTick still interrupts every millisecond, only to end WFI so deadlines are honoured
//! to the millisecond.
//!
//! [`sleep_until`] is the
//! main loop's only wait: with interrupts masked it checks that there is nothing to do
//! (no console byte waiting, the deadline not reached), then waits with WFI. A pending
//! interrupt (a tick, a UART byte) ends WFI even while masked, so nothing that arrives
//! between the check and the WFI is missed. Deadlines come from the core
//! ([`firmware_under_test::Board::poll_at`]); this module does not know what they are for.
//!
//! QEMU runs SysTick on the host's clock (no `-icount`), so firmware time follows real
//! time: the rig's speed is 1.

use core::cell::Cell;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use firmware_under_test::time::Instant;

/// The processor clock of the AN385 (and of QEMU's model of it).
pub const CORE_HZ: u32 = 25_000_000;
/// SysTick interrupts per second.
const TICK_HZ: u32 = 1_000;

/// FPGAIO `COUNTER`: increments when the prescale counter wraps.
const COUNTER: usize = 0x4002_8018;
/// FPGAIO `PRESCALE`: the prescale counter's reload value.
const PRESCALE: usize = 0x4002_801c;

/// The last counter value read, extended to 64 bits.
static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts the millisecond counter (from 0: firmware time starts at boot) and the tick.
pub fn start(mut syst: SYST) {
    // SAFETY: FPGAIO registers of the AN385, always mapped; they only hold counters.
    unsafe {
        core::ptr::write_volatile(PRESCALE as *mut u32, CORE_HZ / TICK_HZ - 1);
        core::ptr::write_volatile(COUNTER as *mut u32, 0);
    }
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Firmware time now.
pub fn now() -> Instant {
    critical_section::with(|cs| now_in(MILLIS.borrow(cs)))
}

/// Reads the counter and extends it past its 32-bit wrap (every 49.7 days; the board
/// reads it at least every millisecond).
fn now_in(millis: &Cell<u64>) -> Instant {
    // SAFETY: as in `start`; reading COUNTER has no side effect.
    let counter = unsafe { core::ptr::read_volatile(COUNTER as *const u32) };
    let last = millis.get();
    let mut now = (last & !0xffff_ffff) | u64::from(counter);
    if now < last {
        now += 1 << 32;
    }
    millis.set(now);
    Instant(now)
}

/// The SysTick current value register: sub-millisecond jitter for the entropy fallback.
pub fn sub_tick() -> u32 {
    SYST::get_current()
}

/// Sleeps until `deadline` (or forever without one) unless `ready()` says there is work;
/// returns early on any interrupt. The caller loops.
pub fn sleep_until(deadline: Option<Instant>, ready: impl Fn() -> bool) {
    critical_section::with(|cs| {
        let now = now_in(MILLIS.borrow(cs));
        if ready() || deadline.is_some_and(|at| now >= at) {
            return;
        }
        // A pending interrupt wakes the core although it is masked here; it is taken
        // when the critical section ends.
        cortex_m::asm::wfi();
    });
}

/// Only ends WFI: time comes from the counter.
#[exception]
fn SysTick() {}
