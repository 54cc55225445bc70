//! The Jobs service's records: a [`Job`] (what the control plane created) and its
//! [`Execution`]s (one per target thing), with their statuses.
//!
//! Plain data, serialized as they are saved to `jobs.json`. Times are Unix milliseconds;
//! the MQTT API shows them in seconds and the admin API as fractional seconds (the
//! `timestamp` shape), which is the views' business (`views` and the admin API). Which
//! status may follow which is [`super::store`]'s and [`super::device`]'s.
//!
//! The statuses are botocore's enums (`JobExecutionStatus`, `JobStatus`, model
//! `iot/2015-05-28`); which are terminal is "Jobs and job execution states"
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html>).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A job execution's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ExecutionStatus {
    /// Waiting for the device.
    Queued,
    /// The device started it.
    InProgress,
    /// The device finished it (terminal).
    Succeeded,
    /// The device could not finish it (terminal).
    Failed,
    /// A timer expired (terminal; mock-broker has no timers, nothing sets it).
    TimedOut,
    /// The device refused it (terminal).
    Rejected,
    /// The thing stopped being a target (terminal; nothing sets it here).
    Removed,
    /// The job was canceled (terminal).
    Canceled,
}

impl ExecutionStatus {
    /// Every status, in botocore's enum order.
    pub const ALL: [ExecutionStatus; 8] = [
        ExecutionStatus::Queued,
        ExecutionStatus::InProgress,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Rejected,
        ExecutionStatus::Removed,
        ExecutionStatus::Canceled,
    ];

    /// AWS's name: `QUEUED`, `IN_PROGRESS`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "QUEUED",
            ExecutionStatus::InProgress => "IN_PROGRESS",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Rejected => "REJECTED",
            ExecutionStatus::Removed => "REMOVED",
            ExecutionStatus::Canceled => "CANCELED",
        }
    }

    /// The status named `text` (AWS's name, exactly), if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether nothing may change it any more: anything but QUEUED and IN_PROGRESS.
    pub fn is_terminal(self) -> bool {
        !self.is_pending()
    }

    /// Whether it is on the thing's list of pending executions: QUEUED or IN_PROGRESS.
    pub fn is_pending(self) -> bool {
        matches!(self, ExecutionStatus::Queued | ExecutionStatus::InProgress)
    }

    /// Whether a device may report it with UpdateJobExecution: IN_PROGRESS, SUCCEEDED,
    /// FAILED or REJECTED ("Jobs device MQTT API", UpdateJobExecution `status`).
    pub fn device_may_set(self) -> bool {
        matches!(
            self,
            ExecutionStatus::InProgress
                | ExecutionStatus::Succeeded
                | ExecutionStatus::Failed
                | ExecutionStatus::Rejected
        )
    }
}

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum JobStatus {
    /// Created; some execution is not terminal yet.
    InProgress,
    /// CancelJob was called.
    Canceled,
    /// Every execution reached a terminal status (a SNAPSHOT job).
    Completed,
}

impl JobStatus {
    /// AWS's name: `IN_PROGRESS`, `CANCELED` or `COMPLETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Canceled => "CANCELED",
            JobStatus::Completed => "COMPLETED",
        }
    }
}

/// A job, as CreateJob made it and CancelJob or its executions changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The job id (1..=64 of `[a-zA-Z0-9_-]`).
    pub id: String,
    /// `arn:aws:iot:<region>:<account>:job/<id>`.
    pub arn: String,
    /// The target ARNs, as CreateJob got them.
    pub targets: Vec<String>,
    /// The things they name, each once, in target order: one execution each.
    pub things: Vec<String>,
    /// The job document, as CreateJob got it (JSON text).
    pub document: String,
    /// CreateJob's `description`.
    pub description: Option<String>,
    /// The status.
    pub status: JobStatus,
    /// CancelJob was called with `force`.
    pub force_canceled: bool,
    /// CancelJob's `reasonCode`.
    pub reason_code: Option<String>,
    /// CancelJob's `comment`.
    pub comment: Option<String>,
    /// When it was created (Unix ms).
    pub created_at: u64,
    /// When it last changed (Unix ms).
    pub last_updated_at: u64,
    /// When it became COMPLETED (Unix ms).
    pub completed_at: Option<u64>,
}

/// One thing's execution of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The job.
    pub job_id: String,
    /// The thing.
    pub thing_name: String,
    /// The status.
    pub status: ExecutionStatus,
    /// The device's name/value pairs (`statusDetails`).
    pub status_details: BTreeMap<String, String>,
    /// When it was queued (Unix ms).
    pub queued_at: u64,
    /// When it became IN_PROGRESS (Unix ms).
    pub started_at: Option<u64>,
    /// When it last changed (Unix ms).
    pub last_updated_at: u64,
    /// 1 when queued, one more at every change: what `expectedVersion` is checked against.
    pub version_number: u64,
    /// Which execution of the job on this thing: always 1 (mock-broker never retries).
    pub execution_number: u64,
    /// CancelJob with `force` canceled it while IN_PROGRESS.
    pub force_canceled: bool,
    /// Queue order across the account: executions are handed out in the order they were
    /// created (`queuedAt` ties broken by it).
    pub queue_position: u64,
}

impl Execution {
    /// Moves to `status` at `now` (Unix ms), one version on; IN_PROGRESS records when it
    /// started the first time.
    pub(crate) fn set_status(&mut self, status: ExecutionStatus, now: u64) {
        if status == ExecutionStatus::InProgress && self.started_at.is_none() {
            self.started_at = Some(now);
        }
        self.status = status;
        self.last_updated_at = now;
        self.version_number = self.version_number.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_split_into_pending_and_terminal() {
        for status in ExecutionStatus::ALL {
            assert_eq!(ExecutionStatus::parse(status.as_str()), Some(status));
            assert_ne!(status.is_pending(), status.is_terminal());
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(ExecutionStatus::parse("in_progress"), None);
        let pending: Vec<_> = ExecutionStatus::ALL
            .into_iter()
            .filter(|s| s.is_pending())
            .collect();
        assert_eq!(
            pending,
            [ExecutionStatus::Queued, ExecutionStatus::InProgress]
        );
        let device: Vec<_> = ExecutionStatus::ALL
            .into_iter()
            .filter(|s| s.device_may_set())
            .map(ExecutionStatus::as_str)
            .collect();
        assert_eq!(device, ["IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"]);
        assert_eq!(JobStatus::Completed.as_str(), "COMPLETED");
    }
}
