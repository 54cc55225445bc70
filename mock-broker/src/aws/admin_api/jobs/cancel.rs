//! CancelJob: `PUT /jobs/{jobId}/cancel?force=` with `reasonCode` and `comment` in the
//! body; answers `jobArn`, `jobId` and `description`. The job's QUEUED executions (and
//! with `force` its IN_PROGRESS ones) become CANCELED, and their devices get `notify` and
//! `notify-next`; the rules are [`crate::aws::jobs::Jobs::cancel_job`]'s.

use super::{Api, change};
use crate::aws::admin_api::params::Query;
use crate::aws::admin_api::{ApiError, body};
use crate::aws::jobs::Cancel;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelJob {
    reason_code: Option<String>,
    comment: Option<String>,
}

/// CancelJob.
pub(super) async fn cancel_job(
    State(api): Api,
    Path(job_id): Path<String>,
    query: Query,
    raw: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: CancelJob = body(&raw)?;
    let cancel = Cancel {
        force: query.flag("force")?,
        reason_code: request.reason_code.as_deref(),
        comment: request.comment.as_deref(),
    };
    let job = change(&api, |jobs, now| jobs.cancel_job(&job_id, cancel, now))?;
    let mut reply = json!({"jobArn": job.arn, "jobId": job.id});
    if let Some(description) = job.description {
        reply["description"] = json!(description);
    }
    Ok(Json(reply))
}
