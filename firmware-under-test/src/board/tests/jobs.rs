//! AWS IoT Jobs: `start-next` after connecting and on `notify-next`, the job document
//! applied, the outcome reported with the execution's version and a client token.

use super::*;
use std::format;

const PERIOD_5S: &str = r#"{"operation":"set_telemetry_period","period_ms":5000}"#;

fn topic(tail: &str) -> String {
    format!("$aws/things/{THING}/jobs/{tail}")
}

/// A QoS 1 message from the Jobs service on `jobs/<tail>`.
fn deliver(rig: &mut Rig, tail: &str, payload: &str) -> Vec<Action> {
    let topic = topic(tail);
    rig.feed(Input::Publish {
        topic: &topic,
        payload: payload.as_bytes(),
        qos: Qos::AtLeastOnce,
        pkid: 40,
    })
}

/// The publishes among `actions`: (topic, payload).
fn sent(actions: &[Action]) -> Vec<(String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::MqttPublish { topic, payload, .. } => {
                Some((String::from(topic.as_str()), String::from(payload.as_str())))
            }
            _ => None,
        })
        .collect()
}

fn request(tail: &str, payload: &str) -> Vec<(String, String)> {
    std::vec![(topic(tail), String::from(payload))]
}

/// The answer to `start-next` with `token`, holding an execution as the service sends it.
fn execution(token: &str, job: &str, version: u32, document: &str) -> String {
    format!(
        r#"{{"clientToken":"{token}","execution":{{"jobId":"{job}","thingName":"{THING}","jobDocument":{document},"status":"IN_PROGRESS","queuedAt":1,"startedAt":2,"lastUpdatedAt":2,"versionNumber":{version},"executionNumber":1}},"timestamp":2}}"#
    )
}

fn notify_next(job: &str) -> String {
    format!(
        r#"{{"timestamp":1,"execution":{{"jobId":"{job}","thingName":"{THING}","jobDocument":{PERIOD_5S},"status":"QUEUED","queuedAt":1,"lastUpdatedAt":1,"versionNumber":1,"executionNumber":1}}}}"#
    )
}

/// The times of telemetry publishes among `actions`, from `since`.
fn telemetry_times(actions: &[(u64, Action)], since: u64) -> Vec<u64> {
    publishes(actions)
        .iter()
        .filter(|p| p.1.ends_with("/sensors"))
        .map(|p| p.0 - since)
        .collect()
}

#[test]
fn a_job_is_started_applied_and_reported_succeeded() {
    let mut rig = Rig::new(provisioned());
    let connected = rig.connect();
    assert!(
        sent(&connected).contains(&request("start-next", r#"{"clientToken":"r1"}"#)[0]),
        "{connected:?}"
    );
    let started = deliver(
        &mut rig,
        "start-next/accepted",
        &execution("r1", "job-1", 2, PERIOD_5S),
    );
    assert!(has(&started, &Action::MqttPubAck { pkid: 40 }));
    assert_eq!(
        sent(&started),
        request(
            "job-1/update",
            r#"{"status":"SUCCEEDED","statusDetails":{"period_ms":"5000"},"expectedVersion":2,"clientToken":"r2"}"#
        )
    );
    assert!(started.iter().any(|a| matches!(a,
        Action::MqttPublish { qos: Qos::AtLeastOnce, topic, .. } if topic.ends_with("/update"))));
    // Telemetry comes every 5 s from the job on.
    let since = rig.now.millis();
    let later = rig.run_until(since + 16_000);
    assert_eq!(telemetry_times(&later, since), [5000, 10_000, 15_000]);
    // The answer is logged, and the next job is asked for when notify-next names one.
    deliver(
        &mut rig,
        "job-1/update/accepted",
        r#"{"clientToken":"r2","timestamp":3}"#,
    );
    assert!(rig.console().contains("[I] jobs: job-1 reported SUCCEEDED"));
    let next = deliver(&mut rig, "notify-next", &notify_next("job-2"));
    assert_eq!(
        sent(&next),
        request("start-next", r#"{"clientToken":"r3"}"#)
    );
    // A notify-next with nothing pending asks for nothing.
    deliver(
        &mut rig,
        "start-next/accepted",
        r#"{"clientToken":"r3","timestamp":4}"#,
    );
    assert!(sent(&deliver(&mut rig, "notify-next", r#"{"timestamp":5}"#)).is_empty());
}

#[test]
fn a_document_it_cannot_apply_fails_and_an_unknown_operation_is_rejected() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    let too_fast = r#"{"operation":"set_telemetry_period","period_ms":50}"#;
    let failed = deliver(
        &mut rig,
        "start-next/accepted",
        &execution("r1", "too-fast", 7, too_fast),
    );
    assert_eq!(
        sent(&failed),
        request(
            "too-fast/update",
            r#"{"status":"FAILED","statusDetails":{"reason":"period_ms must be a whole number from 100 to 3600000"},"expectedVersion":7,"clientToken":"r2"}"#
        )
    );
    // The period is unchanged.
    let since = rig.now.millis();
    let later = rig.run_until(since + 3000);
    assert_eq!(telemetry_times(&later, since), [1000, 2000, 3000]);
    deliver(
        &mut rig,
        "too-fast/update/accepted",
        r#"{"clientToken":"r2"}"#,
    );
    assert!(rig.console().contains("jobs: too-fast reported FAILED"));

    deliver(&mut rig, "notify-next", &notify_next("reboot"));
    let rejected = deliver(
        &mut rig,
        "start-next/accepted",
        &execution("r3", "reboot", 2, r#"{"operation":"reboot"}"#),
    );
    assert_eq!(
        sent(&rejected),
        request(
            "reboot/update",
            r#"{"status":"REJECTED","statusDetails":{"reason":"unknown operation"},"expectedVersion":2,"clientToken":"r4"}"#
        )
    );
}

#[test]
fn answers_to_other_requests_are_ignored() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    // start-next (r1) is under way: notify-next asks for nothing more, and an answer with
    // another token changes nothing.
    assert!(sent(&deliver(&mut rig, "notify-next", &notify_next("job-1"))).is_empty());
    let stale = deliver(
        &mut rig,
        "start-next/accepted",
        &execution("r0", "job-1", 2, PERIOD_5S),
    );
    assert!(sent(&stale).is_empty(), "{stale:?}");
    let reported = deliver(
        &mut rig,
        "start-next/accepted",
        &execution("r1", "job-1", 2, PERIOD_5S),
    );
    assert_eq!(sent(&reported).len(), 1);
    // Answers for another job, or to an earlier request, are not the update's.
    deliver(&mut rig, "job-9/update/accepted", r#"{"clientToken":"r2"}"#);
    deliver(&mut rig, "job-1/update/accepted", r#"{"clientToken":"r1"}"#);
    deliver(&mut rig, "job-1/update/accepted", r#"{"timestamp":1}"#);
    assert!(!rig.console().contains("reported"));
    // A repeated start-next answer (redelivered) is not applied twice.
    let again = deliver(
        &mut rig,
        "start-next/accepted",
        &execution("r1", "job-1", 2, PERIOD_5S),
    );
    assert!(sent(&again).is_empty(), "{again:?}");
    deliver(&mut rig, "job-1/update/accepted", r#"{"clientToken":"r2"}"#);
    assert!(rig.console().contains("jobs: job-1 reported SUCCEEDED"));
}

#[test]
fn rejected_requests_are_logged_and_forgotten() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    deliver(
        &mut rig,
        "start-next/rejected",
        r#"{"code":"InvalidRequest","message":"x","clientToken":"r1"}"#,
    );
    assert!(
        rig.console()
            .contains("[W] jobs: start-next rejected: InvalidRequest")
    );
    deliver(&mut rig, "notify-next", &notify_next("job-1"));
    deliver(
        &mut rig,
        "start-next/accepted",
        &execution("r2", "job-1", 2, PERIOD_5S),
    );
    deliver(
        &mut rig,
        "job-1/update/rejected",
        r#"{"code":"VersionMismatch","clientToken":"r3","executionState":{"status":"IN_PROGRESS","versionNumber":3}}"#,
    );
    assert!(
        rig.console()
            .contains("[W] jobs: job-1 update to SUCCEEDED rejected: VersionMismatch")
    );
    let next = deliver(&mut rig, "notify-next", &notify_next("job-2"));
    assert_eq!(
        sent(&next),
        request("start-next", r#"{"clientToken":"r4"}"#)
    );
}

#[test]
fn nothing_happens_while_disconnected() {
    let offline = |rig: &mut Rig| {
        for tail in [
            "notify-next",
            "start-next/accepted",
            "job-1/update/accepted",
        ] {
            let actions = deliver(rig, tail, &execution("r1", "job-1", 2, PERIOD_5S));
            assert!(
                !actions
                    .iter()
                    .any(|a| matches!(a, Action::MqttPublish { .. } | Action::MqttPubAck { .. })),
                "{tail}: {actions:?}"
            );
        }
    };
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    offline(&mut rig);
    rig.connect();
    rig.feed(Input::TransportClosed);
    offline(&mut rig);
    // Not applied either: after reconnecting, telemetry still comes every second.
    let since = rig.now.millis();
    let later = rig.run_until(since + 2000);
    assert!(later.iter().any(|(_, a)| *a == Action::OpenTransport));
    rig.feed(Input::TransportUp);
    let connected = rig.feed(Input::ConnAck {
        accepted: true,
        session_present: false,
    });
    let at = rig.now.millis();
    assert_eq!(sent(&connected)[0].0, topic("start-next"));
    let later = rig.run_until(at + 2000);
    assert_eq!(telemetry_times(&later, at), [1000, 2000]);
}

#[test]
fn a_job_queued_while_offline_is_picked_up_after_reconnecting() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    rig.feed(Input::SubAck { pkid: 1 });
    // Nothing pending at first.
    let nothing = deliver(
        &mut rig,
        "start-next/accepted",
        r#"{"clientToken":"r1","timestamp":1}"#,
    );
    assert!(sent(&nothing).is_empty());
    // The connection drops; the job is queued meanwhile (its notify-next reaches nobody).
    rig.feed(Input::TransportClosed);
    let opening = rig.run_until(rig.now.millis() + 2000);
    assert!(opening.iter().any(|(_, a)| *a == Action::OpenTransport));
    rig.feed(Input::TransportUp);
    let resumed = rig.feed(Input::ConnAck {
        accepted: true,
        session_present: true,
    });
    assert!(
        !resumed
            .iter()
            .any(|a| matches!(a, Action::MqttSubscribe { .. })),
        "a resumed session keeps the jobs subscriptions: {resumed:?}"
    );
    assert!(sent(&resumed).contains(&request("start-next", r#"{"clientToken":"r2"}"#)[0]));
    let reported = deliver(
        &mut rig,
        "start-next/accepted",
        &execution("r2", "while-away", 2, PERIOD_5S),
    );
    assert_eq!(
        sent(&reported),
        request(
            "while-away/update",
            r#"{"status":"SUCCEEDED","statusDetails":{"period_ms":"5000"},"expectedVersion":2,"clientToken":"r3"}"#
        )
    );
}

#[test]
fn any_bytes_on_the_jobs_topics_are_survived() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    let real = execution("r1", "job-1", 2, PERIOD_5S);
    let mut payloads: Vec<Vec<u8>> = (0..real.len())
        .map(|end| real.as_bytes()[..end].to_vec())
        .collect();
    for bad in [
        &b"\xff\xfe\x00"[..],
        b"{\"clientToken\":\"r1\",\"execution\":{\"jobId\":\"job\\\"1\"}}",
        b"{\"clientToken\":\"r1\",\"execution\":{\"jobId\":\"job-1\",\"versionNumber\":-1}}",
        b"{\"clientToken\":\"r1\",\"execution\":[]}",
        b"{\"clientToken\":\"r1\",\"execution\":{\"jobId\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
    ] {
        payloads.push(bad.to_vec());
    }
    for payload in &payloads {
        for tail in [
            "notify-next",
            "start-next/accepted",
            "start-next/rejected",
            "job-1/update/accepted",
            "/update/rejected",
            "x",
        ] {
            let topic = topic(tail);
            rig.feed(Input::Publish {
                topic: &topic,
                payload,
                qos: Qos::AtMostOnce,
                pkid: 0,
            });
        }
    }
    assert!(rig.board.is_connected());
}
