//! Every job and job execution of the account, and the control plane's operations on
//! them: [`Jobs::create_job`], [`Jobs::cancel_job`] and the reads the admin API lists and
//! describes with.
//!
//! This is the clock-free core: times are Unix milliseconds passed in as `now`; nothing
//! here knows about HTTP, MQTT connections or the registries. Which things a job targets
//! is resolved by the caller (the admin API checks the ARNs against the registry and
//! passes the thing names in [`NewJob`]). Changes return the MQTT notifications they cause
//! ([`super::notify`]), which the caller publishes. The device's side (the MQTT API) is
//! [`super::device`].
//!
//! **Creating.** A job gets one QUEUED execution per target thing, version 1, execution
//! number 1, queued in creation order. Only SNAPSHOT jobs exist: the targets are resolved
//! once, at creation.
//!
//! **Cancelling** ("CancelJob",
//! <https://docs.aws.amazon.com/iot/latest/apireference/API_CancelJob.html>): the job becomes CANCELED and its QUEUED executions CANCELED (a version each); with
//! `force`, its IN_PROGRESS ones too (`forceCanceled`). Without `force` an IN_PROGRESS
//! execution carries on and its device may still finish it. A CANCELED job may be
//! cancelled again (to force it); a COMPLETED one may not (`InvalidRequestException`,
//! choice: the model lists no state exception for CancelJob).
//!
//! **Completing.** A job whose executions are all terminal becomes COMPLETED ("Jobs and
//! job execution states": "For a snapshot job, the job status changes to COMPLETED when
//! all its job executions enter a terminal state"); a CANCELED job stays CANCELED.

use super::model::{Execution, ExecutionStatus, Job, JobStatus};
use super::topic::valid_job_id;
use crate::aws::registry::{AwsError, AwsErrorKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Largest job document, in bytes (botocore's `JobDocument`: 32768).
pub const MAX_DOCUMENT: usize = 32768;

/// Longest job description or cancel comment, in characters (botocore's
/// `JobDescription` and `Comment`: 2028).
pub const MAX_DESCRIPTION: usize = 2028;

/// Longest cancel `reasonCode`, in characters (botocore's `ReasonCode`).
pub const MAX_REASON_CODE: usize = 128;

/// A message the service publishes: `(topic, payload)`, the payload compact JSON.
pub type Notification = (String, String);

/// What CreateJob asks for, its targets resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The job id.
    pub id: String,
    /// The job's ARN.
    pub arn: String,
    /// The target ARNs, as the request gave them.
    pub targets: Vec<String>,
    /// The things they name (duplicates are dropped).
    pub things: Vec<String>,
    /// The job document (JSON text).
    pub document: String,
    /// The description.
    pub description: Option<String>,
}

/// What CancelJob asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancel<'a> {
    /// Cancel IN_PROGRESS executions too.
    pub force: bool,
    /// `reasonCode`.
    pub reason_code: Option<&'a str>,
    /// `comment`.
    pub comment: Option<&'a str>,
}

/// Every job and execution; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Jobs {
    jobs: BTreeMap<String, Job>,
    /// Thing name to job id to its execution.
    executions: BTreeMap<String, BTreeMap<String, Execution>>,
    /// The queue position of the next execution.
    next_position: u64,
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::InvalidRequest, message)
}

fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::ResourceNotFound, message)
}

/// Checks a job id from a request (400 when it cannot be one).
pub(crate) fn check_job_id(id: &str) -> Result<(), AwsError> {
    if valid_job_id(id) {
        Ok(())
    } else {
        Err(invalid(format!(
            "jobId {id:?} must be 1 to 64 characters of [a-zA-Z0-9_-]"
        )))
    }
}

/// Checks free text (a description, a comment): at most `max` characters, no control
/// characters (botocore's pattern `[^\p{C}]+`).
fn check_text(what: &str, text: &str, max: usize) -> Result<(), AwsError> {
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must be at most {max} characters without control characters"
        )));
    }
    Ok(())
}

impl Jobs {
    /// CreateJob at `now`: the job, IN_PROGRESS, with a QUEUED execution for each thing,
    /// and the `notify`/`notify-next` messages of those things.
    ///
    /// # Errors
    /// `InvalidRequestException` for an invalid id, no things, a document that is not JSON
    /// or over 32 KiB, or a description too long; `ResourceAlreadyExistsException` when the
    /// id is taken. Nothing changed then.
    pub fn create_job(
        &mut self,
        job: NewJob,
        now: u64,
    ) -> Result<(Job, Vec<Notification>), AwsError> {
        check_job_id(&job.id)?;
        if let Some(existing) = self.jobs.get(&job.id) {
            return Err(AwsError::new(
                AwsErrorKind::ResourceAlreadyExists {
                    resource_id: existing.id.clone(),
                    resource_arn: existing.arn.clone(),
                },
                format!("Job {} already exists", existing.id),
            ));
        }
        if job.things.is_empty() {
            return Err(invalid("targets must name at least one thing"));
        }
        if job.document.len() > MAX_DOCUMENT {
            return Err(invalid(format!(
                "document must be at most {MAX_DOCUMENT} bytes"
            )));
        }
        if let Err(error) = serde_json::from_str::<serde_json::Value>(&job.document) {
            return Err(invalid(format!("document is not a JSON document: {error}")));
        }
        if let Some(description) = &job.description {
            check_text("description", description, MAX_DESCRIPTION)?;
        }
        let mut things = job.things;
        let mut seen = BTreeSet::new();
        things.retain(|thing| seen.insert(thing.clone()));
        let record = Job {
            id: job.id.clone(),
            arn: job.arn,
            targets: job.targets,
            things: things.clone(),
            document: job.document,
            description: job.description,
            status: JobStatus::InProgress,
            force_canceled: false,
            reason_code: None,
            comment: None,
            created_at: now,
            last_updated_at: now,
            completed_at: None,
        };
        let ((), notifications) = self.changing(&things, now, |jobs| {
            for thing in &things {
                let position = jobs.next_position;
                jobs.next_position += 1;
                let execution = Execution {
                    job_id: record.id.clone(),
                    thing_name: thing.clone(),
                    status: ExecutionStatus::Queued,
                    status_details: BTreeMap::new(),
                    queued_at: now,
                    started_at: None,
                    last_updated_at: now,
                    version_number: 1,
                    execution_number: 1,
                    force_canceled: false,
                    queue_position: position,
                };
                jobs.executions
                    .entry(thing.clone())
                    .or_default()
                    .insert(record.id.clone(), execution);
            }
            jobs.jobs.insert(record.id.clone(), record.clone());
        });
        Ok((record, notifications))
    }

    /// CancelJob at `now`; returns the job and the notifications of the things whose
    /// pending executions changed.
    ///
    /// # Errors
    /// `ResourceNotFoundException` for an unknown job; `InvalidRequestException` for a
    /// COMPLETED job or an invalid reason code or comment.
    pub fn cancel_job(
        &mut self,
        id: &str,
        cancel: Cancel<'_>,
        now: u64,
    ) -> Result<(Job, Vec<Notification>), AwsError> {
        let job = self.job(id)?;
        if job.status == JobStatus::Completed {
            return Err(invalid(format!(
                "Job {id} is COMPLETED and can no longer be canceled"
            )));
        }
        if let Some(code) = cancel.reason_code {
            let valid = code.chars().count() <= MAX_REASON_CODE
                && code
                    .chars()
                    .all(|c| c.is_uppercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(invalid(format!(
                    "reasonCode must be at most {MAX_REASON_CODE} characters of upper-case letters, digits and _"
                )));
            }
        }
        if let Some(comment) = cancel.comment {
            check_text("comment", comment, MAX_DESCRIPTION)?;
        }
        let things = job.things.clone();
        let ((), notifications) = self.changing(&things, now, |jobs| {
            for thing in &things {
                let Some(execution) = jobs.execution_mut(thing, id) else {
                    continue;
                };
                let force = cancel.force && execution.status == ExecutionStatus::InProgress;
                if execution.status == ExecutionStatus::Queued || force {
                    execution.set_status(ExecutionStatus::Canceled, now);
                    execution.force_canceled = force;
                }
            }
            if let Some(job) = jobs.jobs.get_mut(id) {
                job.status = JobStatus::Canceled;
                job.force_canceled |= cancel.force;
                job.last_updated_at = now;
                if let Some(code) = cancel.reason_code {
                    job.reason_code = Some(code.to_owned());
                }
                if let Some(comment) = cancel.comment {
                    job.comment = Some(comment.to_owned());
                }
            }
        });
        let job = self.job(id)?.clone();
        Ok((job, notifications))
    }

    /// The job `id` (DescribeJob, GetJobDocument).
    ///
    /// # Errors
    /// `InvalidRequestException` for an id that cannot be one, `ResourceNotFoundException`
    /// for an unknown job.
    pub fn job(&self, id: &str) -> Result<&Job, AwsError> {
        check_job_id(id)?;
        self.jobs
            .get(id)
            .ok_or_else(|| not_found(format!("Job {id} does not exist")))
    }

    /// Every job, by id.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    /// The execution of job `job_id` on `thing` (DescribeJobExecution).
    ///
    /// # Errors
    /// `ResourceNotFoundException` when there is none.
    pub fn execution(&self, thing: &str, job_id: &str) -> Result<&Execution, AwsError> {
        check_job_id(job_id)?;
        self.find(thing, job_id).ok_or_else(|| {
            not_found(format!(
                "No job execution exists for job {job_id} and thing {thing}"
            ))
        })
    }

    /// `thing`'s executions, by job id (ListJobExecutionsForThing).
    pub fn executions_of(&self, thing: &str) -> impl Iterator<Item = &Execution> {
        self.executions
            .get(thing)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// How many of `job`'s executions are in each status (`jobProcessDetails`).
    pub fn execution_counts(&self, job: &Job) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> = ExecutionStatus::ALL
            .into_iter()
            .map(|status| (status.as_str(), 0))
            .collect();
        for thing in &job.things {
            if let Some(execution) = self.find(thing, &job.id) {
                *counts.entry(execution.status.as_str()).or_default() += 1;
            }
        }
        counts
    }

    /// The job document of `job_id`, if the job exists.
    pub(crate) fn document(&self, job_id: &str) -> Option<&str> {
        self.jobs.get(job_id).map(|job| job.document.as_str())
    }

    /// The execution of `job_id` on `thing`, if any.
    pub(crate) fn find(&self, thing: &str, job_id: &str) -> Option<&Execution> {
        self.executions
            .get(thing)
            .and_then(|executions| executions.get(job_id))
    }

    pub(crate) fn execution_mut(&mut self, thing: &str, job_id: &str) -> Option<&mut Execution> {
        self.executions
            .get_mut(thing)
            .and_then(|executions| executions.get_mut(job_id))
    }

    /// `thing`'s pending executions in AWS's order: IN_PROGRESS before QUEUED, each in the
    /// order they were queued.
    pub(crate) fn pending(&self, thing: &str) -> Vec<&Execution> {
        let mut pending: Vec<&Execution> = self
            .executions_of(thing)
            .filter(|execution| execution.status.is_pending())
            .collect();
        pending.sort_by_key(|execution| {
            (
                execution.status != ExecutionStatus::InProgress,
                execution.queue_position,
            )
        });
        pending
    }

    /// Marks the job COMPLETED at `now` when it is IN_PROGRESS and every execution is
    /// terminal.
    pub(crate) fn settle(&mut self, job_id: &str, now: u64) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let done = job.status == JobStatus::InProgress
            && job.things.iter().all(|thing| {
                self.find(thing, job_id)
                    .is_none_or(|execution| execution.status.is_terminal())
            });
        if let (true, Some(job)) = (done, self.jobs.get_mut(job_id)) {
            job.status = JobStatus::Completed;
            job.completed_at = Some(now);
            job.last_updated_at = now;
        }
    }

    /// Runs `change`, then returns the notifications it caused for `things` at `now`.
    pub(crate) fn changing<R>(
        &mut self,
        things: &[String],
        now: u64,
        change: impl FnOnce(&mut Self) -> R,
    ) -> (R, Vec<Notification>) {
        let before: Vec<(String, Vec<String>)> = things
            .iter()
            .map(|thing| (thing.clone(), self.pending_ids(thing)))
            .collect();
        let result = change(self);
        let notifications = before
            .iter()
            .flat_map(|(thing, before)| self.notifications(thing, before, now))
            .collect();
        (result, notifications)
    }
}
