//! The admin API's Jobs operations, driven through their router against a running broker:
//! botocore's paths, members and shapes, AWS's exceptions, paging, the notifications a
//! change publishes on MQTT, the SigV4 scope, and the routes served beside the rest of the
//! admin API by `AdminApi::start_with_data`.

use super::*;
use serde_json::json;

#[tokio::test]
async fn create_job_answers_botocores_shapes_and_notifies_the_targets() {
    let aws = Aws::start(None, None).await;
    create_things(&aws, &["lamp-1", "lamp-2"]);
    let mut watcher = aws.watcher("jobs-admin-watcher").await;
    watcher
        .subscribe("$aws/things/+/jobs/notify-next", QoS::AtLeastOnce)
        .await;
    let (arn1, arn2) = (thing_arn(&aws, "lamp-1"), thing_arn(&aws, "lamp-2"));

    let created = call(
        &aws,
        "PUT",
        "/jobs/fw-1",
        json!({
            "targets": [arn1, arn2],
            "document": r#"{"operation":"reboot"}"#,
            "description": "reboot the lamps",
            "targetSelection": "SNAPSHOT",
            "tags": [{"Key": "team", "Value": "hil"}]
        }),
    )
    .await;
    assert_eq!(
        created.ok(),
        &json!({
            "jobArn": "arn:aws:iot:us-east-1:123456789012:job/fw-1",
            "jobId": "fw-1",
            "description": "reboot the lamps"
        })
    );
    for thing in ["lamp-1", "lamp-2"] {
        let next = next_on(
            &mut watcher,
            &format!("$aws/things/{thing}/jobs/notify-next"),
        )
        .await;
        assert_eq!(next["execution"]["jobId"], "fw-1", "{thing}");
    }

    let described = call(&aws, "GET", "/jobs/fw-1", Value::Null).await;
    let job = &described.ok()["job"];
    assert_eq!(job["jobArn"], "arn:aws:iot:us-east-1:123456789012:job/fw-1");
    assert_eq!(job["status"], "IN_PROGRESS");
    assert_eq!(job["targetSelection"], "SNAPSHOT");
    assert_eq!(job["targets"], json!([arn1, arn2]));
    assert_eq!(job["description"], "reboot the lamps");
    assert_eq!(job["forceCanceled"], false);
    assert_eq!(job["isConcurrent"], false);
    assert_eq!(job["jobProcessDetails"]["numberOfQueuedThings"], 2);
    assert_eq!(job["jobProcessDetails"]["numberOfSucceededThings"], 0);
    assert!(job["createdAt"].as_f64().unwrap() > 1_700_000_000.0);
    assert!(job.get("completedAt").is_none());

    let document = call(&aws, "GET", "/jobs/fw-1/job-document", Value::Null).await;
    assert_eq!(
        document.ok(),
        &json!({"document": r#"{"operation":"reboot"}"#})
    );

    let execution = call(&aws, "GET", "/things/lamp-2/jobs/fw-1", Value::Null).await;
    let execution = &execution.ok()["execution"];
    assert_eq!(execution["jobId"], "fw-1");
    assert_eq!(execution["status"], "QUEUED");
    assert_eq!(execution["thingArn"], arn2);
    assert_eq!(execution["statusDetails"], json!({"detailsMap": {}}));
    assert_eq!(
        (&execution["versionNumber"], &execution["executionNumber"]),
        (&json!(1), &json!(1))
    );
    assert!(execution["queuedAt"].is_f64());
    assert!(execution.get("startedAt").is_none());
    let numbered = call(
        &aws,
        "GET",
        "/things/lamp-2/jobs/fw-1?executionNumber=1",
        Value::Null,
    )
    .await;
    numbered.ok();
}

#[tokio::test]
async fn create_job_refuses_with_awss_exceptions_and_creates_nothing() {
    let aws = Aws::start(None, None).await;
    create_things(&aws, &["lamp"]);
    let lamp = thing_arn(&aws, "lamp");
    let doc = r#"{"operation":"reboot"}"#;
    call(
        &aws,
        "PUT",
        "/jobs/taken",
        json!({"targets": [lamp], "document": doc}),
    )
    .await
    .ok();

    let taken = call(
        &aws,
        "PUT",
        "/jobs/taken",
        json!({"targets": [lamp], "document": doc}),
    )
    .await;
    taken.assert_error(409, "ResourceAlreadyExistsException");
    assert_eq!(taken.json["resourceId"], "taken");
    assert_eq!(
        taken.json["resourceArn"],
        "arn:aws:iot:us-east-1:123456789012:job/taken"
    );

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/jobs/j",
            json!({"targets": [thing_arn(&aws, "nobody")], "document": doc}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/jobs/j",
            json!({"targets": ["arn:aws:iot:us-east-1:123456789012:thinggroup/lamps"], "document": doc}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/jobs/j",
            json!({"targets": ["arn:aws:iot:eu-west-1:123456789012:thing/lamp"], "document": doc}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/jobs/j",
            json!({"targets": ["lamp"], "document": doc}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!({"targets": [], "document": doc}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!({"document": doc}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!({"targets": [lamp]}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!({"targets": [lamp], "document": "not json"}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!({"targets": [lamp], "document": doc, "targetSelection": "CONTINUOUS"}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!({"targets": [lamp], "documentSource": "https://s3.amazonaws.com/b/k"}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!({"targets": [lamp], "document": doc, "abortConfig": {"criteriaList": []}}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!({"targets": [lamp], "document": doc, "timeoutConfig": {"inProgressTimeoutInMinutes": 5}}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/bad.id",
            json!({"targets": [lamp], "document": doc}),
            400,
            "InvalidRequestException",
        ),
        (
            "/jobs/j",
            json!("not an object"),
            400,
            "InvalidRequestException",
        ),
    ];
    for (uri, body, status, exception) in cases {
        let reply = call(&aws, "PUT", uri, body.clone()).await;
        assert_eq!(
            (reply.status.as_u16(), reply.error_type.as_deref()),
            (status, Some(exception)),
            "{uri} {body}: {}",
            reply.json
        );
        assert!(reply.json["message"].is_string(), "{}", reply.json);
    }
    let jobs = call(&aws, "GET", "/jobs", Value::Null).await;
    assert_eq!(jobs.ok()["jobs"].as_array().unwrap().len(), 1);
    assert!(aws.plane.jobs().lock().execution("lamp", "j").is_err());
}

#[tokio::test]
async fn the_lists_page_with_next_token_and_filter() {
    let aws = Aws::start(None, None).await;
    create_things(&aws, &["lamp"]);
    let lamp = thing_arn(&aws, "lamp");
    for id in ["e", "c", "a", "d", "b"] {
        call(
            &aws,
            "PUT",
            &format!("/jobs/{id}"),
            json!({"targets": [lamp], "document": "{}"}),
        )
        .await
        .ok();
    }
    // The device reports job c FAILED (the broker publishes its request).
    aws.t.broker.publish(
        "$aws/things/lamp/jobs/c/update",
        r#"{"status":"FAILED"}"#,
        QoS::AtLeastOnce,
        false,
    );

    let pages = |base: &'static str, key: &'static str| {
        let aws = &aws;
        async move {
            let mut seen = Vec::new();
            let mut uri = format!("{base}maxResults=2");
            loop {
                let page = call(aws, "GET", &uri, Value::Null).await;
                let items = page.ok()[key].as_array().unwrap().clone();
                assert!(items.len() <= 2, "{uri}");
                seen.extend(items);
                match page.json["nextToken"].as_str() {
                    Some(token) => uri = format!("{base}maxResults=2&nextToken={token}"),
                    None => return seen,
                }
            }
        }
    };
    let ids = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|i| i["jobId"].as_str().unwrap().to_owned())
            .collect()
    };
    let jobs = pages("/jobs?", "jobs").await;
    assert_eq!(ids(&jobs), ["a", "b", "c", "d", "e"]);
    assert_eq!(jobs[2]["status"], "COMPLETED");
    assert!(jobs[2]["completedAt"].is_f64());
    let executions = pages("/things/lamp/jobs?", "executionSummaries").await;
    assert_eq!(ids(&executions), ["a", "b", "c", "d", "e"]);
    assert_eq!(executions[2]["jobExecutionSummary"]["status"], "FAILED");
    assert_eq!(executions[0]["jobExecutionSummary"]["executionNumber"], 1);

    let filtered = pages("/things/lamp/jobs?status=QUEUED&", "executionSummaries").await;
    assert_eq!(ids(&filtered), ["a", "b", "d", "e"]);
    let one = pages("/things/lamp/jobs?jobId=d&", "executionSummaries").await;
    assert_eq!(ids(&one), ["d"]);
    let completed = pages("/jobs?status=COMPLETED&", "jobs").await;
    assert_eq!(ids(&completed), ["c"]);
    assert!(
        pages("/jobs?targetSelection=CONTINUOUS&", "jobs")
            .await
            .is_empty()
    );
    assert!(
        pages("/things/stranger/jobs?", "executionSummaries")
            .await
            .is_empty()
    );

    for (uri, status, exception) in [
        ("/jobs?status=DONE", 400, "InvalidRequestException"),
        ("/jobs?maxResults=0", 400, "InvalidRequestException"),
        ("/jobs?maxResults=251", 400, "InvalidRequestException"),
        ("/jobs?nextToken=zz", 400, "InvalidRequestException"),
        (
            "/jobs?thingGroupName=lamps",
            404,
            "ResourceNotFoundException",
        ),
        ("/jobs?namespaceId=ns", 400, "InvalidRequestException"),
        (
            "/things/lamp/jobs?status=DONE",
            400,
            "InvalidRequestException",
        ),
        ("/things/a.b/jobs", 400, "InvalidRequestException"),
    ] {
        call(&aws, "GET", uri, Value::Null)
            .await
            .assert_error(status, exception);
    }
    // A token of one thing's list is refused for another's.
    let first = call(&aws, "GET", "/things/lamp/jobs?maxResults=1", Value::Null).await;
    let token = first.ok()["nextToken"].as_str().unwrap().to_owned();
    create_things(&aws, &["other"]);
    call(
        &aws,
        "GET",
        &format!("/things/other/jobs?nextToken={token}"),
        Value::Null,
    )
    .await
    .assert_error(400, "InvalidRequestException");
}

#[tokio::test]
async fn cancel_job_cancels_queued_executions_and_notifies_their_devices() {
    let aws = Aws::start(None, None).await;
    create_things(&aws, &["lamp"]);
    let mut watcher = aws.watcher("jobs-cancel-watcher").await;
    watcher
        .subscribe("$aws/things/lamp/jobs/notify", QoS::AtLeastOnce)
        .await;
    call(
        &aws,
        "PUT",
        "/jobs/fw",
        json!({"targets": [thing_arn(&aws, "lamp")], "document": "{}", "description": "d"}),
    )
    .await
    .ok();
    let queued = next_on(&mut watcher, "$aws/things/lamp/jobs/notify").await;
    assert_eq!(queued["jobs"]["QUEUED"][0]["jobId"], "fw");

    let canceled = call(
        &aws,
        "PUT",
        "/jobs/fw/cancel?force=false",
        json!({"reasonCode": "BAD_BUILD", "comment": "rolled back"}),
    )
    .await;
    assert_eq!(
        canceled.ok(),
        &json!({"jobArn": "arn:aws:iot:us-east-1:123456789012:job/fw", "jobId": "fw", "description": "d"})
    );
    let emptied = next_on(&mut watcher, "$aws/things/lamp/jobs/notify").await;
    assert_eq!(emptied["jobs"], json!({}));

    let job = call(&aws, "GET", "/jobs/fw", Value::Null).await;
    let job = &job.ok()["job"];
    assert_eq!(
        (
            &job["status"],
            &job["reasonCode"],
            &job["comment"],
            &job["forceCanceled"]
        ),
        (
            &json!("CANCELED"),
            &json!("BAD_BUILD"),
            &json!("rolled back"),
            &json!(false)
        )
    );
    assert_eq!(job["jobProcessDetails"]["numberOfCanceledThings"], 1);
    let execution = call(&aws, "GET", "/things/lamp/jobs/fw", Value::Null).await;
    assert_eq!(execution.ok()["execution"]["status"], "CANCELED");
    assert_eq!(execution.json["execution"]["versionNumber"], 2);

    for (method, uri, status, exception) in [
        ("PUT", "/jobs/nope/cancel", 404, "ResourceNotFoundException"),
        ("GET", "/jobs/nope", 404, "ResourceNotFoundException"),
        (
            "GET",
            "/jobs/nope/job-document",
            404,
            "ResourceNotFoundException",
        ),
        (
            "GET",
            "/things/lamp/jobs/nope",
            404,
            "ResourceNotFoundException",
        ),
        (
            "GET",
            "/things/lamp/jobs/fw?executionNumber=2",
            404,
            "ResourceNotFoundException",
        ),
        (
            "PUT",
            "/jobs/fw/cancel?force=maybe",
            400,
            "InvalidRequestException",
        ),
        // DeleteJob is not part of the subset.
        ("DELETE", "/jobs/fw", 400, "InvalidRequestException"),
    ] {
        call(&aws, method, uri, Value::Null)
            .await
            .assert_error(status, exception);
    }
}

#[tokio::test]
async fn jobs_are_signed_for_iot_and_changes_need_the_broker() {
    let aws = Aws::start(None, None).await;
    create_things(&aws, &["lamp"]);
    let lamp = thing_arn(&aws, "lamp");
    let signed = |scope: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/{scope}/aws4_request, SignedHeaders=host, Signature=00"
        )
    };
    let iot = signed("us-east-1/iot");
    call_with(
        &aws,
        "GET",
        "/jobs",
        &[("authorization", &iot)],
        Value::Null,
    )
    .await
    .ok();
    let data = signed("us-east-1/iotdata");
    call_with(
        &aws,
        "GET",
        "/jobs",
        &[("authorization", &data)],
        Value::Null,
    )
    .await
    .assert_error(403, "InvalidSignatureException");

    let api = JobsApi {
        plane: aws.plane.clone(),
        broker: aws.t.broker.handle(),
    };
    let Aws { t, plane, .. } = aws;
    t.broker.shutdown().await;
    let request = Request::builder()
        .method("PUT")
        .uri("/jobs/late")
        .body(Body::from(
            json!({"targets": [lamp], "document": "{}"}).to_string(),
        ))
        .unwrap();
    let response = jobs::router(api).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(plane.jobs().lock().job("late").is_err(), "nothing created");
}

#[tokio::test]
async fn start_with_data_serves_the_jobs_beside_the_rest_of_the_admin_api() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let aws = Aws::start(None, None).await;
    let api = mock_broker::aws::admin_api::AdminApi::start_with_data(
        "127.0.0.1:0".parse().unwrap(),
        aws.plane.clone(),
        aws.t.broker.handle(),
    )
    .await
    .unwrap();
    for (path, expected) in [
        ("/jobs", r#"{"jobs":[]}"#),
        ("/things/lamp/jobs", r#"{"executionSummaries":[]}"#),
        ("/things", r#"{"things":[]}"#),
    ] {
        let mut stream = tokio::net::TcpStream::connect(api.local_addr())
            .await
            .unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(crate::support::WAIT, stream.read_to_string(&mut response))
            .await
            .unwrap()
            .unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
        assert!(response.ends_with(expected), "{path}: {response}");
    }
}
