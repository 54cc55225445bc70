//! `hil fleet`: many boards at once against the rig's broker, measured.
//!
//! The library's [`harness::fleet::Fleet`] does the work in stages (start, provision,
//! run); this command parses the arguments (`imp`), shows the stages and counts with
//! indicatif progress bars while they go (`imp`), prints the report's summary and writes
//! it as `fleet.json` under the output directory.

mod imp;

pub use imp::{FleetArgs, fleet};
