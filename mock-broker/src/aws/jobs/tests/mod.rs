//! Tests of the Jobs service, driven at chosen `now` values (Unix ms): `lifecycle` (the
//! device's operations and the execution state machine), `notify` (which notifications
//! each change publishes, AWS's worked example step by step), `control` (creating and
//! cancelling jobs) and `mqtt` (the MQTT edge, the broker service and persistence). The
//! helpers here create jobs, publish requests and read the answers.

mod control;
mod lifecycle;
mod mqtt;
mod notify;

use super::*;
use serde_json::Value;

/// The thing most tests use.
const THING: &str = "dev";

/// A time to start from (Unix ms): 1000 s.
const T0: u64 = 1_000_000;

/// The document of every test job.
const DOCUMENT: &str = r#"{"operation":"reboot"}"#;

/// CreateJob's request for job `id` on `things`.
fn new_job(id: &str, things: &[&str]) -> NewJob {
    NewJob {
        id: id.into(),
        arn: format!("arn:aws:iot:us-east-1:123456789012:job/{id}"),
        targets: things
            .iter()
            .map(|t| format!("arn:aws:iot:us-east-1:123456789012:thing/{t}"))
            .collect(),
        things: things.iter().map(|t| (*t).to_owned()).collect(),
        document: DOCUMENT.into(),
        description: None,
    }
}

/// Creates job `id` for [`THING`] at `now`; returns its notifications.
fn create(jobs: &mut Jobs, id: &str, now: u64) -> Vec<Notification> {
    jobs.create_job(new_job(id, &[THING]), now).unwrap().1
}

/// Publishes `payload` on [`THING`]'s `jobs/<op>` topic at `now`.
fn publish(jobs: &mut Jobs, op: &str, payload: &str, now: u64) -> Vec<Notification> {
    jobs.handle(
        &format!("$aws/things/{THING}/jobs/{op}"),
        payload.as_bytes(),
        now,
    )
}

/// Reports `status` for job `id` of [`THING`] at `now`.
fn report(jobs: &mut Jobs, id: &str, status: &str, now: u64) -> Vec<Notification> {
    publish(
        jobs,
        &format!("{id}/update"),
        &format!(r#"{{"status":"{status}"}}"#),
        now,
    )
}

/// The topics of `replies`, after `.../jobs/`.
fn suffixes(replies: &[Notification]) -> Vec<&str> {
    replies
        .iter()
        .map(|(topic, _)| topic.split_once("/jobs/").map_or("", |(_, rest)| rest))
        .collect()
}

/// The payload of the reply whose topic ends with `/jobs/<suffix>`, parsed.
fn body(replies: &[Notification], suffix: &str) -> Value {
    let wanted = format!("/jobs/{suffix}");
    match replies.iter().find(|(topic, _)| topic.ends_with(&wanted)) {
        Some((_, payload)) => serde_json::from_str(payload).unwrap(),
        None => panic!("no {suffix} in {replies:?}"),
    }
}

/// The status of job `id`'s execution on [`THING`].
fn status_of(jobs: &Jobs, id: &str) -> ExecutionStatus {
    jobs.execution(THING, id).unwrap().status
}
