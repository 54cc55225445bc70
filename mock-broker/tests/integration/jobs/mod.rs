//! AWS IoT Jobs against a running broker with the control plane: `mqtt` (a device runs
//! jobs over MQTT with rumqttc, under its policy), `admin` (the admin API's Jobs
//! operations through their router: botocore's shapes, AWS's exceptions, paging,
//! notifications on MQTT) and `boto3` (boto3 creates jobs, a device executes them over
//! MQTT; ignored unless asked for: it needs python3 with boto3). The helpers here register
//! devices with a jobs policy and call the Jobs routes.

use crate::aws_fixture::Aws;
use crate::support::Client;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mock_broker::aws::admin_api::jobs::{self, JobsApi};
use mock_broker::aws::registry::CertificateStatus;
use rumqttc::QoS;
use serde_json::Value;
use tower::ServiceExt;

mod admin;
mod boto3;
mod mqtt;

/// A policy letting a device connect as its thing, publish on and receive from its own
/// jobs topics (`receive` narrows what it may receive), and subscribe to them.
fn jobs_policy(receive: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect",
             "Resource": "arn:aws:iot:*:*:client/${iot:ClientId}"},
            {"Effect": "Allow", "Action": "iot:Publish",
             "Resource": "arn:aws:iot:*:*:topic/$aws/things/${iot:ClientId}/jobs/*"},
            {"Effect": "Allow", "Action": "iot:Receive",
             "Resource": format!("arn:aws:iot:*:*:topic/$aws/things/${{iot:ClientId}}/jobs/{receive}")},
            {"Effect": "Allow", "Action": "iot:Subscribe",
             "Resource": "arn:aws:iot:*:*:topicfilter/$aws/things/${iot:ClientId}/jobs/*"}
        ]
    })
    .to_string()
}

/// Registers the certificate of device `serial` ACTIVE with `policy`, creates its thing,
/// and connects it; returns the client and the thing name.
async fn jobs_device(aws: &Aws, serial: &str, policy: &str) -> (Client, String) {
    let (cert, thing) = aws.device(serial);
    aws.plane
        .change(|reg, now| {
            let id = reg
                .register_certificate(&cert.cert_pem, None, CertificateStatus::Active, now)?
                .id
                .clone();
            reg.create_thing(&thing, Default::default())?;
            let name = format!("jobs-{serial}");
            reg.create_policy(&name, policy, now)?;
            let arn = reg.arn("cert", &id);
            reg.attach_policy(&name, &arn)
        })
        .unwrap();
    let client = aws
        .connect(&thing, &cert)
        .await
        .expect("the device connects");
    (client, thing)
}

/// Creates things in the registry.
fn create_things(aws: &Aws, names: &[&str]) {
    aws.plane
        .change(|reg, _| {
            for name in names {
                reg.create_thing(name, Default::default())?;
            }
            Ok(())
        })
        .unwrap();
}

/// The ARN of thing `name` in the fixture's account.
fn thing_arn(aws: &Aws, name: &str) -> String {
    aws.plane.read(|reg| reg.arn("thing", name))
}

/// An answer of the Jobs routes.
struct Reply {
    status: StatusCode,
    error_type: Option<String>,
    json: Value,
}

impl Reply {
    /// Asserts a 200 and returns the body.
    #[track_caller]
    fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.json);
        &self.json
    }

    /// Asserts an AWS exception: status, `x-amzn-ErrorType` and the body's `__type`.
    #[track_caller]
    fn assert_error(&self, status: u16, exception: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.json);
        assert_eq!(self.error_type.as_deref(), Some(exception), "{}", self.json);
        assert_eq!(self.json["__type"], exception);
    }
}

/// Calls the Jobs routes with `body` (none when null) and optional headers.
async fn call_with(
    aws: &Aws,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> Reply {
    let api = JobsApi {
        plane: aws.plane.clone(),
        broker: aws.t.broker.handle(),
    };
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let response = jobs::router(api)
        .oneshot(request.body(body).unwrap())
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

/// Calls the Jobs routes.
async fn call(aws: &Aws, method: &str, uri: &str, body: Value) -> Reply {
    call_with(aws, method, uri, &[], body).await
}

/// Subscribes `client` to each filter (QoS 1).
async fn subscribe_all(client: &mut Client, filters: &[String]) {
    for filter in filters {
        client.subscribe(filter, QoS::AtLeastOnce).await;
    }
}

/// The next message `client` receives on exactly `topic`, its payload parsed; messages on
/// other topics are skipped.
async fn next_on(client: &mut Client, topic: &str) -> Value {
    loop {
        let message = client.message().await;
        if message.topic == topic {
            return serde_json::from_slice(&message.payload)
                .unwrap_or_else(|e| panic!("{topic}: {e}"));
        }
    }
}
