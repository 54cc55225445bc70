//! The admin API, driven through its router (tower `oneshot`): AWS's paths, member
//! locations, field names, exception names and statuses, and paging. `boto3` runs the same
//! operations through boto3 and its paginators (ignored unless asked for: it needs python3
//! with boto3).
//!
//! Split by subject: `certificates` (CAs, certificates, issuance), `things`, `policies`,
//! `paging` (every list's pages and tokens), `region` (SigV4 scope, ARNs and policies in
//! another region); this file holds the helpers and the seed flow.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mock_broker::aws::admin_api;
use mock_broker::aws::control_plane::{ControlPlane, ControlPlaneConfig};
use mock_broker::dev_pki::{TestCa, Validity};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

mod boto3;
mod certificates;
mod paging;
mod policies;
mod region;
mod things;

fn plane() -> Arc<ControlPlane> {
    ControlPlane::new(ControlPlaneConfig::new(
        "mock-ats.iot.us-east-1.amazonaws.com",
    ))
    .unwrap()
}

struct Reply {
    status: StatusCode,
    error_type: Option<String>,
    json: Value,
}

async fn call(
    plane: &Arc<ControlPlane>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let response = admin_api::router(plane.clone())
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        error_type,
        json,
    }
}

fn encode(arn: &str) -> String {
    arn.replace(':', "%3A").replace('/', "%2F")
}

/// A control plane whose account is `account` in `region`.
fn plane_in(region: &str, account: &str) -> Arc<ControlPlane> {
    let mut config = ControlPlaneConfig::new(&format!("mock-ats.iot.{region}.amazonaws.com"));
    config.account.region = region.to_owned();
    config.account.id = account.to_owned();
    ControlPlane::new(config).unwrap()
}

async fn get(plane: &Arc<ControlPlane>, uri: &str) -> Reply {
    call(plane, "GET", uri, &[], Value::Null).await
}

impl Reply {
    /// Asserts an AWS error: status, `x-amzn-ErrorType` and the body's `__type`.
    #[track_caller]
    fn assert_error(&self, status: u16, exception: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.json);
        assert_eq!(self.error_type.as_deref(), Some(exception), "{}", self.json);
        assert_eq!(self.json["__type"], exception);
        assert!(self.json["message"].is_string(), "{}", self.json);
    }

    /// Asserts a 200 and returns the body.
    #[track_caller]
    fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.json);
        &self.json
    }
}

/// Registers a CA, ACTIVE with auto-registration on; returns it with its id.
async fn register_ca(plane: &Arc<ControlPlane>, name: &str) -> (TestCa, String) {
    let code = plane.read(|reg| reg.account.registration_code.clone());
    let ca = TestCa::new(name).unwrap();
    let verification = ca.client(&code, Validity::Long).unwrap().cert_pem;
    let reply = call(
        plane,
        "POST",
        "/cacertificate?setAsActive=true&allowAutoRegistration=true",
        &[],
        json!({"caCertificate": ca.pem(), "verificationCertificate": verification}),
    )
    .await;
    let id = reply.ok()["certificateId"].as_str().unwrap().to_owned();
    (ca, id)
}

/// Registers an ACTIVE device certificate of `ca`; returns its id and ARN.
async fn register_device(plane: &Arc<ControlPlane>, ca: &TestCa, serial: &str) -> (String, String) {
    let device = ca.device(serial).unwrap();
    let reply = call(
        plane,
        "POST",
        "/certificate/register?setAsActive=true",
        &[],
        json!({"certificatePem": device.cert_pem, "caCertificatePem": ca.pem()}),
    )
    .await;
    let json = reply.ok();
    (
        json["certificateId"].as_str().unwrap().to_owned(),
        json["certificateArn"].as_str().unwrap().to_owned(),
    )
}

/// An open policy document.
fn open_policy() -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
        .to_string()
}

#[tokio::test]
async fn the_seed_flow_through_the_admin_api() {
    let p = plane();
    let code = call(&p, "GET", "/registrationcode", &[], Value::Null)
        .await
        .json["registrationCode"]
        .as_str()
        .unwrap()
        .to_owned();
    let ca = TestCa::new("signer").unwrap();
    let verification = ca.client(&code, Validity::Long).unwrap().cert_pem;
    let registered = call(
        &p,
        "POST",
        "/cacertificate?setAsActive=true&allowAutoRegistration=true",
        &[],
        json!({"caCertificate": ca.pem(), "verificationCertificate": verification}),
    )
    .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.json);
    let ca_id = registered.json["certificateId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        registered.json["certificateArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":cacert/{ca_id}"))
    );

    let described = call(
        &p,
        "GET",
        &format!("/cacertificate/{ca_id}"),
        &[],
        Value::Null,
    )
    .await;
    assert_eq!(described.json["certificateDescription"]["status"], "ACTIVE");
    assert_eq!(
        described.json["certificateDescription"]["autoRegistrationStatus"],
        "ENABLE"
    );

    let device = ca.device("0123").unwrap();
    let cert = call(
        &p,
        "POST",
        "/certificate/register",
        &[],
        json!({"certificatePem": device.cert_pem, "caCertificatePem": ca.pem(), "status": "ACTIVE"}),
    )
    .await;
    let cert_id = cert.json["certificateId"].as_str().unwrap().to_owned();
    let cert_arn = cert.json["certificateArn"].as_str().unwrap().to_owned();

    assert_eq!(
        call(&p, "POST", "/things/dev1", &[], json!({})).await.json["thingName"],
        "dev1"
    );
    let policy =
        json!({"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}).to_string();
    assert_eq!(
        call(
            &p,
            "POST",
            "/policies/open",
            &[],
            json!({"policyDocument": policy})
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &p,
            "PUT",
            "/target-policies/open",
            &[],
            json!({"target": cert_arn})
        )
        .await
        .status,
        StatusCode::OK
    );
    let attached = call(
        &p,
        "POST",
        &format!("/attached-policies/{}", encode(&cert_arn)),
        &[],
        Value::Null,
    )
    .await;
    assert_eq!(attached.json["policies"][0]["policyName"], "open");
    let principal = [("x-amzn-principal", cert_arn.as_str())];
    assert_eq!(
        call(
            &p,
            "PUT",
            "/things/dev1/principals",
            &principal,
            Value::Null
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&p, "GET", "/things/dev1/principals", &[], Value::Null)
            .await
            .json["principals"][0],
        cert_arn
    );

    assert_eq!(
        call(
            &p,
            "PUT",
            &format!("/certificates/{cert_id}?newStatus=INACTIVE"),
            &[],
            Value::Null
        )
        .await
        .status,
        StatusCode::OK
    );
    let described = call(
        &p,
        "GET",
        &format!("/certificates/{cert_id}"),
        &[],
        Value::Null,
    )
    .await;
    assert_eq!(
        described.json["certificateDescription"]["status"],
        "INACTIVE"
    );
    assert_eq!(
        described.json["certificateDescription"]["caCertificateId"],
        ca_id
    );
    assert_eq!(
        call(
            &p,
            "GET",
            "/endpoint?endpointType=iot:Data-ATS",
            &[],
            Value::Null
        )
        .await
        .json["endpointAddress"],
        "mock-ats.iot.us-east-1.amazonaws.com"
    );
    assert_eq!(
        call(&p, "GET", "/certificates", &[], Value::Null)
            .await
            .json["certificates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        call(&p, "GET", "/things", &[], Value::Null).await.json["things"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn errors_carry_aws_exception_names_and_statuses() {
    let p = plane();
    let missing = call(&p, "GET", "/things/nope", &[], Value::Null).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.error_type.as_deref(),
        Some("ResourceNotFoundException")
    );
    assert!(missing.json["message"].as_str().unwrap().contains("nope"));

    let malformed = call(
        &p,
        "POST",
        "/policies/bad",
        &[],
        json!({"policyDocument": "{nope"}),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.error_type.as_deref(),
        Some("MalformedPolicyException")
    );

    let ca = TestCa::new("signer").unwrap();
    let wrong = ca.client("not-the-code", Validity::Long).unwrap().cert_pem;
    let refused = call(
        &p,
        "POST",
        "/cacertificate?setAsActive=true",
        &[],
        json!({"caCertificate": ca.pem(), "verificationCertificate": wrong}),
    )
    .await;
    assert_eq!(
        refused.error_type.as_deref(),
        Some("CertificateValidationException")
    );
    assert_eq!(
        call(&p, "GET", "/cacertificates", &[], Value::Null)
            .await
            .json["certificates"],
        json!([])
    );

    let sni = call(
        &p,
        "POST",
        "/cacertificate",
        &[],
        json!({"caCertificate": ca.pem(), "certificateMode": "SNI_ONLY"}),
    )
    .await;
    let id = sni.json["certificateId"].as_str().unwrap().to_owned();
    let again = call(
        &p,
        "POST",
        "/cacertificate",
        &[],
        json!({"caCertificate": ca.pem(), "certificateMode": "SNI_ONLY"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.error_type.as_deref(),
        Some("ResourceAlreadyExistsException")
    );
    assert_eq!(again.json["resourceId"], id);

    let garbage = call(&p, "POST", "/things/x", &[], json!("not an object")).await;
    assert_eq!(
        garbage.error_type.as_deref(),
        Some("InvalidRequestException")
    );
    let unknown = call(&p, "GET", "/thing-groups", &[], Value::Null).await;
    assert_eq!(
        unknown.error_type.as_deref(),
        Some("InvalidRequestException")
    );
}

#[tokio::test]
async fn axums_own_rejections_come_in_awss_shape() {
    let p = plane();
    let wrong_method = call(&p, "PATCH", "/policies", &[], Value::Null).await;
    wrong_method.assert_error(400, "InvalidRequestException");
    assert_eq!(
        wrong_method.json["message"],
        "this operation is not part of mock-broker's AWS IoT subset"
    );
    // A path that is not UTF-8 once decoded.
    call(&p, "GET", "/things/%FF", &[], Value::Null)
        .await
        .assert_error(400, "InvalidRequestException");
    // A query string that does not decode into members.
    call(&p, "GET", "/things?maxResults=%FF", &[], Value::Null)
        .await
        .assert_error(400, "InvalidRequestException");
    // A body over axum's limit (2 MiB) is too large, as AWS's front end answers.
    let huge = json!({"policyDocument": "x".repeat(3 << 20)});
    call(&p, "POST", "/policies/huge", &[], huge)
        .await
        .assert_error(413, "RequestEntityTooLargeException");
}
