//! `hil qualify`: AWS IoT Device Advisor's test cases, run locally on a rig.
//!
//! Each case is a scenario file in `scenarios/qualification/` (or the `--cases` directory)
//! tagged `qualification` and naming its Device Advisor case in `device_advisor`. A run
//! goes in three steps: pick the cases (`cases`: every one, or the one `--case` names by
//! its Device Advisor name; an unknown name exits 2 with the list and the nearest name),
//! run them with `hil run`'s runner and scheduling (`imp`, reusing `run_cmd`), then write
//! the reports: `markdown` (one section per case with its verdict, its purpose and the
//! evidence), `html` (the same as one self-contained page, with each case's timeline
//! picture inlined) and the JUnit file (`hil run --junit`'s). The verdicts (`verdict`) are
//! Pass, Pass with warnings (every step passed, one noted a warning on the timeline), Fail,
//! Skipped, Interrupted and Not run; a pass with warnings is a pass (exit 0).

mod cases;
mod html;
mod imp;
mod markdown;
mod verdict;

pub use imp::{QualifyArgs, qualify};
