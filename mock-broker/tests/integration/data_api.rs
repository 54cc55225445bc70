//! The HTTP data plane (`iot-data`), driven through its router against a running broker:
//! Publish reaching MQTT subscribers, retained messages, shadows over HTTP publishing the
//! same MQTT notifications as MQTT requests, AWS's exceptions, paging, the SigV4 service
//! check; and boto3's `iot-data` client driving it all (ignored unless asked for: it needs
//! python3 with boto3).

use crate::aws_fixture::Aws;
use crate::support::Client;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use mock_broker::aws::data_api::{self, DataPlane};
use rumqttc::QoS;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    error_type: Option<String>,
    json: Value,
}

fn data(aws: &Aws) -> DataPlane {
    DataPlane {
        plane: aws.plane.clone(),
        broker: aws.t.broker.handle(),
    }
}

async fn call_with(
    aws: &Aws,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = data_api::router(data(aws))
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        error_type,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn call(aws: &Aws, method: &str, uri: &str, body: impl Into<Body>) -> Reply {
    call_with(aws, method, uri, &[], body).await
}

fn error_of(reply: &Reply) -> (StatusCode, &str) {
    (reply.status, reply.error_type.as_deref().unwrap_or(""))
}

async fn subscriber(aws: &Aws, name: &str, filter: &str) -> Client {
    let mut client = aws.watcher(name).await;
    client.subscribe(filter, QoS::AtLeastOnce).await;
    client
}

#[tokio::test]
async fn publish_over_http_reaches_mqtt_subscribers_and_keeps_retained_messages() {
    let aws = Aws::start(None, None).await;
    let mut sub = subscriber(&aws, "http-sub", "lab/#").await;

    let reply = call(&aws, "POST", "/topics/lab%2Fcmd?qos=1", "reboot").await;
    assert_eq!(reply.status, StatusCode::OK);
    let message = sub.message().await;
    assert_eq!(
        (message.topic.as_str(), &message.payload[..], message.qos),
        ("lab/cmd", &b"reboot"[..], QoS::AtLeastOnce)
    );

    for (topic, payload) in [("lab/a", "one"), ("lab/b", "two"), ("lab/c", "three")] {
        let uri = format!("/topics/{}?qos=0&retain=true", topic.replace('/', "%2F"));
        assert_eq!(
            call(&aws, "POST", &uri, payload).await.status,
            StatusCode::OK
        );
    }
    let retained = call(&aws, "GET", "/retainedMessage/lab%2Fb", Body::empty()).await;
    assert_eq!(retained.status, StatusCode::OK);
    assert_eq!(retained.json["topic"], "lab/b");
    assert_eq!(retained.json["qos"], 0);
    let payload = base64::engine::general_purpose::STANDARD
        .decode(retained.json["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(payload, b"two");
    assert!(retained.json["lastModifiedTime"].as_u64().unwrap() > 1_700_000_000_000);

    // Paged by topic, two to a page.
    let mut topics = Vec::new();
    let mut uri = "/retainedMessage?maxResults=2".to_owned();
    loop {
        let page = call(&aws, "GET", &uri, Body::empty()).await;
        let items = page.json["retainedTopics"].as_array().unwrap().clone();
        assert!(items.len() <= 2);
        topics.extend(items.iter().map(|i| {
            (
                i["topic"].as_str().unwrap().to_owned(),
                i["payloadSize"].as_u64().unwrap(),
            )
        }));
        match page.json["nextToken"].as_str() {
            Some(token) => uri = format!("/retainedMessage?maxResults=2&nextToken={token}"),
            None => break,
        }
    }
    assert_eq!(
        topics,
        [
            ("lab/a".to_owned(), 3),
            ("lab/b".to_owned(), 3),
            ("lab/c".to_owned(), 5)
        ]
    );
    let missing = call(&aws, "GET", "/retainedMessage/lab%2Fnone", Body::empty()).await;
    assert_eq!(
        error_of(&missing),
        (StatusCode::NOT_FOUND, "ResourceNotFoundException")
    );
}

#[tokio::test]
async fn publish_over_http_refuses_what_an_mqtt_client_may_not_send() {
    let aws = Aws::start(None, None).await;
    let big = vec![b'x'; 128 * 1024 + 1];
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "/topics/a%2F%2B",
            b"x".to_vec(),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            "/topics/a?qos=2",
            b"x".to_vec(),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            "/topics/%24aws%2Fevents%2Fx",
            b"x".to_vec(),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            "/topics/%24aws%2Fthings%2Fx?retain=true",
            b"x".to_vec(),
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
        ),
        (
            "/topics/a",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
        ),
    ];
    for (uri, body, status, name) in cases {
        let reply = call(&aws, "POST", uri, body).await;
        assert_eq!(error_of(&reply), (status, name), "{uri}");
    }
    // A body over the HTTP server's own limit (2 MiB) is the same exception.
    let huge = call(&aws, "POST", "/topics/a", vec![b'x'; 3 * 1024 * 1024]).await;
    assert_eq!(
        error_of(&huge),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException"
        )
    );
    // Exactly 128 KiB passes.
    let reply = call(&aws, "POST", "/topics/a", vec![b'x'; 128 * 1024]).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_shadow_update_over_http_publishes_the_same_notifications_as_mqtt() {
    let aws = Aws::start(None, None).await;
    let mut sub = subscriber(&aws, "shadow-sub", "$aws/things/lamp/shadow/#").await;

    let reply = call(
        &aws,
        "POST",
        "/things/lamp/shadow",
        r#"{"state":{"desired":{"led":"on"}},"clientToken":"t1"}"#,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["state"]["desired"]["led"], "on");
    assert_eq!(reply.json["version"], 1);
    assert_eq!(reply.json["clientToken"], "t1");

    let mut seen = Vec::new();
    for _ in 0..3 {
        let message = sub.message().await;
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        seen.push((message.topic.clone(), body));
    }
    let topics: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        [
            "$aws/things/lamp/shadow/update/accepted",
            "$aws/things/lamp/shadow/update/documents",
            "$aws/things/lamp/shadow/update/delta"
        ]
    );
    assert_eq!(seen[0].1, reply.json, "accepted is the HTTP answer");
    assert_eq!(seen[2].1["state"], json!({"led": "on"}));
    assert_eq!(
        seen[2].1["version"], 1,
        "accepted and delta share the version"
    );

    let get = call(&aws, "GET", "/things/lamp/shadow", Body::empty()).await;
    assert_eq!(get.json["state"]["delta"], json!({"led": "on"}));
    assert_eq!(get.json["version"], 1);

    let conflict = call(
        &aws,
        "POST",
        "/things/lamp/shadow",
        r#"{"state":{"reported":{"led":"on"}},"version":7}"#,
    )
    .await;
    assert_eq!(
        error_of(&conflict),
        (StatusCode::CONFLICT, "ConflictException")
    );
    let invalid = call(
        &aws,
        "POST",
        "/things/lamp/shadow",
        r#"{"state":{"delta":{"led":"on"}}}"#,
    )
    .await;
    assert_eq!(
        error_of(&invalid),
        (StatusCode::BAD_REQUEST, "InvalidRequestException")
    );
    let big = format!(
        r#"{{"state":{{"reported":{{"blob":"{}"}}}}}}"#,
        "x".repeat(9000)
    );
    let too_large = call(&aws, "POST", "/things/lamp/shadow", big).await;
    assert_eq!(
        error_of(&too_large),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException"
        )
    );

    let deleted = call(&aws, "DELETE", "/things/lamp/shadow", Body::empty()).await;
    assert_eq!(deleted.json["version"], 1);
    let message = sub.message().await;
    assert_eq!(message.topic, "$aws/things/lamp/shadow/delete/accepted");
    let gone = call(&aws, "GET", "/things/lamp/shadow", Body::empty()).await;
    assert_eq!(
        error_of(&gone),
        (StatusCode::NOT_FOUND, "ResourceNotFoundException")
    );
}

#[tokio::test]
async fn named_shadows_over_http_are_their_own_and_are_listed_in_pages() {
    let aws = Aws::start(None, None).await;
    let mut sub = subscriber(
        &aws,
        "named-sub",
        "$aws/things/lamp/shadow/name/+/update/delta",
    )
    .await;
    for name in ["cfg", "alarm", "ota"] {
        let uri = format!("/things/lamp/shadow?name={name}");
        let reply = call(&aws, "POST", &uri, r#"{"state":{"desired":{"on":true}}}"#).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
    }
    assert_eq!(
        sub.message().await.topic,
        "$aws/things/lamp/shadow/name/cfg/update/delta"
    );
    let classic = call(&aws, "GET", "/things/lamp/shadow", Body::empty()).await;
    assert_eq!(
        error_of(&classic),
        (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        "the classic shadow was never written"
    );
    let mut names = Vec::new();
    let mut uri = "/api/things/shadow/ListNamedShadowsForThing/lamp?pageSize=2".to_owned();
    loop {
        let page = call(&aws, "GET", &uri, Body::empty()).await;
        assert_eq!(page.status, StatusCode::OK);
        let results = page.json["results"].as_array().unwrap();
        assert!(results.len() <= 2);
        names.extend(results.iter().map(|n| n.as_str().unwrap().to_owned()));
        match page.json["nextToken"].as_str() {
            Some(token) => {
                uri = format!(
                    "/api/things/shadow/ListNamedShadowsForThing/lamp?pageSize=2&nextToken={token}"
                );
            }
            None => break,
        }
    }
    assert_eq!(names, ["alarm", "cfg", "ota"]);
}

#[tokio::test]
async fn the_data_plane_is_signed_for_iotdata_in_the_brokers_region() {
    let aws = Aws::start(None, None).await;
    let signed = |scope: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/{scope}/aws4_request, SignedHeaders=host, Signature=00"
        )
    };
    let ok = signed("us-east-1/iotdata");
    let reply = call_with(&aws, "POST", "/topics/a", &[("authorization", &ok)], "x").await;
    assert_eq!(reply.status, StatusCode::OK);
    for (scope, message) in [
        (
            "us-east-1/iot",
            "Credential should be scoped to correct service: 'iotdata'. ",
        ),
        (
            "us-east-2/iotdata",
            "Credential should be scoped to a valid region, not 'us-east-2'. ",
        ),
    ] {
        let header = signed(scope);
        let reply = call_with(
            &aws,
            "POST",
            "/topics/a",
            &[("authorization", &header)],
            "x",
        )
        .await;
        assert_eq!(
            error_of(&reply),
            (StatusCode::FORBIDDEN, "InvalidSignatureException"),
            "{scope}"
        );
        assert_eq!(reply.json["message"], message);
    }
}

#[tokio::test]
async fn a_stopped_broker_answers_service_unavailable() {
    let aws = Aws::start(None, None).await;
    let data = data(&aws);
    let Aws { t, .. } = aws;
    t.broker.shutdown().await;
    let response = data_api::router(data)
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/topics/a")
                .body(Body::from("x"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
#[ignore = "needs python3 with boto3"]
async fn boto3_iot_data_drives_the_data_plane() {
    let aws = Aws::start(None, None).await;
    let api = mock_broker::aws::admin_api::AdminApi::start_with_data(
        "127.0.0.1:0".parse().unwrap(),
        aws.plane.clone(),
        aws.t.broker.handle(),
    )
    .await
    .unwrap();
    let mut sub = subscriber(&aws, "boto3-sub", "boto3/#").await;
    let mut shadow = subscriber(
        &aws,
        "boto3-shadow",
        "$aws/things/boto3-lamp/shadow/update/delta",
    )
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_data.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(api.url())
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "boto3 script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("all iot-data checks passed"), "{stdout}");
    let message = sub.message().await;
    assert_eq!(
        (message.topic.as_str(), &message.payload[..]),
        ("boto3/hello", &b"from boto3"[..])
    );
    let delta: Value = serde_json::from_slice(&shadow.message().await.payload).unwrap();
    assert_eq!(delta["state"], json!({"led": "on"}));
}
