//! `hil run`: runs scenario files on a rig, several at once, and reports.
//!
//! A run goes in four steps: select the scenarios (`select`: files, tags, the `--partition`
//! slice; everything is loaded and checked first, so invalid input exits 2 before anything
//! starts), decide how many run at once (`--jobs`, at most one on a rig that
//! [`harness::schedule::one_at_a_time`] names), run them (`imp`: each scenario on its own
//! tokio task with its own broker, boards, ports, state directories and timeline, all
//! stopped on Ctrl-C), showing progress as they go (`live`), then print the summary and
//! write the JUnit file (`report`).

mod imp;
mod live;
mod report;
mod select;

pub use imp::{RunArgs, run};
// `hil qualify` runs its cases the same way and writes the same JUnit file.
pub(crate) use imp::{default_jobs, run_all};
pub(crate) use report::{JunitCase, summary, write_junit};
pub(crate) use select::select;
