//! Which notifications each change publishes, and what they hold: AWS's worked example
//! from "Jobs notifications", step by step, then the list's cap and CancelJob.

use super::*;
use serde_json::json;

/// The job ids under `status` in a `notify` body.
fn listed(notify: &Value, status: &str) -> Vec<String> {
    notify["jobs"][status]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|s| s["jobId"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn awss_worked_example_publishes_exactly_what_the_guide_shows() {
    let mut jobs = Jobs::default();

    // job1 is created: the list and the next job change.
    let replies = create(&mut jobs, "job1", T0);
    assert_eq!(suffixes(&replies), ["notify", "notify-next"]);
    assert_eq!(
        body(&replies, "notify"),
        json!({"timestamp": 1000, "jobs": {"QUEUED": [{
            "jobId": "job1", "queuedAt": 1000, "lastUpdatedAt": 1000,
            "versionNumber": 1, "executionNumber": 1
        }]}})
    );
    assert_eq!(
        body(&replies, "notify-next"),
        json!({"timestamp": 1000, "execution": {
            "jobId": "job1", "thingName": THING, "jobDocument": {"operation": "reboot"},
            "status": "QUEUED", "queuedAt": 1000, "lastUpdatedAt": 1000,
            "versionNumber": 1, "executionNumber": 1
        }})
    );

    // job2: the list changes, job1 is still next.
    let replies = create(&mut jobs, "job2", T0 + 1_000);
    assert_eq!(suffixes(&replies), ["notify"]);
    assert_eq!(
        listed(&body(&replies, "notify"), "QUEUED"),
        ["job1", "job2"]
    );

    // job1 starts: neither the list nor the next job changes.
    let replies = report(&mut jobs, "job1", "IN_PROGRESS", T0 + 2_000);
    assert_eq!(suffixes(&replies), ["job1/update/accepted"]);

    // job3: the list changes, job1 is still next.
    let replies = create(&mut jobs, "job3", T0 + 3_000);
    assert_eq!(suffixes(&replies), ["notify"]);
    let notify = body(&replies, "notify");
    assert_eq!(listed(&notify, "IN_PROGRESS"), ["job1"]);
    assert_eq!(listed(&notify, "QUEUED"), ["job2", "job3"]);
    assert_eq!(notify["jobs"]["IN_PROGRESS"][0]["startedAt"], 1002);
    assert_eq!(notify["jobs"]["IN_PROGRESS"][0]["versionNumber"], 2);
    // IN_PROGRESS comes first in the document too.
    let (_, text) = replies
        .iter()
        .find(|(t, _)| t.ends_with("/notify"))
        .unwrap();
    assert!(text.find("IN_PROGRESS").unwrap() < text.find("QUEUED").unwrap());

    // job1 succeeds: it leaves the list, and job2 is next.
    let replies = report(&mut jobs, "job1", "SUCCEEDED", T0 + 4_000);
    assert_eq!(
        suffixes(&replies),
        ["job1/update/accepted", "notify", "notify-next"]
    );
    assert_eq!(
        listed(&body(&replies, "notify"), "QUEUED"),
        ["job2", "job3"]
    );
    assert!(
        body(&replies, "notify")["jobs"]
            .get("IN_PROGRESS")
            .is_none()
    );
    let next = body(&replies, "notify-next");
    assert_eq!(next["execution"]["jobId"], "job2");
    assert_eq!(next["execution"]["status"], "QUEUED");

    // job3 jumps ahead: only the next job changes.
    let replies = report(&mut jobs, "job3", "IN_PROGRESS", T0 + 5_000);
    assert_eq!(suffixes(&replies), ["job3/update/accepted", "notify-next"]);
    let next = body(&replies, "notify-next");
    assert_eq!(next["execution"]["jobId"], "job3");
    assert_eq!(next["execution"]["status"], "IN_PROGRESS");
    assert_eq!(next["execution"]["startedAt"], 1005);

    // job2 is rejected: it leaves the list; job3 stays next.
    let replies = report(&mut jobs, "job2", "REJECTED", T0 + 6_000);
    assert_eq!(suffixes(&replies), ["job2/update/accepted", "notify"]);
    assert_eq!(
        body(&replies, "notify")["jobs"],
        json!({"IN_PROGRESS": [{
            "jobId": "job3", "queuedAt": 1003, "startedAt": 1005, "lastUpdatedAt": 1005,
            "versionNumber": 2, "executionNumber": 1
        }]})
    );

    // job3 is force-canceled: the list is empty and nothing is next.
    let (_, replies) = jobs
        .cancel_job(
            "job3",
            Cancel {
                force: true,
                ..Cancel::default()
            },
            T0 + 7_000,
        )
        .unwrap();
    assert_eq!(suffixes(&replies), ["notify", "notify-next"]);
    assert_eq!(replies[0].1, r#"{"timestamp":1007,"jobs":{}}"#);
    assert_eq!(replies[1].1, r#"{"timestamp":1007}"#);
}

#[test]
fn the_list_holds_the_first_ten_pending_executions() {
    let mut jobs = Jobs::default();
    for n in 0..12 {
        create(&mut jobs, &format!("j{n:02}"), T0 + n);
    }
    report(&mut jobs, "j11", "IN_PROGRESS", T0 + 20);
    let notify = jobs.notify_document(THING, T0 + 30);
    let in_progress = listed(&notify, "IN_PROGRESS");
    let queued = listed(&notify, "QUEUED");
    assert_eq!(in_progress, ["j11"]);
    assert_eq!(queued.len(), MAX_LISTED - 1);
    assert_eq!(queued.first().map(String::as_str), Some("j00"));
    assert_eq!(queued.last().map(String::as_str), Some("j08"));
    // get lists them all.
    let all = body(&publish(&mut jobs, "get", "", T0 + 30), "get/accepted");
    assert_eq!(all["queuedJobs"].as_array().unwrap().len(), 11);
}

#[test]
fn each_thing_of_a_job_gets_its_own_notifications() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "solo", T0);
    let (job, replies) = jobs
        .create_job(new_job("fleet", &["a", THING, "a"]), T0 + 1_000)
        .unwrap();
    assert_eq!(job.things, ["a", THING], "duplicates dropped");
    let topics: Vec<&str> = replies.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        [
            "$aws/things/a/jobs/notify",
            "$aws/things/a/jobs/notify-next",
            // THING's next job is still `solo`.
            "$aws/things/dev/jobs/notify",
        ]
    );
}

#[test]
fn cancel_notifies_only_the_things_whose_pending_list_changed() {
    let mut jobs = Jobs::default();
    jobs.create_job(new_job("fw", &["busy", "idle"]), T0)
        .unwrap();
    jobs.handle("$aws/things/busy/jobs/start-next", b"", T0 + 1);

    let (job, replies) = jobs.cancel_job("fw", Cancel::default(), T0 + 2).unwrap();
    assert_eq!(job.status, JobStatus::Canceled);
    let topics: Vec<&str> = replies.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        [
            "$aws/things/idle/jobs/notify",
            "$aws/things/idle/jobs/notify-next"
        ]
    );
    assert_eq!(
        jobs.execution("busy", "fw").unwrap().status,
        ExecutionStatus::InProgress,
        "without force an IN_PROGRESS execution carries on"
    );

    let (job, replies) = jobs
        .cancel_job(
            "fw",
            Cancel {
                force: true,
                ..Cancel::default()
            },
            T0 + 3,
        )
        .unwrap();
    assert!(job.force_canceled);
    let topics: Vec<&str> = replies.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        [
            "$aws/things/busy/jobs/notify",
            "$aws/things/busy/jobs/notify-next"
        ]
    );
    let busy = jobs.execution("busy", "fw").unwrap();
    assert_eq!(
        (busy.status, busy.force_canceled, busy.version_number),
        (ExecutionStatus::Canceled, true, 3)
    );
    let idle = jobs.execution("idle", "fw").unwrap();
    assert_eq!(
        (idle.status, idle.force_canceled, idle.version_number),
        (ExecutionStatus::Canceled, false, 2)
    );
}
