//! The MQTT edge: which topics the service takes, refusals of malformed requests, the
//! broker service, and `jobs.json`.

use super::*;
use crate::mqtt::hooks::Service;
use serde_json::json;

#[test]
fn the_service_takes_requests_and_not_its_own_messages() {
    let service = JobService::new(None).unwrap();
    for topic in [
        "$aws/things/dev/jobs/get",
        "$aws/things/dev/jobs/start-next",
        "$aws/things/dev/jobs/fw/get",
        "$aws/things/dev/jobs/$next/get",
        "$aws/things/dev/jobs/fw/update",
    ] {
        assert!(service.wants(topic), "{topic}");
    }
    for topic in [
        "$aws/things/dev/jobs/get/accepted",
        "$aws/things/dev/jobs/fw/update/rejected",
        "$aws/things/dev/jobs/notify",
        "$aws/things/dev/jobs/notify-next",
        "$aws/things/dev/shadow/get",
        "dev/sensors",
    ] {
        assert!(!service.wants(topic), "{topic}");
    }
    let mut jobs = Jobs::default();
    assert!(
        jobs.handle("$aws/things/dev/jobs/notify", b"{}", T0)
            .is_empty()
    );
}

#[test]
fn malformed_requests_are_rejected_on_their_topic() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "fw", T0);
    let cases = [
        ("get", "{oops", "InvalidJson", None),
        ("start-next", "[1]", "InvalidJson", None),
        ("get", r#"{"clientToken":7}"#, "InvalidRequest", None),
        (
            "fw/update",
            r#"{"clientToken":"t"}"#,
            "InvalidRequest",
            Some("t"),
        ),
        (
            "fw/update",
            r#"{"status":"QUEUED","clientToken":"t"}"#,
            "InvalidRequest",
            Some("t"),
        ),
        (
            "start-next",
            r#"{"statusDetails":[],"clientToken":"t"}"#,
            "InvalidRequest",
            Some("t"),
        ),
        (
            "fw/get",
            r#"{"executionNumber":"1","clientToken":"t"}"#,
            "InvalidRequest",
            Some("t"),
        ),
    ];
    for (op, payload, code, token) in cases {
        let replies = publish(&mut jobs, op, payload, T0 + 2_000);
        let suffix = format!("{op}/rejected");
        assert_eq!(suffixes(&replies), [suffix.as_str()], "{op} {payload}");
        let rejected = body(&replies, &suffix);
        assert_eq!(rejected["code"], code, "{op} {payload}");
        assert_eq!(rejected["clientToken"].as_str(), token, "{op} {payload}");
        assert_eq!(rejected["timestamp"], 1002);
        assert!(rejected["message"].is_string());
    }
    assert_eq!(status_of(&jobs, "fw"), ExecutionStatus::Queued);
    assert_eq!(jobs.execution(THING, "fw").unwrap().version_number, 1);
}

#[test]
fn the_service_answers_with_broker_messages_in_seconds() {
    let service = JobService::new(None).unwrap();
    service
        .lock()
        .create_job(new_job("fw", &[THING]), T0)
        .unwrap();
    let messages = service.on_message(
        "$aws/things/dev/jobs/fw/update",
        br#"{"status":"SUCCEEDED","clientToken":"x"}"#,
        1_500_999,
    );
    let topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "$aws/things/dev/jobs/fw/update/accepted",
            "$aws/things/dev/jobs/notify",
            "$aws/things/dev/jobs/notify-next",
        ]
    );
    assert_eq!(
        messages[0].payload,
        br#"{"timestamp":1500,"clientToken":"x"}"#.to_vec()
    );
    assert_eq!(messages[2].payload, br#"{"timestamp":1500}"#.to_vec());
    // The admin API sees the same jobs.
    assert_eq!(
        service.lock().job("fw").unwrap().status,
        JobStatus::Completed
    );
}

#[test]
fn jobs_survive_a_restart_in_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let service = JobService::new(Some(dir.path())).unwrap();
    {
        let mut jobs = service.lock();
        create(&mut jobs, "j1", T0);
        create(&mut jobs, "j2", T0 + 1);
        publish(&mut jobs, "start-next", "", T0 + 2);
    }
    service.stop();
    let saved = service.lock().clone();

    let again = JobService::new(Some(dir.path())).unwrap();
    assert_eq!(*again.lock(), saved);
    // The queue goes on where it was: j2 is next after j1, and a new job after both.
    let mut jobs = again.lock();
    create(&mut jobs, "j0", T0 + 3);
    report(&mut jobs, "j1", "SUCCEEDED", T0 + 4);
    let next = body(
        &publish(&mut jobs, "$next/get", "", T0 + 5),
        "$next/get/accepted",
    );
    assert_eq!(next["execution"]["jobId"], "j2");
    assert_eq!(
        jobs.execution(THING, "j1").unwrap().version_number,
        3,
        "versions carry on"
    );
    assert_eq!(jobs.job("j1").unwrap().status, JobStatus::Completed);
    assert_eq!(
        serde_json::to_value(jobs.job("j2").unwrap()).unwrap()["status"],
        json!("IN_PROGRESS")
    );
}

#[test]
fn a_broken_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(JOBS_FILE), "{oops").unwrap();
    let error = JobService::new(Some(dir.path())).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}
