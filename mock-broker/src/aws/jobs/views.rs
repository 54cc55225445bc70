//! The JSON shapes the Jobs MQTT API sends: JobExecutionSummary ([`summary`]),
//! JobExecution ([`execution_data`]) and JobExecutionState ([`execution_state`]), as "Jobs
//! device MQTT and HTTPS APIs and data types" lays them out
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-https-api.html>).
//!
//! Times are whole Unix seconds ("The time in seconds since the epoch"). Over MQTT the
//! `jobDocument` is the document itself, a JSON object, not a string (the notification
//! examples in "Jobs notifications" show `"jobDocument": {"operation": "test"}`); the
//! admin API's shapes are the admin API's. `statusDetails` and `startedAt` appear only
//! when there is something to show (choice: AWS's examples leave them out then).

use super::model::Execution;
use serde_json::{Map, Value, json};

/// Unix milliseconds as the MQTT API's whole seconds.
pub(crate) fn seconds(ms: u64) -> u64 {
    ms / 1000
}

/// JobExecutionSummary: `jobId`, `queuedAt`, `startedAt`, `lastUpdatedAt`,
/// `versionNumber`, `executionNumber`.
pub fn summary(execution: &Execution) -> Value {
    let mut view = Map::new();
    view.insert("jobId".into(), json!(execution.job_id));
    view.insert("queuedAt".into(), json!(seconds(execution.queued_at)));
    if let Some(started) = execution.started_at {
        view.insert("startedAt".into(), json!(seconds(started)));
    }
    view.insert(
        "lastUpdatedAt".into(),
        json!(seconds(execution.last_updated_at)),
    );
    view.insert("versionNumber".into(), json!(execution.version_number));
    view.insert("executionNumber".into(), json!(execution.execution_number));
    Value::Object(view)
}

/// JobExecution: `jobId`, `thingName`, `jobDocument` (when `document` is given),
/// `status`, `statusDetails`, `queuedAt`, `startedAt`, `lastUpdatedAt`, `versionNumber`,
/// `executionNumber`.
pub fn execution_data(execution: &Execution, document: Option<&str>) -> Value {
    let mut view = Map::new();
    view.insert("jobId".into(), json!(execution.job_id));
    view.insert("thingName".into(), json!(execution.thing_name));
    if let Some(document) = document {
        let parsed = serde_json::from_str(document).unwrap_or_else(|_| json!(document));
        view.insert("jobDocument".into(), parsed);
    }
    view.insert("status".into(), json!(execution.status.as_str()));
    if !execution.status_details.is_empty() {
        view.insert("statusDetails".into(), json!(execution.status_details));
    }
    view.insert("queuedAt".into(), json!(seconds(execution.queued_at)));
    if let Some(started) = execution.started_at {
        view.insert("startedAt".into(), json!(seconds(started)));
    }
    view.insert(
        "lastUpdatedAt".into(),
        json!(seconds(execution.last_updated_at)),
    );
    view.insert("versionNumber".into(), json!(execution.version_number));
    view.insert("executionNumber".into(), json!(execution.execution_number));
    Value::Object(view)
}

/// JobExecutionState: `status`, `statusDetails`, `versionNumber`.
pub fn execution_state(execution: &Execution) -> Value {
    let mut view = Map::new();
    view.insert("status".into(), json!(execution.status.as_str()));
    if !execution.status_details.is_empty() {
        view.insert("statusDetails".into(), json!(execution.status_details));
    }
    view.insert("versionNumber".into(), json!(execution.version_number));
    Value::Object(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::jobs::model::ExecutionStatus;
    use std::collections::BTreeMap;

    fn execution() -> Execution {
        Execution {
            job_id: "fw".into(),
            thing_name: "dev".into(),
            status: ExecutionStatus::Queued,
            status_details: BTreeMap::new(),
            queued_at: 10_999,
            started_at: None,
            last_updated_at: 10_999,
            version_number: 1,
            execution_number: 1,
            force_canceled: false,
            queue_position: 0,
        }
    }

    #[test]
    fn views_are_compact_in_aws_order_with_seconds() {
        let mut e = execution();
        assert_eq!(
            summary(&e).to_string(),
            r#"{"jobId":"fw","queuedAt":10,"lastUpdatedAt":10,"versionNumber":1,"executionNumber":1}"#
        );
        assert_eq!(
            execution_data(&e, Some(r#"{"op":"reboot"}"#)).to_string(),
            r#"{"jobId":"fw","thingName":"dev","jobDocument":{"op":"reboot"},"status":"QUEUED","queuedAt":10,"lastUpdatedAt":10,"versionNumber":1,"executionNumber":1}"#
        );
        e.set_status(ExecutionStatus::InProgress, 20_000);
        e.status_details.insert("step".into(), "1".into());
        assert_eq!(
            execution_data(&e, None).to_string(),
            r#"{"jobId":"fw","thingName":"dev","status":"IN_PROGRESS","statusDetails":{"step":"1"},"queuedAt":10,"startedAt":20,"lastUpdatedAt":20,"versionNumber":2,"executionNumber":1}"#
        );
        assert_eq!(
            execution_state(&e).to_string(),
            r#"{"status":"IN_PROGRESS","statusDetails":{"step":"1"},"versionNumber":2}"#
        );
    }
}
