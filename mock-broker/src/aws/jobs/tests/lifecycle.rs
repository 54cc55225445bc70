//! The device's operations: get, start-next, describe, update, and the execution state
//! machine with its versions.

use super::*;
use serde_json::json;

#[test]
fn start_next_starts_the_oldest_queued_execution_and_hands_it_back_until_it_ends() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", T0);
    create(&mut jobs, "j2", T0 + 1_000);

    let replies = publish(
        &mut jobs,
        "start-next",
        r#"{"clientToken":"c1"}"#,
        T0 + 2_500,
    );
    assert_eq!(suffixes(&replies), ["start-next/accepted"]);
    assert_eq!(
        body(&replies, "start-next/accepted"),
        json!({
            "execution": {
                "jobId": "j1",
                "thingName": THING,
                "jobDocument": {"operation": "reboot"},
                "status": "IN_PROGRESS",
                "queuedAt": 1000,
                "startedAt": 1002,
                "lastUpdatedAt": 1002,
                "versionNumber": 2,
                "executionNumber": 1
            },
            "timestamp": 1002,
            "clientToken": "c1"
        })
    );

    // Already IN_PROGRESS: handed back unchanged, its status details too.
    let again = publish(
        &mut jobs,
        "start-next",
        r#"{"statusDetails":{"step":"ignored"}}"#,
        T0 + 9_000,
    );
    let execution = &body(&again, "start-next/accepted")["execution"];
    assert_eq!(execution["jobId"], "j1");
    assert_eq!(execution["versionNumber"], 2);
    assert_eq!(execution["lastUpdatedAt"], 1002);
    assert!(execution.get("statusDetails").is_none());
    assert_eq!(status_of(&jobs, "j2"), ExecutionStatus::Queued);
}

#[test]
fn start_next_sets_the_status_details_of_the_execution_it_starts() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", T0);
    publish(
        &mut jobs,
        "start-next",
        r#"{"statusDetails":{"step":"download"},"stepTimeoutInMinutes":5}"#,
        T0,
    );
    let execution = jobs.execution(THING, "j1").unwrap();
    assert_eq!(execution.status_details["step"], "download");
    assert_eq!(execution.started_at, Some(T0));
}

#[test]
fn start_next_with_nothing_pending_answers_without_an_execution() {
    let mut jobs = Jobs::default();
    let replies = publish(&mut jobs, "start-next", r#"{"clientToken":"c"}"#, T0);
    assert_eq!(
        replies,
        [(
            format!("$aws/things/{THING}/jobs/start-next/accepted"),
            r#"{"timestamp":1000,"clientToken":"c"}"#.to_owned()
        )]
    );
}

#[test]
fn updates_walk_the_state_machine_one_version_each_and_end_in_a_terminal_status() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", T0);
    let update = |jobs: &mut Jobs, payload: &str, now| publish(jobs, "j1/update", payload, now);

    let replies = update(
        &mut jobs,
        r#"{"status":"IN_PROGRESS","statusDetails":{"step":"1"},"expectedVersion":1,"includeJobExecutionState":true,"clientToken":"u1"}"#,
        T0 + 1_000,
    );
    assert_eq!(
        body(&replies, "j1/update/accepted"),
        json!({
            "executionState": {"status": "IN_PROGRESS", "statusDetails": {"step": "1"}, "versionNumber": 2},
            "timestamp": 1001,
            "clientToken": "u1"
        })
    );
    // IN_PROGRESS again is an update too: one more version.
    let replies = update(&mut jobs, r#"{"status":"IN_PROGRESS"}"#, T0 + 2_000);
    assert_eq!(
        body(&replies, "j1/update/accepted"),
        json!({"timestamp": 1002})
    );
    assert_eq!(jobs.execution(THING, "j1").unwrap().version_number, 3);

    let replies = update(
        &mut jobs,
        r#"{"status":"SUCCEEDED","expectedVersion":3,"includeJobDocument":true}"#,
        T0 + 3_000,
    );
    assert_eq!(
        body(&replies, "j1/update/accepted"),
        json!({"jobDocument": {"operation": "reboot"}, "timestamp": 1003})
    );
    let execution = jobs.execution(THING, "j1").unwrap();
    assert_eq!(
        (execution.status, execution.version_number),
        (ExecutionStatus::Succeeded, 4)
    );
    assert_eq!(execution.status_details["step"], "1", "kept when not given");
    let job = jobs.job("j1").unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.completed_at, Some(T0 + 3_000));

    // Terminal: every later update is refused, with the state it ended in.
    for status in ["IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"] {
        let replies = update(
            &mut jobs,
            &format!(r#"{{"status":"{status}","clientToken":"late"}}"#),
            T0 + 4_000,
        );
        assert_eq!(suffixes(&replies), ["j1/update/rejected"], "{status}");
        let rejected = body(&replies, "j1/update/rejected");
        assert_eq!(rejected["code"], "InvalidStateTransition");
        assert_eq!(rejected["clientToken"], "late");
        assert_eq!(
            rejected["executionState"],
            json!({"status": "SUCCEEDED", "statusDetails": {"step": "1"}, "versionNumber": 4})
        );
    }
    assert_eq!(jobs.execution(THING, "j1").unwrap().version_number, 4);
}

#[test]
fn a_queued_execution_may_end_directly_and_rejected_is_terminal() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", T0);
    create(&mut jobs, "j2", T0);
    report(&mut jobs, "j1", "FAILED", T0 + 1);
    assert_eq!(status_of(&jobs, "j1"), ExecutionStatus::Failed);
    assert_eq!(jobs.execution(THING, "j1").unwrap().started_at, None);
    report(&mut jobs, "j2", "REJECTED", T0 + 2);
    let replies = report(&mut jobs, "j2", "IN_PROGRESS", T0 + 3);
    assert_eq!(
        body(&replies, "j2/update/rejected")["code"],
        "InvalidStateTransition"
    );
}

#[test]
fn a_stale_expected_version_is_a_version_mismatch_carrying_the_state() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", T0);
    publish(&mut jobs, "start-next", "", T0);
    let replies = publish(
        &mut jobs,
        "j1/update",
        r#"{"status":"SUCCEEDED","expectedVersion":1,"clientToken":"v"}"#,
        T0 + 5_000,
    );
    assert_eq!(
        body(&replies, "j1/update/rejected"),
        json!({
            "code": "VersionMismatch",
            "message": "expectedVersion 1 is not the execution's version 2",
            "clientToken": "v",
            "timestamp": 1005,
            "executionState": {"status": "IN_PROGRESS", "versionNumber": 2}
        })
    );
    assert_eq!(status_of(&jobs, "j1"), ExecutionStatus::InProgress);
}

#[test]
fn an_update_of_no_execution_is_resource_not_found() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "j1", T0);
    jobs.create_job(new_job("other", &["another-thing"]), T0)
        .unwrap();
    for (op, payload) in [
        ("nope/update", r#"{"status":"SUCCEEDED"}"#),
        ("other/update", r#"{"status":"SUCCEEDED"}"#),
        ("j1/update", r#"{"status":"SUCCEEDED","executionNumber":2}"#),
    ] {
        let replies = publish(&mut jobs, op, payload, T0);
        let rejected = body(&replies, &format!("{op}/rejected"));
        assert_eq!(rejected["code"], "ResourceNotFound", "{op}");
        assert!(rejected.get("executionState").is_none());
    }
    assert_eq!(status_of(&jobs, "j1"), ExecutionStatus::Queued);
}

#[test]
fn describe_answers_an_execution_the_next_one_or_nothing() {
    let mut jobs = Jobs::default();
    let replies = publish(&mut jobs, "$next/get", "", T0);
    assert_eq!(
        body(&replies, "$next/get/accepted"),
        json!({"timestamp": 1000})
    );

    create(&mut jobs, "j1", T0);
    create(&mut jobs, "j2", T0);
    report(&mut jobs, "j2", "IN_PROGRESS", T0);
    let next = body(
        &publish(&mut jobs, "$next/get", "", T0),
        "$next/get/accepted",
    );
    assert_eq!(next["execution"]["jobId"], "j2", "IN_PROGRESS comes first");
    assert_eq!(status_of(&jobs, "j1"), ExecutionStatus::Queued, "only read");

    let described = body(
        &publish(&mut jobs, "j1/get", r#"{"clientToken":"d"}"#, T0),
        "j1/get/accepted",
    );
    assert_eq!(
        described["execution"]["jobDocument"],
        json!({"operation": "reboot"})
    );
    assert_eq!(described["clientToken"], "d");
    let without = body(
        &publish(&mut jobs, "j1/get", r#"{"includeJobDocument":false}"#, T0),
        "j1/get/accepted",
    );
    assert!(without["execution"].get("jobDocument").is_none());

    report(&mut jobs, "j1", "SUCCEEDED", T0);
    let ended = body(&publish(&mut jobs, "j1/get", "", T0), "j1/get/accepted");
    assert_eq!(ended["execution"]["status"], "SUCCEEDED");

    for (op, payload) in [("nope/get", ""), ("j1/get", r#"{"executionNumber":7}"#)] {
        let replies = publish(&mut jobs, op, payload, T0);
        assert_eq!(
            body(&replies, &format!("{op}/rejected"))["code"],
            "ResourceNotFound",
            "{op}"
        );
    }
}

#[test]
fn get_lists_in_progress_then_queued_summaries_in_queue_order() {
    let mut jobs = Jobs::default();
    let empty = body(&publish(&mut jobs, "get", "", T0), "get/accepted");
    assert_eq!(
        empty,
        json!({"inProgressJobs": [], "queuedJobs": [], "timestamp": 1000})
    );
    for (n, id) in ["j1", "j2", "j3", "j4"].into_iter().enumerate() {
        create(&mut jobs, id, T0 + 1_000 * n as u64);
    }
    report(&mut jobs, "j3", "IN_PROGRESS", T0 + 5_000);
    report(&mut jobs, "j4", "SUCCEEDED", T0 + 6_000);
    let replies = publish(&mut jobs, "get", r#"{"clientToken":"g"}"#, T0 + 7_000);
    let listed = body(&replies, "get/accepted");
    let ids = |key: &str| -> Vec<String> {
        listed[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["jobId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("inProgressJobs"), ["j3"]);
    assert_eq!(ids("queuedJobs"), ["j1", "j2"]);
    assert_eq!(
        listed["inProgressJobs"][0],
        json!({
            "jobId": "j3",
            "queuedAt": 1002,
            "startedAt": 1005,
            "lastUpdatedAt": 1005,
            "versionNumber": 2,
            "executionNumber": 1
        })
    );
    assert_eq!(listed["clientToken"], "g");
    assert_eq!(
        suffixes(&replies),
        ["get/accepted"],
        "a read publishes nothing else"
    );
}
