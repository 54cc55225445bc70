//! The main loop: the unchanged application core ([`Board`]) with this board's console,
//! LEDs, clock, flash, secure element and network around it.
//!
//! Each pass feeds the core what happened — console bytes, network events, a deadline
//! from [`Board::poll_at`] reached — at the firmware time it is fed, carries out the core's
//! [`Action`]s and writes its console output to the UART; then it sleeps (WFI) until the
//! next deadline or interrupt ([`clock::sleep_until`]). Events the network produces while
//! carrying out actions are queued and fed back in order, as on the emulated board.
//!
//! Actions are carried out before the reply is written, so a reply means done: once the
//! harness reads the `OK` of `cert` or `erase`, `nvm.json` holds the change and a reset
//! through QMP right after cannot lose it (it did, writing the reply first). The one
//! exception is `reset`: its reply is written and flushed, then the firmware requests a
//! system reset (SYSRESETREQ), so QEMU reloads the image and the board boots from saved
//! credentials, exactly as after QMP's `system_reset`.

use crate::clock;
use crate::hardware::BoardHardware;
use crate::host;
use crate::leds::Leds;
use crate::net::{NetEvent, Network};
use crate::nvm;
use crate::secure_element::{KeyOrigin, SecureElement};
use crate::uart::Uart;
use alloc::boxed::Box;
use firmware_under_test::board::{Action, Board, Config, Input};

/// Console bytes fed to the core at once.
const CONSOLE_CHUNK: usize = 64;

struct Firmware {
    board: Box<Board>,
    hardware: BoardHardware,
    uart: Uart,
    leds: Leds,
    network: Network,
}

/// Boots the board and runs it forever.
pub fn run(core: cortex_m::Peripherals) -> ! {
    clock::start(core.SYST);
    let leds = Leds::init();
    let mut uart = Uart::init();
    let secure_element = match SecureElement::open() {
        Ok((secure_element, origin)) => {
            match origin {
                KeyOrigin::Stored => {}
                KeyOrigin::Generated(crate::entropy::Source::HostUrandom) => host::diagnostic(
                    format_args!("generated the device key (seeded from the host's /dev/urandom)"),
                ),
                KeyOrigin::Generated(crate::entropy::Source::Fallback) => {
                    host::diagnostic(format_args!(
                        "generated the device key from host clocks and timer jitter: /dev/urandom was not readable, the key is weaker"
                    ))
                }
            }
            secure_element
        }
        Err(e) => halt(&mut uart, e),
    };
    let secure_element_serial: heapless::String<16> =
        heapless::String::try_from(secure_element.serial()).unwrap_or_default();
    let config = Config {
        seed: seed_from(secure_element.serial()),
        ..Config::default()
    };
    let mut firmware = Firmware {
        board: Box::new(Board::new(config, nvm::load())),
        hardware: BoardHardware::new(secure_element),
        uart,
        leds,
        network: Network::new(secure_element_serial.as_str()),
    };
    firmware.feed(Input::Boot);
    let mut buf = [0u8; CONSOLE_CHUNK];
    loop {
        firmware.network.poll();
        if let Some(event) = firmware.network.next_event() {
            firmware.feed_event(event);
            continue;
        }
        let n = firmware.uart.read(&mut buf);
        if n > 0 {
            firmware.feed(Input::Console(&buf[..n]));
        }
        let now = clock::now();
        let deadline = firmware.board.poll_at(now);
        if deadline.is_some_and(|at| now >= at) {
            firmware.feed(Input::Tick);
            continue;
        }
        let uart = &firmware.uart;
        clock::sleep_until(deadline, || uart.has_input());
    }
}

impl Firmware {
    /// Feeds one input, then whatever the network produced while its actions ran.
    fn feed(&mut self, input: Input<'_>) {
        self.feed_one(input);
        self.drain_network();
    }

    /// Feeds one network event, then whatever the network produced meanwhile.
    fn feed_event(&mut self, event: NetEvent) {
        if let Some(input) = event.input() {
            self.feed_one(input);
        }
        self.drain_network();
    }

    fn drain_network(&mut self) {
        while let Some(event) = self.network.next_event() {
            if let Some(input) = event.input() {
                self.feed_one(input);
            }
        }
    }

    fn feed_one(&mut self, input: Input<'_>) {
        let now = clock::now();
        self.hardware.set_time(now);
        let actions = self.board.handle(now, input, &mut self.hardware);
        let output = self.board.take_console();
        // Done before the reply leaves, so an `OK` means done (see the module doc).
        let mut reset = false;
        for action in actions {
            match action {
                Action::Reset => reset = true,
                action => self.apply(action),
            }
        }
        self.uart.write(&output);
        if reset {
            self.uart.flush();
            cortex_m::peripheral::SCB::sys_reset();
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::SetLed { led, on } => self.leds.set(led, on),
            Action::JoinWifi => self.network.join(),
            Action::OpenTransport => self
                .network
                .open_transport(self.board.credentials(), self.hardware.secure_element()),
            Action::LeaveWifi => self.network.leave(),
            Action::CloseTransport => self.network.close(),
            action @ (Action::MqttConnect { .. }
            | Action::MqttPublish { .. }
            | Action::MqttSubscribe { .. }
            | Action::MqttPubAck { .. }
            | Action::MqttPing) => self.network.send(&action),
            Action::SaveCredentials => {
                if let Err(e) = nvm::save(self.board.credentials()) {
                    host::diagnostic(format_args!("cannot save {}: {e}", nvm::NVM_FILE));
                }
            }
            // After the reply: `feed_one` does it.
            Action::Reset => {}
        }
    }
}

/// The reconnect jitter's seed, from the device serial (the emulated board's default), so
/// boards differ and a board is reproducible.
fn seed_from(serial: &str) -> u64 {
    serial.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The board cannot start: says why on the console and the host's standard error, lights
/// red, and stops.
fn halt(uart: &mut Uart, why: crate::secure_element::OpenError) -> ! {
    use core::fmt::Write;
    let mut line: heapless::String<160> = heapless::String::new();
    let _ = write!(line, "[E] secure element: {why}\r\n\u{4}");
    uart.write(line.as_bytes());
    host::diagnostic(format_args!("secure element: {why}"));
    let mut leds = Leds::init();
    leds.set(firmware_under_test::led::Led::Red, true);
    loop {
        cortex_m::asm::wfi();
    }
}
