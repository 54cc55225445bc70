//! CreateJob: `PUT /jobs/{jobId}` with `targets` (thing ARNs), `document` (the job
//! document, a JSON string), `description` and `targetSelection`; answers `jobArn`,
//! `jobId` and `description`, and queues an execution on every target thing (whose
//! devices get `notify` and `notify-next`).
//!
//! Targets must be things of this account and region that exist
//! (`ResourceNotFoundException` otherwise, also for a thing group: mock-broker has none);
//! something that is not a thing or thing group ARN is an `InvalidRequestException`.
//! `targetSelection` may be SNAPSHOT (the default); CONTINUOUS, `documentSource`, and the
//! configurations mock-broker does not model (rollouts, abort, timeout, retry, scheduling,
//! presigned URLs, job templates, document parameters, namespaces, package versions) are
//! refused with `InvalidRequestException` rather than ignored, so a test does not pass on
//! behaviour the mock lacks. `tags` are accepted and dropped (mock-broker keeps no tags).

use super::{Api, change, no_thing_group, not_supported};
use crate::aws::admin_api::{ApiError, bad_request, body};
use crate::aws::jobs::NewJob;
use crate::aws::registry::{AwsError, AwsErrorKind, Registry};
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateJob {
    targets: Option<Vec<String>>,
    document: Option<String>,
    document_source: Option<String>,
    description: Option<String>,
    target_selection: Option<String>,
    /// Accepted and dropped.
    #[serde(rename = "tags")]
    _tags: Option<Value>,
    /// Every other member: refused unless null.
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// The thing names `targets` stand for; see the module documentation.
fn resolve(reg: &Registry, targets: &[String]) -> Result<Vec<String>, ApiError> {
    if targets.is_empty() {
        return Err(bad_request("targets must hold at least one thing ARN"));
    }
    let things = reg.arn("thing", "");
    targets
        .iter()
        .map(|target| {
            if let Some(name) = target.strip_prefix(&things) {
                reg.thing(name)?;
                Ok(name.to_owned())
            } else if let Some((_, group)) = target.split_once(":thinggroup/") {
                Err(no_thing_group(group))
            } else if target.starts_with("arn:") && target.contains(":thing/") {
                Err(ApiError(AwsError::new(
                    AwsErrorKind::ResourceNotFound,
                    format!("target {target} is not a thing of this account and region"),
                )))
            } else {
                Err(bad_request(format!(
                    "target {target:?} is not a thing or thing group ARN"
                )))
            }
        })
        .collect()
}

/// CreateJob.
pub(super) async fn create_job(
    State(api): Api,
    Path(job_id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: CreateJob = body(&raw)?;
    crate::aws::jobs::check_job_id(&job_id)?;
    match request.target_selection.as_deref() {
        None | Some("SNAPSHOT") => {}
        Some("CONTINUOUS") => return Err(not_supported("targetSelection CONTINUOUS")),
        Some(other) => {
            return Err(bad_request(format!(
                "targetSelection must be SNAPSHOT or CONTINUOUS, got {other:?}"
            )));
        }
    }
    if let Some((member, _)) = request.other.iter().find(|(_, value)| !value.is_null()) {
        return Err(not_supported(member));
    }
    if request.document_source.is_some() {
        return Err(not_supported("documentSource"));
    }
    let document = request
        .document
        .ok_or_else(|| bad_request("document is required (documentSource is not supported)"))?;
    let targets = request
        .targets
        .ok_or_else(|| bad_request("targets is required"))?;
    let (things, arn) = api
        .plane
        .read(|reg| resolve(reg, &targets).map(|things| (things, reg.arn("job", &job_id))))?;
    let job = NewJob {
        id: job_id,
        arn,
        targets,
        things,
        document,
        description: request.description,
    };
    let job = change(&api, |jobs, now| jobs.create_job(job, now))?;
    let mut reply = json!({"jobArn": job.arn, "jobId": job.id});
    if let Some(description) = job.description {
        reply["description"] = json!(description);
    }
    Ok(Json(reply))
}
