//! The HIL reference firmware as a Cortex-M3 image for QEMU's `mps2-an385` machine.
//!
//! The application is the unchanged `no_std` core of `firmware-under-test`
//! ([`firmware_under_test::Board`]); this crate is only the board glue, one module per
//! piece of hardware:
//!
//! | module | owns |
//! | --- | --- |
//! | [`firmware`] | the main loop: inputs to the core, its actions carried out, sleep |
//! | [`uart`] | UART0, the serial console (CMSDK UART at `0x4000_4000`) |
//! | [`leds`] | the four LEDs (SCC `CFG_REG1` at `0x4002_F004`, bits 0-3) |
//! | [`clock`] | firmware time (the FPGAIO counter, in ms; SysTick only wakes the core) and sleeping until a deadline |
//! | [`secure_element`] | the device key (only module that sees it), serial, CSR, certificate checks |
//! | [`entropy`] | the seed for the device key (the host's `/dev/urandom`) |
//! | [`nvm`] | the provisioned credentials (`nvm.json`) |
//! | [`host`] | semihosting: host files, clocks, diagnostics |
//! | [`hardware`] | the core's `Hardware` trait over the secure element and sensors |
//! | [`sensors`] | the light and temperature waveform |
//! | [`net`] | the network as the core sees it: link + DHCP as "Wi-Fi", TLS transport, MQTT packets |
//! | [`lan9118`] | the Ethernet controller (LAN9118 at `0x4020_0000`) as smoltcp's device |
//! | [`stack`] | smoltcp's interface and sockets (DHCP, DNS, TCP) |
//! | [`hosts`] | the state dir's `hosts` file (endpoint name to address) |
//! | [`tls`] | TLS 1.3 (`embedded-tls`) with the device certificate |
//! | [`mqtt`] | MQTT 3.1.1 framing (`mqttrs`) for the core's packets |
//! | [`interrupts`] | the external interrupt vector table |
//! | [`heap`] | the allocator |
//!
//! Run it with semihosting on and QEMU's working directory at the board's state dir:
//!
//! ```text
//! cd STATE_DIR && qemu-system-arm -M mps2-an385 -nographic \
//!     -semihosting-config enable=on,target=native -kernel fut-mps2-an385
//! ```
#![no_std]
#![no_main]
#![warn(missing_docs)]

extern crate alloc;

mod clock;
mod entropy;
mod firmware;
mod hardware;
mod heap;
mod host;
mod hosts;
mod interrupts;
mod lan9118;
mod leds;
mod mqtt;
mod net;
mod nvm;
mod secure_element;
mod sensors;
mod stack;
mod tls;
mod uart;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    heap::init();
    let Some(core) = cortex_m::Peripherals::take() else {
        // Taken only here, once.
        loop {
            cortex_m::asm::wfi();
        }
    };
    firmware::run(core)
}

/// A bug: says so on the host's standard error and stops (a real board's watchdog would
/// reset it; stopping keeps the evidence).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    host::diagnostic(format_args!("panic: {info}"));
    loop {
        cortex_m::asm::wfi();
    }
}
