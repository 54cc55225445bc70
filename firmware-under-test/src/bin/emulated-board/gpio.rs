//! Emulated GPIO: the four LEDs as bits of the PORT A output register, active-low as on
//! Microchip's SAM-IoT WG (blue 21, green 20, yellow 11, red 25 at 0x41004410), and a
//! broadcast of every edge with its timestamps.

use firmware_under_test::led::Led;
use firmware_under_test::time::Instant;
use serde::Serialize;
use tokio::sync::broadcast;

/// Address of the PORT group A OUT register.
pub const PORT_A_OUT: u32 = 0x4100_4410;

/// The register bit that drives `led` (low = lit).
pub fn bit(led: Led) -> u32 {
    match led {
        Led::Blue => 21,
        Led::Green => 20,
        Led::Yellow => 11,
        Led::Red => 25,
    }
}

/// One LED edge, as streamed on the control channel.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// Always `"edge"`.
    pub event: &'static str,
    /// LED name.
    pub led: &'static str,
    /// Lit after the edge.
    pub on: bool,
    /// Firmware time of the edge, in milliseconds since boot of the process.
    pub t_ms: u64,
    /// Host monotonic time of the edge, in microseconds since the process started.
    pub host_us: u64,
    /// The output register after the edge.
    pub register: u32,
}

/// The output register and the edge broadcast.
pub struct Gpio {
    register: u32,
    edges: broadcast::Sender<Edge>,
    started: std::time::Instant,
}

impl Gpio {
    /// All LEDs dark (their bits high).
    pub fn new() -> Self {
        let (edges, _) = broadcast::channel(4096);
        Gpio {
            register: Self::all_off(),
            edges,
            started: std::time::Instant::now(),
        }
    }

    fn all_off() -> u32 {
        Led::ALL.iter().fold(0, |reg, led| reg | (1 << bit(*led)))
    }

    /// Drives `led` at firmware time `now`; an edge is broadcast when the level changes.
    pub fn set(&mut self, led: Led, on: bool, now: Instant) {
        let mask = 1u32 << bit(led);
        let register = if on {
            self.register & !mask
        } else {
            self.register | mask
        };
        if register == self.register {
            return;
        }
        self.register = register;
        let _ = self.edges.send(Edge {
            event: "edge",
            led: led.name(),
            on,
            t_ms: now.millis(),
            host_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            register,
        });
    }

    /// Turns every LED off (power off).
    pub fn all_dark(&mut self, now: Instant) {
        for led in Led::ALL {
            self.set(led, false, now);
        }
    }

    /// Is `led` lit?
    pub fn is_on(&self, led: Led) -> bool {
        self.register & (1 << bit(led)) == 0
    }

    /// Reads a register; only PORT A OUT exists.
    pub fn read(&self, address: u32) -> Option<u32> {
        (address == PORT_A_OUT).then_some(self.register)
    }

    /// The whole output register.
    pub fn register(&self) -> u32 {
        self.register
    }

    /// The sender of edges, for subscribers that come later.
    pub fn edge_sender(&self) -> broadcast::Sender<Edge> {
        self.edges.clone()
    }
}
