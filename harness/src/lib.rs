//! The HIL harness library: rigs, boards, brokers, the test PKI, provisioning and the
//! timeline that scenarios drive.
//!
//! Parts, each in its module:
//! - [`led`]: LED edge tracks and the classifier (off, on, blinking at a rate, irregular);
//! - [`clock`]: the rig's one clock (its speed), and board time to and from wall time;
//! - [`timeline`]: one clock for actions, console lines, LED edges and broker events;
//! - [`pki`]: the test PKI, shaped like Microchip's (root, signer, device certificates from
//!   CSRs, server and operator certificates);
//! - [`schedule`]: which scenarios a run takes (a `M/N` partition) and how many at once;
//! - [`fleet`]: many boards in one process against one broker, measured (`hil fleet`).
#![deny(missing_docs)]

pub mod board;
pub mod broker;
pub mod client;
pub mod clock;
pub mod console;
pub mod errors;
pub mod file_error;
pub mod fleet;
pub mod led;
pub mod pki;
pub mod provision;
pub mod rig;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod snapshot;
pub mod svg;
pub mod timeline;
