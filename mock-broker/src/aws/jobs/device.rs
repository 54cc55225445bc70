//! The device's side of the Jobs service: GetPendingJobExecutions, StartNextPendingJobExecution,
//! DescribeJobExecution and UpdateJobExecution, as the MQTT API asks for them ("Jobs
//! device MQTT API", <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>).
//!
//! Each takes a thing, a request read by [`super::request`] and `now` (Unix ms), and
//! returns the members of its `/accepted` answer (without `timestamp` and `clientToken`,
//! which [`Jobs::handle`] adds) plus the notifications the change
//! causes, or the [`JobsError`] that goes to `/rejected`.
//!
//! **The state machine.** A device may set IN_PROGRESS, SUCCEEDED, FAILED or REJECTED on
//! a QUEUED or IN_PROGRESS execution, directly from QUEUED too (choice: AWS documents no
//! refusal of it); a terminal execution refuses every update with
//! `InvalidStateTransition`. Every accepted update (IN_PROGRESS again included) adds one to
//! `versionNumber`; `statusDetails`, when given, replace the stored ones (choice; "If not
//! specified, the statusDetails are unchanged"). Checks run: the execution exists
//! (`ResourceNotFound`), `executionNumber` matches (`ResourceNotFound`), `expectedVersion`
//! matches (`VersionMismatch`), the execution is not terminal (`InvalidStateTransition`);
//! the last two carry the execution's state.
//!
//! **Next.** The next execution is the first pending one: IN_PROGRESS before QUEUED, each
//! oldest first. `start-next` moves a QUEUED one to IN_PROGRESS (with its status
//! details) and hands an IN_PROGRESS one back unchanged; with nothing pending it answers
//! without `execution`, as `$next/get` does (choice for the latter). Describing a
//! terminal execution answers it (AWS's `TerminalStateReached` is not used, choice).

use super::error::{ErrorCode, JobsError};
use super::model::ExecutionStatus;
use super::request::{DescribeRequest, StartNextRequest, UpdateRequest};
use super::store::{Jobs, Notification};
use super::topic::JobRef;
use super::views::{execution_data, execution_state, summary};
use serde_json::{Map, Value, json};

fn not_found(thing: &str, job_id: &str) -> JobsError {
    JobsError::new(
        ErrorCode::ResourceNotFound,
        format!("No job execution exists for job {job_id} and thing {thing}"),
    )
}

impl Jobs {
    /// GetPendingJobExecutions: `inProgressJobs` and `queuedJobs`, summaries in order.
    pub(crate) fn get_pending(&self, thing: &str) -> Map<String, Value> {
        let (in_progress, queued): (Vec<_>, Vec<_>) = self
            .pending(thing)
            .into_iter()
            .partition(|execution| execution.status == ExecutionStatus::InProgress);
        let mut answer = Map::new();
        let list = |items: Vec<_>| Value::Array(items.into_iter().map(summary).collect());
        answer.insert("inProgressJobs".into(), list(in_progress));
        answer.insert("queuedJobs".into(), list(queued));
        answer
    }

    /// StartNextPendingJobExecution at `now`: `execution`, when something is pending.
    pub(crate) fn start_next(
        &mut self,
        thing: &str,
        request: &StartNextRequest,
        now: u64,
    ) -> (Map<String, Value>, Vec<Notification>) {
        let Some((job_id, status)) = self
            .pending(thing)
            .first()
            .map(|next| (next.job_id.clone(), next.status))
        else {
            return (Map::new(), Vec::new());
        };
        let things = [thing.to_owned()];
        let ((), notifications) = self.changing(&things, now, |jobs| {
            if let (ExecutionStatus::Queued, Some(execution)) =
                (status, jobs.execution_mut(thing, &job_id))
            {
                execution.set_status(ExecutionStatus::InProgress, now);
                if let Some(details) = &request.status_details {
                    execution.status_details = details.clone();
                }
            }
        });
        let mut answer = Map::new();
        if let Some(execution) = self.find(thing, &job_id) {
            let view = execution_data(execution, self.document(&job_id));
            answer.insert("execution".into(), view);
        }
        (answer, notifications)
    }

    /// DescribeJobExecution: `execution`, absent only for `$next` with nothing pending.
    pub(crate) fn describe(
        &self,
        thing: &str,
        job: JobRef<'_>,
        request: &DescribeRequest,
    ) -> Result<Map<String, Value>, JobsError> {
        let execution = match job {
            JobRef::Next => match self.pending(thing).first() {
                Some(next) => *next,
                None => return Ok(Map::new()),
            },
            JobRef::Id(job_id) => self
                .find(thing, job_id)
                .ok_or_else(|| not_found(thing, job_id))?,
        };
        if request
            .execution_number
            .is_some_and(|number| number != execution.execution_number)
        {
            return Err(not_found(thing, &execution.job_id));
        }
        let document = request
            .include_document
            .then(|| self.document(&execution.job_id))
            .flatten();
        let mut answer = Map::new();
        answer.insert("execution".into(), execution_data(execution, document));
        Ok(answer)
    }

    /// UpdateJobExecution at `now`: `executionState` and `jobDocument` when asked for.
    pub(crate) fn update(
        &mut self,
        thing: &str,
        job_id: &str,
        request: &UpdateRequest,
        now: u64,
    ) -> Result<(Map<String, Value>, Vec<Notification>), JobsError> {
        let execution = self
            .find(thing, job_id)
            .ok_or_else(|| not_found(thing, job_id))?;
        if request
            .execution_number
            .is_some_and(|number| number != execution.execution_number)
        {
            return Err(not_found(thing, job_id));
        }
        if let Some(expected) = request.expected_version
            && expected != execution.version_number
        {
            return Err(JobsError::new(
                ErrorCode::VersionMismatch,
                format!(
                    "expectedVersion {expected} is not the execution's version {}",
                    execution.version_number
                ),
            )
            .with_state(execution_state(execution)));
        }
        if execution.status.is_terminal() {
            return Err(JobsError::new(
                ErrorCode::InvalidStateTransition,
                format!(
                    "the job execution is {} and cannot become {}",
                    execution.status.as_str(),
                    request.status.as_str()
                ),
            )
            .with_state(execution_state(execution)));
        }
        let things = [thing.to_owned()];
        let (state, notifications) = self.changing(&things, now, |jobs| {
            let execution = jobs.execution_mut(thing, job_id)?;
            execution.set_status(request.status, now);
            if let Some(details) = &request.status_details {
                execution.status_details = details.clone();
            }
            let state = execution_state(execution);
            jobs.settle(job_id, now);
            Some(state)
        });
        let mut answer = Map::new();
        if let (true, Some(state)) = (request.include_state, state) {
            answer.insert("executionState".into(), state);
        }
        if request.include_document {
            let document = self.document(job_id).unwrap_or("null");
            let parsed = serde_json::from_str(document).unwrap_or_else(|_| json!(document));
            answer.insert("jobDocument".into(), parsed);
        }
        Ok((answer, notifications))
    }
}
