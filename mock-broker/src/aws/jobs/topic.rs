//! Jobs MQTT topics: which topics are requests ([`parse_topic`]), the prefix the
//! notifications go under ([`jobs_prefix`]), and which job ids are valid.
//!
//! Requests are published on `$aws/things/<thing>/jobs/get` (GetPendingJobExecutions),
//! `.../jobs/start-next` (StartNextPendingJobExecution), `.../jobs/<jobId>/get`
//! (DescribeJobExecution, `<jobId>` may be `$next`) and `.../jobs/<jobId>/update`
//! (UpdateJobExecution); each is answered on `<request topic>/accepted` or `/rejected`.
//! Notifications go to `.../jobs/notify` and `.../jobs/notify-next` ("Reserved topics",
//! Job topics, <https://docs.aws.amazon.com/iot/latest/developerguide/reserved-topics.html>).
//!
//! The replies are never requests: `jobs/get/accepted` names no operation (`accepted` is
//! not one), and `jobs/<id>/get/accepted` has one segment too many. A job called `get`
//! or `notify` is fine: `jobs/get/get` asks for the execution of job `get`. Topics in the
//! jobs namespace that name no operation are not answered (AWS answers them with
//! `InvalidTopic`; mock-broker leaves them alone, choice). Nothing here reads payloads.

use crate::aws::shadow::valid_thing_name;

/// Longest job id, in bytes (botocore's `JobId`: 1..=64 of `[a-zA-Z0-9_-]`).
pub const MAX_JOB_ID: usize = 64;

/// The job id that means "the next pending execution" in DescribeJobExecution.
pub const NEXT: &str = "$next";

/// Which execution a DescribeJobExecution asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRef<'a> {
    /// `$next`: the next pending one (IN_PROGRESS first, then QUEUED, oldest first).
    Next,
    /// This job's.
    Id(&'a str),
}

/// A Jobs MQTT request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobsRequest<'a> {
    /// `jobs/get`: GetPendingJobExecutions.
    GetPending,
    /// `jobs/start-next`: StartNextPendingJobExecution.
    StartNext,
    /// `jobs/<jobId>/get`: DescribeJobExecution.
    Describe(JobRef<'a>),
    /// `jobs/<jobId>/update`: UpdateJobExecution.
    Update(&'a str),
}

/// A Jobs request topic, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobsTopic<'a> {
    /// The thing name.
    pub thing: &'a str,
    /// What is asked.
    pub request: JobsRequest<'a>,
}

/// Splits a Jobs request topic; `None` for anything else (replies, notifications, invalid
/// thing names or job ids, topics naming no operation).
pub fn parse_topic(topic: &str) -> Option<JobsTopic<'_>> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, rest) = rest.split_once("/jobs/")?;
    if !valid_thing_name(thing) {
        return None;
    }
    let request = match rest.split_once('/') {
        None => match rest {
            "get" => JobsRequest::GetPending,
            "start-next" => JobsRequest::StartNext,
            _ => return None,
        },
        Some((NEXT, "get")) => JobsRequest::Describe(JobRef::Next),
        Some((job, "get")) if valid_job_id(job) => JobsRequest::Describe(JobRef::Id(job)),
        Some((job, "update")) if valid_job_id(job) => JobsRequest::Update(job),
        Some(_) => return None,
    };
    Some(JobsTopic { thing, request })
}

/// `$aws/things/<thing>/jobs`.
pub fn jobs_prefix(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs")
}

/// Whether `id` is a valid job id: 1..=64 bytes of `[a-zA-Z0-9_-]`.
pub fn valid_job_id(id: &str) -> bool {
    (1..=MAX_JOB_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(topic: &str) -> Option<JobsRequest<'_>> {
        parse_topic(topic).map(|t| t.request)
    }

    #[test]
    fn request_topics_parse() {
        assert_eq!(
            parse_topic("$aws/things/dev-1/jobs/get"),
            Some(JobsTopic {
                thing: "dev-1",
                request: JobsRequest::GetPending
            })
        );
        assert_eq!(
            request("$aws/things/d/jobs/start-next"),
            Some(JobsRequest::StartNext)
        );
        assert_eq!(
            request("$aws/things/d/jobs/fw_2/get"),
            Some(JobsRequest::Describe(JobRef::Id("fw_2")))
        );
        assert_eq!(
            request("$aws/things/d/jobs/$next/get"),
            Some(JobsRequest::Describe(JobRef::Next))
        );
        assert_eq!(
            request("$aws/things/d/jobs/fw/update"),
            Some(JobsRequest::Update("fw"))
        );
        // Jobs named like the operations.
        assert_eq!(
            request("$aws/things/d/jobs/get/get"),
            Some(JobsRequest::Describe(JobRef::Id("get")))
        );
        assert_eq!(
            request("$aws/things/d/jobs/notify/update"),
            Some(JobsRequest::Update("notify"))
        );
    }

    #[test]
    fn replies_notifications_and_malformed_topics_are_not_requests() {
        for topic in [
            "$aws/things/d/jobs/get/accepted",
            "$aws/things/d/jobs/get/rejected",
            "$aws/things/d/jobs/start-next/accepted",
            "$aws/things/d/jobs/fw/get/accepted",
            "$aws/things/d/jobs/fw/update/rejected",
            "$aws/things/d/jobs/notify",
            "$aws/things/d/jobs/notify-next",
            "$aws/things/d/jobs/$next/update",
            "$aws/things/d/jobs/bad.id/get",
            "$aws/things/d/jobs//get",
            "$aws/things/d/jobs/fw/delete",
            "$aws/things/a.b/jobs/get",
            "$aws/things//jobs/get",
            "$aws/things/d/shadow/get",
            "d/jobs/get",
        ] {
            assert_eq!(parse_topic(topic), None, "{topic}");
        }
        let longest = "j".repeat(MAX_JOB_ID);
        assert!(parse_topic(&format!("$aws/things/d/jobs/{longest}/get")).is_some());
        let long = "j".repeat(MAX_JOB_ID + 1);
        assert_eq!(parse_topic(&format!("$aws/things/d/jobs/{long}/get")), None);
    }

    #[test]
    fn prefixes_and_ids() {
        assert_eq!(jobs_prefix("t"), "$aws/things/t/jobs");
        assert!(valid_job_id("a-B_9"));
        assert!(!valid_job_id(""));
        assert!(!valid_job_id("a:b"));
        assert!(!valid_job_id(NEXT));
    }
}
