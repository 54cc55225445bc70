//! Reference firmware for the HIL harness.
//!
//! The library is `#![no_std]` and allocation-free: it is the application logic of the
//! board described in `shared/DESIGN.md` ("The board the harness expects"), written as
//! state machines that never touch hardware, sockets or clocks. [`Board`] takes inputs
//! (console bytes, Wi-Fi and transport news, MQTT packets, time) and returns actions (LED
//! levels, connection requests, MQTT packets, console output); the platform edge does the
//! I/O. The `emulated-board` binary (feature `emulated`, on by default) is such an edge for
//! the host; `EMULATED_BOARD.md` documents it.
//!
//! ```
//! use firmware_under_test::board::{Board, Config, Input};
//! use firmware_under_test::credentials::Credentials;
//! # use firmware_under_test::hardware::{Hardware, CertificateError, CryptoFailure};
//! # use firmware_under_test::credentials::ThingName;
//! # use firmware_under_test::telemetry::SensorReading;
//! # struct Hw;
//! # impl Hardware for Hw {
//! #     fn sensors(&mut self) -> SensorReading { SensorReading { light: 1, centi_celsius: 2 } }
//! #     fn device_serial(&self) -> &str { "0123" }
//! #     fn key_id(&self) -> ThingName { ThingName::try_from("ab").unwrap() }
//! #     fn write_csr(&mut self, _: &mut dyn core::fmt::Write) -> Result<(), CryptoFailure> { Ok(()) }
//! #     fn check_device_certificate(&mut self, _: &str) -> Result<ThingName, CertificateError> { Err(CertificateError::NotPem) }
//! #     fn check_ca_certificate(&mut self, _: &str) -> Result<(), CertificateError> { Ok(()) }
//! # }
//! use firmware_under_test::time::Instant;
//!
//! let mut board = Board::new(Config::default(), Credentials::default());
//! let actions = board.handle(Instant::ZERO, Input::Boot, &mut Hw);
//! // Without credentials the red LED lights and the console says what is missing.
//! assert!(actions.iter().any(|a| matches!(a,
//!     firmware_under_test::board::Action::SetLed { led: firmware_under_test::led::Led::Red, on: true })));
//! let text = board.take_console();
//! assert!(core::str::from_utf8(&text).unwrap().contains("missing credentials"));
//! ```
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "stored")]
extern crate alloc;

pub mod backoff;
pub mod board;
pub mod console;
pub mod credentials;
pub mod flaws;
pub mod hardware;
pub mod json;
pub mod led;
#[cfg(feature = "stored")]
pub mod stored;
pub mod telemetry;
pub mod time;

pub use board::{Action, Board, Config, Input};

/// The firmware version that the `version` console command reports.
pub const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
