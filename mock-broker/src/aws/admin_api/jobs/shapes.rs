//! The JSON the Jobs operations answer with, as botocore's model names it: `Job`
//! (DescribeJob), `JobSummary` (ListJobs), `JobExecution` (DescribeJobExecution) and
//! `JobExecutionSummaryForThing` (ListJobExecutionsForThing). Timestamps are fractional
//! Unix seconds, the `timestamp` shape boto3 reads into datetimes; optional members are
//! left out when they have no value.

use crate::aws::admin_api::seconds;
use crate::aws::jobs::{Execution, Job, Jobs};
use serde_json::{Map, Value, json};

/// Only SNAPSHOT jobs exist here.
const SNAPSHOT: &str = "SNAPSHOT";

/// `jobProcessDetails` member for each execution status.
const COUNTS: [(&str, &str); 8] = [
    ("CANCELED", "numberOfCanceledThings"),
    ("SUCCEEDED", "numberOfSucceededThings"),
    ("FAILED", "numberOfFailedThings"),
    ("REJECTED", "numberOfRejectedThings"),
    ("QUEUED", "numberOfQueuedThings"),
    ("IN_PROGRESS", "numberOfInProgressThings"),
    ("REMOVED", "numberOfRemovedThings"),
    ("TIMED_OUT", "numberOfTimedOutThings"),
];

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.into(), value);
    }
}

/// DescribeJob's `job`.
pub(super) fn job(jobs: &Jobs, job: &Job) -> Value {
    let counts = jobs.execution_counts(job);
    let details: Map<String, Value> = COUNTS
        .iter()
        .map(|(status, member)| {
            let count = counts.get(status).copied().unwrap_or(0);
            ((*member).to_owned(), json!(count))
        })
        .collect();
    let mut view = Map::new();
    view.insert("jobArn".into(), json!(job.arn));
    view.insert("jobId".into(), json!(job.id));
    view.insert("targetSelection".into(), json!(SNAPSHOT));
    view.insert("status".into(), json!(job.status.as_str()));
    view.insert("forceCanceled".into(), json!(job.force_canceled));
    insert_some(
        &mut view,
        "reasonCode",
        job.reason_code.as_ref().map(|c| json!(c)),
    );
    insert_some(&mut view, "comment", job.comment.as_ref().map(|c| json!(c)));
    view.insert("targets".into(), json!(job.targets));
    insert_some(
        &mut view,
        "description",
        job.description.as_ref().map(|d| json!(d)),
    );
    view.insert("createdAt".into(), json!(seconds(job.created_at)));
    view.insert("lastUpdatedAt".into(), json!(seconds(job.last_updated_at)));
    insert_some(
        &mut view,
        "completedAt",
        job.completed_at.map(|at| json!(seconds(at))),
    );
    view.insert("jobProcessDetails".into(), Value::Object(details));
    view.insert("isConcurrent".into(), json!(false));
    Value::Object(view)
}

/// ListJobs' `JobSummary`.
pub(super) fn job_summary(job: &Job) -> Value {
    let mut view = Map::new();
    view.insert("jobArn".into(), json!(job.arn));
    view.insert("jobId".into(), json!(job.id));
    view.insert("targetSelection".into(), json!(SNAPSHOT));
    view.insert("status".into(), json!(job.status.as_str()));
    view.insert("createdAt".into(), json!(seconds(job.created_at)));
    view.insert("lastUpdatedAt".into(), json!(seconds(job.last_updated_at)));
    insert_some(
        &mut view,
        "completedAt",
        job.completed_at.map(|at| json!(seconds(at))),
    );
    view.insert("isConcurrent".into(), json!(false));
    Value::Object(view)
}

/// DescribeJobExecution's `execution`, for the thing whose ARN is `thing_arn`.
pub(super) fn execution(execution: &Execution, thing_arn: &str) -> Value {
    let mut view = Map::new();
    view.insert("jobId".into(), json!(execution.job_id));
    view.insert("status".into(), json!(execution.status.as_str()));
    view.insert("forceCanceled".into(), json!(execution.force_canceled));
    view.insert(
        "statusDetails".into(),
        json!({"detailsMap": execution.status_details}),
    );
    view.insert("thingArn".into(), json!(thing_arn));
    times(&mut view, execution);
    view.insert("versionNumber".into(), json!(execution.version_number));
    Value::Object(view)
}

/// ListJobExecutionsForThing's `JobExecutionSummaryForThing`.
pub(super) fn execution_summary_for_thing(execution: &Execution) -> Value {
    let mut summary = Map::new();
    summary.insert("status".into(), json!(execution.status.as_str()));
    times(&mut summary, execution);
    json!({"jobId": execution.job_id, "jobExecutionSummary": summary})
}

/// `queuedAt`, `startedAt`, `lastUpdatedAt` and `executionNumber`.
fn times(view: &mut Map<String, Value>, execution: &Execution) {
    view.insert("queuedAt".into(), json!(seconds(execution.queued_at)));
    insert_some(
        view,
        "startedAt",
        execution.started_at.map(|at| json!(seconds(at))),
    );
    view.insert(
        "lastUpdatedAt".into(),
        json!(seconds(execution.last_updated_at)),
    );
    view.insert("executionNumber".into(), json!(execution.execution_number));
}
