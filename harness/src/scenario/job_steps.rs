//! The step types of AWS IoT Jobs, on the embedded broker's Jobs service: `job` (CreateJob
//! for a board's thing) and `expect_job` (the board's execution of it reaches a status, as
//! DescribeJobExecution says). Field docs become the descriptions in the generated JSON
//! Schema; running them is `runner::jobs`'.

use super::{BoardName, Span};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `job`: creates a job (CreateJob, a SNAPSHOT job) whose one target is the board's thing,
/// with a job document; the Jobs service queues its execution and publishes `notify` and
/// `notify-next` to the thing. Embedded broker only.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobStep {
    /// Board (its thing is the job's target).
    pub board: BoardName,
    /// Job id: 1 to 64 letters, digits, `_` and `-`, new to the broker.
    pub id: Span<String>,
    /// The job document, sent compact, e.g. `{ operation = "set_telemetry_period",
    /// period_ms = 5000 }`.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub document: toml::Table,
}

/// `expect_job`: the board's execution of job `id` reaches `status` by `within`, as
/// DescribeJobExecution reports it. It fails at once when the execution reaches another
/// terminal status. A pass leaves a timeline note with the execution's version, status
/// details and history (queued, started by `start-next`, each update the board sent and
/// its answer). Embedded broker only.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectJobStep {
    /// Board (its thing runs the execution).
    pub board: BoardName,
    /// Job id.
    pub id: Span<String>,
    /// `QUEUED`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `REJECTED`, `TIMED_OUT`, `REMOVED` or
    /// `CANCELED`.
    pub status: Span<String>,
    /// Deadline, from the step's start (board time).
    pub within: Span<String>,
}
