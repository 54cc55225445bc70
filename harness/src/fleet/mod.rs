//! Fleet mode (`hil fleet`): many boards, each the reference firmware's core with its own
//! key, CSR, certificate, TLS connection and thing, run by one `fleet-board` process
//! against the rig's embedded broker, and what the fleet did as distributions and counts.
//!
//! - [`Fleet`] (`imp`) runs it in stages: start (broker, process, CSRs), provision (sign,
//!   register, deliver), run (power-on, events, `/proc`), report;
//! - [`Accounting`] (`account`) is the sans-IO core: per-board records from the boards'
//!   events and the broker's observations, failures by cause, the [`Tally`];
//! - [`Distribution`] (`stats`): percentiles and histograms;
//! - [`StormAccount`] (`storm`): the reconnect storm's figures and its verdict on the
//!   spread of the boards' returns;
//! - [`ConnectionCurve`] (`curve`): the boards connected over time;
//! - [`FleetBroker`] (`endpoint`): the embedded broker, or an external endpoint (a
//!   [`Partition`] of a fleet run from several machines);
//! - `picture`: `fleet.html`, the run's charts ([`render_html`]);
//! - `options`: what a run is asked to do, and its progress;
//! - [`FleetReport`] (`report`): the figures as JSON and as a printed summary;
//! - `events`: decoding `fleet-board`'s lines and the broker's tap;
//! - `process`: the `fleet-board` process and `/proc` samples.
//!
//! The process's protocol is `firmware-under-test/EMULATED_BOARD.md` ("Fleet mode").
//! Durations in the options and the distributions are board time (the rig's clock);
//! stage and CPU times are wall time.

mod account;
mod curve;
mod endpoint;
mod events;
mod imp;
mod options;
mod picture;
mod process;
mod report;
mod stats;
mod storm;

pub use account::{Accounting, BoardRecord, Counts, Tally, group};
pub use curve::{ConnectionCurve, CurvePoint, MAX_POINTS};
pub use endpoint::FleetBroker;
pub use events::{BoardEvent, BoardEventKind, BrokerObservation, observe};
pub use imp::{Fleet, mode_name};
pub use options::{FleetBoard, FleetOptions, FleetProgress, Partition, Stage, StormOptions};
pub use picture::render as render_html;
pub use process::{PROGRAM, PROGRAM_ENV, ProcSample, cpu_time, status_kib};
pub use report::{FleetProcessFigures, FleetReport, ProcessFigures, WallTimes};
pub use stats::{Bucket, Distribution, MAX_BUCKETS, percentile};
pub use storm::{MIN_BOARDS, MIN_SPREAD, StormAccount, StormReport, StormVerdict};
