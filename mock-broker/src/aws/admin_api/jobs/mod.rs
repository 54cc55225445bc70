//! AWS IoT Jobs in the admin API: CreateJob, CancelJob, DescribeJob, GetJobDocument,
//! ListJobs, DescribeJobExecution and ListJobExecutionsForThing, over the
//! [`crate::aws::jobs`] service.
//!
//! Paths, members, fields, exceptions and statuses are botocore's model `iot/2015-05-28`
//! (CreateJob is `PUT /jobs/{jobId}`, CancelJob `PUT /jobs/{jobId}/cancel?force=`,
//! DescribeJobExecution `GET /things/{thingName}/jobs/{jobId}`, ...); requests are signed
//! for `iot`, as the rest of the admin API. Every change goes through
//! [`crate::aws::jobs::JobService::change`], so the `notify` and `notify-next` messages it
//! causes are published under the broker's lock, in the order of the changes, as the MQTT
//! side publishes its own. That is why these routes need a running broker and are served by
//! [`super::AdminApi::start_with_data`] (and [`router`]), not by [`super::router`] alone.
//!
//! Split by purpose: `create` (CreateJob and its targets), `cancel` (CancelJob), `reads`
//! (the describe and list operations) and `shapes` (the JSON the control plane answers,
//! timestamps as fractional Unix seconds); this file holds the router and the helpers
//! they share.

use super::{ApiError, aws_shaped, sigv4};
use crate::aws::control_plane::ControlPlane;
use crate::aws::jobs::{Jobs, Notification};
use crate::aws::registry::{AwsError, AwsErrorKind};
use crate::mqtt::handle::BrokerHandle;
use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::routing::{get, put};
use std::sync::Arc;

mod cancel;
mod create;
mod reads;
mod shapes;

/// What the Jobs operations work on.
#[derive(Debug, Clone)]
pub struct JobsApi {
    /// The registries (targets, ARNs, the SigV4 region) and the Jobs service.
    pub plane: Arc<ControlPlane>,
    /// The broker the notifications go through.
    pub broker: BrokerHandle,
}

type Api = State<JobsApi>;

/// The Jobs routes, to merge into the admin API's router (no path of one is a path of the
/// other). Public for tests that drive it without a socket.
pub fn router(api: JobsApi) -> Router {
    Router::new()
        .route("/jobs", get(reads::list_jobs))
        .route(
            "/jobs/{job_id}",
            put(create::create_job).get(reads::describe_job),
        )
        .route("/jobs/{job_id}/cancel", put(cancel::cancel_job))
        .route("/jobs/{job_id}/job-document", get(reads::get_job_document))
        .route(
            "/things/{name}/jobs",
            get(reads::list_job_executions_for_thing),
        )
        .route(
            "/things/{name}/jobs/{job_id}",
            get(reads::describe_job_execution),
        )
        .layer(middleware::from_fn(aws_shaped))
        .layer(middleware::from_fn_with_state(
            api.plane.clone(),
            sigv4::check_scope,
        ))
        .with_state(api)
}

/// Now, in Unix milliseconds.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs a changing operation on the jobs at the current time, with the broker's lock
/// held, and publishes the notifications it returns there
/// ([`crate::aws::jobs::JobService::change`]).
fn change<R>(
    api: &JobsApi,
    f: impl FnOnce(&mut Jobs, u64) -> Result<(R, Vec<Notification>), AwsError>,
) -> Result<R, ApiError> {
    let now = now_ms();
    match api.plane.jobs().change(&api.broker, |jobs| f(jobs, now)) {
        Ok(answer) => answer.map_err(ApiError),
        Err(_) => Err(ApiError(AwsError::new(
            AwsErrorKind::ServiceUnavailable,
            "the broker behind this endpoint has shut down",
        ))),
    }
}

/// Reads the jobs.
fn read<R>(api: &JobsApi, f: impl FnOnce(&Jobs) -> R) -> R {
    f(&api.plane.jobs().lock())
}

/// A member mock-broker has no equivalent for: an `InvalidRequestException` naming it.
fn not_supported(member: &str) -> ApiError {
    super::bad_request(format!("{member} is not supported by mock-broker"))
}

/// Thing groups do not exist here: naming one is a `ResourceNotFoundException`, as for a
/// group that does not exist.
fn no_thing_group(what: &str) -> ApiError {
    ApiError(AwsError::new(
        AwsErrorKind::ResourceNotFound,
        format!("thing group {what} does not exist (mock-broker has no thing groups)"),
    ))
}
