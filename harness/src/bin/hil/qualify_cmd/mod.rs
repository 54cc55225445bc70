//! `hil qualify`: AWS IoT Device Advisor's test cases, run locally on a rig.
//!
//! Each case is a scenario file in `scenarios/qualification/` (or the `--cases` directory)
//! tagged `qualification` and naming its Device Advisor case in `device_advisor`. A run
//! goes in three steps: pick the cases (`cases`: every one, or the one `--case` names by
//! its Device Advisor name; an unknown name exits 2 with the list and the nearest name),
//! run them with `hil run`'s runner and scheduling (`imp`, reusing `run_cmd`), then write
//! the reports (`markdown`: one section per case with Pass/Fail, its purpose and the
//! failure evidence; the JUnit file is `hil run --junit`'s).

mod cases;
mod imp;
mod markdown;

pub use imp::{QualifyArgs, qualify};
