//! The Jobs reads: DescribeJob (`GET /jobs/{jobId}`), GetJobDocument
//! (`GET /jobs/{jobId}/job-document`), ListJobs (`GET /jobs`), DescribeJobExecution
//! (`GET /things/{thingName}/jobs/{jobId}?executionNumber=`) and
//! ListJobExecutionsForThing (`GET /things/{thingName}/jobs`).
//!
//! The lists page with `nextToken`/`maxResults` (1..=250, 25 by default) through the
//! admin API's one paging function, in job id order (choice: AWS documents no order).
//! ListJobs filters by `status` and `targetSelection`; ListJobExecutionsForThing by
//! `status` and `jobId`, and answers an empty list for a thing without executions, known
//! or not (choice). Filtering by thing group or namespace is refused (mock-broker has
//! neither). `beforeSubstitution` is ignored: there are no templates to substitute.

use super::shapes;
use super::{Api, no_thing_group, not_supported, read};
use crate::aws::admin_api::params::Query;
use crate::aws::admin_api::{ApiError, bad_request};
use crate::aws::jobs::{ExecutionStatus, check_job_id};
use crate::aws::registry::{AwsError, AwsErrorKind, paginate};
use crate::aws::shadow::valid_thing_name;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

type Reply = Result<Json<Value>, ApiError>;

/// A thing name from the path.
fn thing_name(name: &str) -> Result<&str, ApiError> {
    if valid_thing_name(name) {
        Ok(name)
    } else {
        Err(bad_request(format!(
            "thingName {name:?} must be 1 to 128 characters of [a-zA-Z0-9:_-]"
        )))
    }
}

/// Adds `nextToken` when there is a next page.
fn with_token(mut reply: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        reply["nextToken"] = json!(next);
    }
    reply
}

/// DescribeJob.
pub(super) async fn describe_job(State(api): Api, Path(job_id): Path<String>) -> Reply {
    let job = read(&api, |jobs| {
        jobs.job(&job_id).map(|job| shapes::job(jobs, job))
    })?;
    Ok(Json(json!({"job": job})))
}

/// GetJobDocument.
pub(super) async fn get_job_document(State(api): Api, Path(job_id): Path<String>) -> Reply {
    let document = read(&api, |jobs| {
        jobs.job(&job_id).map(|job| job.document.clone())
    })?;
    Ok(Json(json!({"document": document})))
}

/// ListJobs.
pub(super) async fn list_jobs(State(api): Api, query: Query) -> Reply {
    let request = query.token_page()?;
    if let Some(group) = query
        .text("thingGroupName")
        .or_else(|| query.text("thingGroupId"))
    {
        return Err(no_thing_group(group));
    }
    if query.text("namespaceId").is_some() {
        return Err(not_supported("namespaceId"));
    }
    let status = match query.text("status") {
        None => None,
        Some(
            text
            @ ("IN_PROGRESS" | "CANCELED" | "COMPLETED" | "DELETION_IN_PROGRESS" | "SCHEDULED"),
        ) => Some(text),
        Some(other) => return Err(bad_request(format!("invalid job status {other:?}"))),
    };
    let snapshot = match query.text("targetSelection") {
        None | Some("SNAPSHOT") => true,
        Some("CONTINUOUS") => false,
        Some(other) => {
            return Err(bad_request(format!(
                "targetSelection must be SNAPSHOT or CONTINUOUS, got {other:?}"
            )));
        }
    };
    let page = read(&api, |jobs| {
        let items = jobs
            .jobs()
            .filter(|job| snapshot && status.is_none_or(|s| s == job.status.as_str()))
            .map(|job| (job.id.clone(), shapes::job_summary(job)))
            .collect();
        paginate("jobs", items, &request)
    })?;
    Ok(Json(with_token(json!({"jobs": page.items}), page.next)))
}

/// DescribeJobExecution.
pub(super) async fn describe_job_execution(
    State(api): Api,
    Path((name, job_id)): Path<(String, String)>,
    query: Query,
) -> Reply {
    let thing = thing_name(&name)?;
    let number = query.number("executionNumber")?;
    let thing_arn = api.plane.read(|reg| reg.arn("thing", thing));
    let execution = read(&api, |jobs| -> Result<Value, AwsError> {
        let execution = jobs.execution(thing, &job_id)?;
        if number.is_some_and(|n| n != execution.execution_number) {
            return Err(AwsError::new(
                AwsErrorKind::ResourceNotFound,
                format!("No job execution {number:?} exists for job {job_id} and thing {thing}"),
            ));
        }
        Ok(shapes::execution(execution, &thing_arn))
    })?;
    Ok(Json(json!({"execution": execution})))
}

/// ListJobExecutionsForThing.
pub(super) async fn list_job_executions_for_thing(
    State(api): Api,
    Path(name): Path<String>,
    query: Query,
) -> Reply {
    let thing = thing_name(&name)?;
    let request = query.token_page()?;
    if query.text("namespaceId").is_some() {
        return Err(not_supported("namespaceId"));
    }
    let status = query
        .text("status")
        .map(|text| {
            ExecutionStatus::parse(text)
                .ok_or_else(|| bad_request(format!("invalid job execution status {text:?}")))
        })
        .transpose()?;
    let job_id = query.text("jobId");
    if let Some(job_id) = job_id {
        check_job_id(job_id)?;
    }
    let page = read(&api, |jobs| {
        let items = jobs
            .executions_of(thing)
            .filter(|e| status.is_none_or(|s| s == e.status))
            .filter(|e| job_id.is_none_or(|id| id == e.job_id))
            .map(|e| (e.job_id.clone(), shapes::execution_summary_for_thing(e)))
            .collect();
        paginate(&format!("job-executions:{thing}"), items, &request)
    })?;
    Ok(Json(with_token(
        json!({"executionSummaries": page.items}),
        page.next,
    )))
}
