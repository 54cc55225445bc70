//! Reference firmware for the HIL harness.
//!
//! The library is `#![no_std]` and allocation-free: it is the application logic of the
//! board described in `shared/DESIGN.md` ("The board the harness expects"), written as
//! plain functions and state machines that never touch hardware, sockets or clocks.
//! The `emulated-board` binary (feature `emulated`, on by default) runs it on the host.
//!
//! What exists today:
//! - [`telemetry`]: the `{"Light":..,"Temp":..}` payload published on `<thing>/sensors`.
//!
//! ```
//! use firmware_under_test::telemetry::{SensorReading, payload};
//!
//! let json = payload(SensorReading { light: 412, centi_celsius: -705 }).unwrap();
//! assert_eq!(json.as_str(), r#"{"Light":412,"Temp":-7.05}"#);
//! ```
#![no_std]
#![deny(missing_docs)]

pub mod telemetry;

/// The firmware version that the `version` console command reports.
pub const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
