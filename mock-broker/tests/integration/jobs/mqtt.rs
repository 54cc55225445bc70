//! A device runs jobs over MQTT (rumqttc, mutual TLS, its own policy): notified of a new
//! job, it starts it, is refused a stale update, finishes it, and the control plane sees
//! it SUCCEEDED. Policies decide who may ask and who hears the answers.

use super::*;
use mock_broker::EventKind;
use serde_json::json;

#[tokio::test]
async fn a_device_runs_a_job_from_notify_next_to_succeeded() {
    let aws = Aws::start(None, None).await;
    let (mut device, thing) = jobs_device(&aws, "1A", &jobs_policy("*")).await;
    let prefix = format!("$aws/things/{thing}/jobs");
    subscribe_all(
        &mut device,
        &[
            format!("{prefix}/notify-next"),
            format!("{prefix}/start-next/accepted"),
            format!("{prefix}/+/update/accepted"),
            format!("{prefix}/+/update/rejected"),
        ],
    )
    .await;

    let created = call(
        &aws,
        "PUT",
        "/jobs/fw-1",
        json!({"targets": [thing_arn(&aws, &thing)], "document": r#"{"operation":"upgrade","version":"2.0"}"#}),
    )
    .await;
    created.ok();
    let next = next_on(&mut device, &format!("{prefix}/notify-next")).await;
    assert_eq!(next["execution"]["jobId"], "fw-1");
    assert_eq!(next["execution"]["status"], "QUEUED");
    assert_eq!(
        next["execution"]["jobDocument"],
        json!({"operation": "upgrade", "version": "2.0"})
    );

    let sender = device.client.clone();
    let publish = |topic: String, payload: &str| {
        let client = sender.clone();
        let payload = payload.to_owned();
        async move {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap()
        }
    };
    publish(format!("{prefix}/start-next"), r#"{"clientToken":"s1"}"#).await;
    let started = next_on(&mut device, &format!("{prefix}/start-next/accepted")).await;
    assert_eq!(started["clientToken"], "s1");
    let execution = &started["execution"];
    assert_eq!(
        (
            &execution["jobId"],
            &execution["thingName"],
            &execution["status"],
            &execution["versionNumber"],
            &execution["executionNumber"]
        ),
        (
            &json!("fw-1"),
            &json!(thing),
            &json!("IN_PROGRESS"),
            &json!(2),
            &json!(1)
        )
    );
    assert!(execution["startedAt"].is_u64() && execution["queuedAt"].is_u64());

    publish(
        format!("{prefix}/fw-1/update"),
        r#"{"status":"SUCCEEDED","expectedVersion":1,"clientToken":"u0"}"#,
    )
    .await;
    let stale = next_on(&mut device, &format!("{prefix}/fw-1/update/rejected")).await;
    assert_eq!(stale["code"], "VersionMismatch");
    assert_eq!(stale["clientToken"], "u0");
    assert_eq!(stale["executionState"]["versionNumber"], 2);

    publish(
        format!("{prefix}/fw-1/update"),
        r#"{"status":"SUCCEEDED","expectedVersion":2,"statusDetails":{"firmware":"2.0"},"includeJobExecutionState":true,"clientToken":"u1"}"#,
    )
    .await;
    let done = next_on(&mut device, &format!("{prefix}/fw-1/update/accepted")).await;
    assert_eq!(
        done["executionState"],
        json!({"status": "SUCCEEDED", "statusDetails": {"firmware": "2.0"}, "versionNumber": 3})
    );
    assert_eq!(done["clientToken"], "u1");
    // Nothing is pending any more.
    let next = next_on(&mut device, &format!("{prefix}/notify-next")).await;
    assert!(next.get("execution").is_none(), "{next}");
    assert!(next["timestamp"].is_u64());

    let described = call(
        &aws,
        "GET",
        &format!("/things/{thing}/jobs/fw-1"),
        Value::Null,
    )
    .await;
    let execution = &described.ok()["execution"];
    assert_eq!(execution["status"], "SUCCEEDED");
    assert_eq!(
        execution["statusDetails"],
        json!({"detailsMap": {"firmware": "2.0"}})
    );
    assert_eq!(execution["versionNumber"], 3);
    let job = call(&aws, "GET", "/jobs/fw-1", Value::Null).await;
    let job = &job.ok()["job"];
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job["jobProcessDetails"]["numberOfSucceededThings"], 1);
    assert!(job["completedAt"].is_f64());
}

#[tokio::test]
async fn the_devices_policy_decides_who_may_ask_and_who_hears_the_answers() {
    let mut aws = Aws::start(None, None).await;
    // Receive only the notifications: the answers to its own requests are dropped.
    let (mut device, thing) = jobs_device(&aws, "1B", &jobs_policy("notify*")).await;
    let prefix = format!("$aws/things/{thing}/jobs");
    subscribe_all(
        &mut device,
        &[format!("{prefix}/get/accepted"), format!("{prefix}/notify")],
    )
    .await;
    let mut watcher = aws.watcher("jobs-watcher").await;
    watcher
        .subscribe(&format!("{prefix}/get/accepted"), QoS::AtLeastOnce)
        .await;

    device
        .client
        .publish(format!("{prefix}/get"), QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let answer = next_on(&mut watcher, &format!("{prefix}/get/accepted")).await;
    assert_eq!(answer["queuedJobs"], json!([]));
    let dropped = aws
        .t
        .event("the answer is not delivered to the device", |e| {
            matches!(e, EventKind::DeliveryDropped { message, .. } if message.topic.ends_with("/jobs/get/accepted"))
        })
        .await;
    let EventKind::DeliveryDropped {
        client_id, reason, ..
    } = dropped
    else {
        unreachable!()
    };
    assert_eq!(client_id, thing);
    assert!(reason.starts_with("iot:Receive"), "{reason}");

    // It still receives what it may: a notification of a new job.
    call(
        &aws,
        "PUT",
        "/jobs/fw-2",
        json!({"targets": [thing_arn(&aws, &thing)], "document": "{}"}),
    )
    .await
    .ok();
    let notify = next_on(&mut device, &format!("{prefix}/notify")).await;
    assert_eq!(notify["jobs"]["QUEUED"][0]["jobId"], "fw-2");

    // Asking about another thing's jobs is a denied publish: the connection closes.
    device
        .client
        .publish(
            "$aws/things/someone-else/jobs/get",
            QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .unwrap();
    let denied = aws
        .t
        .event("the publish is denied", |e| {
            matches!(e, EventKind::Denied { .. })
        })
        .await;
    let EventKind::Denied { action, .. } = denied else {
        unreachable!()
    };
    assert!(
        action.contains("topic/$aws/things/someone-else/jobs/get"),
        "{action}"
    );
    assert!(matches!(
        aws.t.closed_reason(&thing).await,
        mock_broker::CloseReason::AuthError { .. }
    ));
}
