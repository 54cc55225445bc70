//! AWS IoT Jobs: jobs created by the control plane (the admin API's CreateJob, CancelJob,
//! ...) and executed by devices over MQTT (`$aws/things/<thing>/jobs/...`).
//!
//! [`Jobs`] holds every job and execution and is the clock-free core: its operations take
//! names, a request and `now` (Unix ms) and return the answer plus the MQTT notifications
//! to publish (`notify`, `notify-next`), or an error: an [`crate::aws::registry::AwsError`]
//! for the control plane (the admin API sends it as AWS's exception), a [`JobsError`] with
//! AWS's ErrorResponse code for the device (published on `/rejected`). MQTT requests reach
//! the core through [`Jobs::handle`]; [`JobService`] plugs it into the broker as a
//! [`crate::mqtt::hooks::Service`], like the Device Shadow service, and saves it in the
//! state dir. The admin API's handlers live in [`crate::aws::admin_api`] and resolve job
//! targets against the registry before they call in.
//!
//! The behaviour follows AWS's developer guide ("Jobs device MQTT API", "Jobs
//! notifications", "Jobs and job execution states", "AWS IoT jobs APIs") and botocore's
//! model `iot/2015-05-28`. Where AWS documents nothing, the choice is written down in the
//! module that makes it:
//!
//! - `model`: the records and their statuses;
//! - `topic`: the request topics and job ids;
//! - `request`: reading request payloads, validation order;
//! - `store`: creating, cancelling and completing jobs;
//! - `device`: the device's operations and the execution state machine;
//! - `notify`: when `notify` and `notify-next` are published, and what they hold;
//! - `views`: the JSON shapes sent over MQTT;
//! - `service`: the MQTT edge and persistence;
//! - `error`: AWS's error codes and the ErrorResponse.
//!
//! Not modelled: CONTINUOUS jobs and thing groups, job templates, rollout, abort, timeout,
//! retry and scheduling configurations, presigned URLs and `documentSource`, namespaces,
//! step timers (`stepTimeoutInMinutes` is accepted and ignored), execution retries
//! (`executionNumber` is always 1), Jobs events on `$aws/events/job...`.

mod device;
mod error;
mod model;
mod notify;
mod request;
mod service;
mod store;
mod topic;
mod views;

#[cfg(test)]
mod tests;

pub use error::{ErrorCode, JobsError};
pub use model::{Execution, ExecutionStatus, Job, JobStatus};
pub use notify::MAX_LISTED;
pub use request::{MAX_CLIENT_TOKEN, MAX_DETAILS_KEY, MAX_DETAILS_VALUE, MAX_STEP_TIMEOUT};
pub use service::{JOBS_FILE, JobService};
pub(crate) use store::check_job_id;
pub use store::{
    Cancel, Jobs, MAX_DESCRIPTION, MAX_DOCUMENT, MAX_REASON_CODE, NewJob, Notification,
};
pub use topic::{
    JobRef, JobsRequest, JobsTopic, MAX_JOB_ID, NEXT, jobs_prefix, parse_topic, valid_job_id,
};
pub use views::{execution_data, execution_state, summary};
