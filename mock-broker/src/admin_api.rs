//! The HTTP admin API: a subset of the AWS IoT REST API over the [`ControlPlane`].
//!
//! Paths, query parameters, JSON field names, exception names (in the `x-amzn-ErrorType`
//! header and the body) and HTTP statuses are AWS's, so boto3 and the aws CLI work against
//! it with `endpoint_url` and any credentials: request signatures are accepted unchecked.
//! Every handler is a thin mapping onto a [`crate::registry::Registry`] operation; the
//! rules live there.
//!
//! Operations: GetRegistrationCode; RegisterCACertificate, UpdateCACertificate,
//! DescribeCACertificate, ListCACertificates; RegisterCertificate,
//! RegisterCertificateWithoutCA, UpdateCertificate, DescribeCertificate, ListCertificates,
//! DeleteCertificate; CreateThing, DescribeThing, ListThings, DeleteThing; CreatePolicy,
//! GetPolicy, AttachPolicy, DetachPolicy, ListAttachedPolicies; AttachThingPrincipal,
//! DetachThingPrincipal, ListThingPrincipals; DescribeEndpoint.

use crate::certs::CertInfo;
use crate::control_plane::ControlPlane;
use crate::registry::{
    AwsError, AwsErrorKind, CaRecord, CaStatus, CertRecord, CertificateMode, CertificateStatus,
    Registry,
};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A running admin API; stops when dropped.
#[derive(Debug)]
pub struct AdminApi {
    local_addr: SocketAddr,
    cancel: CancellationToken,
}

impl AdminApi {
    /// Serves the API for `plane` on `listen` (port 0 picks a free port).
    pub async fn start(listen: SocketAddr, plane: Arc<ControlPlane>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let app = router(plane);
        tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(error) = serving.await {
                tracing::error!(%error, "admin API stopped");
            }
        });
        Ok(AdminApi { local_addr, cancel })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<addr>`, the `endpoint_url` for boto3.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }
}

impl Drop for AdminApi {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

type Plane = State<Arc<ControlPlane>>;
type Reply = Result<Json<Value>, ApiError>;

/// An [`AwsError`] as an HTTP response.
struct ApiError(AwsError);

impl From<AwsError> for ApiError {
    fn from(error: AwsError) -> Self {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut body = json!({"message": error.message, "__type": error.name()});
        if let AwsErrorKind::ResourceAlreadyExists {
            resource_id,
            resource_arn,
        } = &error.kind
        {
            body["resourceId"] = json!(resource_id);
            body["resourceArn"] = json!(resource_arn);
        }
        (status, [("x-amzn-ErrorType", error.name())], Json(body)).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(AwsError {
        kind: AwsErrorKind::InvalidRequest,
        message: message.into(),
    })
}

/// The router; public for tests that want to drive it without a socket.
pub fn router(plane: Arc<ControlPlane>) -> Router {
    Router::new()
        .route("/registrationcode", get(registration_code))
        .route("/endpoint", get(describe_endpoint))
        .route("/cacertificate", post(register_ca))
        .route("/cacertificate/{id}", get(describe_ca).put(update_ca))
        .route("/cacertificates", get(list_cas))
        .route("/certificate/register", post(register_certificate))
        .route(
            "/certificate/register-no-ca",
            post(register_certificate_without_ca),
        )
        .route(
            "/certificates/{id}",
            get(describe_certificate)
                .put(update_certificate)
                .delete(delete_certificate),
        )
        .route("/certificates", get(list_certificates))
        .route("/things", get(list_things))
        .route(
            "/things/{name}",
            post(create_thing).get(describe_thing).delete(delete_thing),
        )
        .route(
            "/things/{name}/principals",
            get(list_thing_principals)
                .put(attach_thing_principal)
                .delete(detach_thing_principal),
        )
        .route("/policies/{name}", post(create_policy).get(get_policy))
        .route(
            "/target-policies/{name}",
            put(attach_policy).post(detach_policy),
        )
        .route("/attached-policies/{target}", post(list_attached_policies))
        .fallback(|| async {
            bad_request("this operation is not part of mock-broker's AWS IoT subset")
        })
        .with_state(plane)
}

/// Reads a JSON body that may be empty; malformed JSON is an InvalidRequestException.
fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| bad_request(format!("request body: {e}")))
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query.get(name).is_some_and(|v| v == "true")
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn validity(pem: &str) -> Value {
    match CertInfo::from_pem(pem) {
        Ok(info) => json!({"notBefore": info.not_before, "notAfter": info.not_after}),
        Err(_) => Value::Null,
    }
}

async fn registration_code(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(
        |reg| json!({"registrationCode": reg.account.registration_code}),
    )))
}

async fn describe_endpoint(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(
        |reg| json!({"endpointAddress": reg.account.endpoint}),
    )))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationConfig {
    template_body: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterCa {
    ca_certificate: String,
    verification_certificate: Option<String>,
    registration_config: Option<RegistrationConfig>,
    certificate_mode: Option<String>,
}

async fn register_ca(
    State(plane): Plane,
    Query(query): Query<HashMap<String, String>>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: RegisterCa = body(&raw)?;
    let mode = match request.certificate_mode.as_deref() {
        None | Some("DEFAULT") => CertificateMode::Default,
        Some("SNI_ONLY") => CertificateMode::SniOnly,
        Some(other) => return Err(bad_request(format!("invalid certificateMode {other:?}"))),
    };
    let template = request.registration_config.and_then(|c| c.template_body);
    let reply = plane.change(|reg, now| {
        let ca = reg.register_ca(
            &request.ca_certificate,
            request.verification_certificate.as_deref(),
            flag(&query, "setAsActive"),
            flag(&query, "allowAutoRegistration"),
            mode,
            template,
            now,
        )?;
        let id = ca.id.clone();
        Ok(json!({"certificateArn": reg.arn("cacert", &id), "certificateId": id}))
    })?;
    Ok(Json(reply))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateCa {
    registration_config: Option<RegistrationConfig>,
    remove_auto_registration: Option<bool>,
}

async fn update_ca(
    State(plane): Plane,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: UpdateCa = body(&raw)?;
    let status = query
        .get("newStatus")
        .map(|s| CaStatus::parse(s))
        .transpose()?;
    let auto = match query.get("newAutoRegistrationStatus").map(String::as_str) {
        None => None,
        Some("ENABLE") => Some(true),
        Some("DISABLE") => Some(false),
        Some(other) => {
            return Err(bad_request(format!(
                "invalid newAutoRegistrationStatus {other:?}"
            )));
        }
    };
    let template = match (
        request.remove_auto_registration,
        request.registration_config,
    ) {
        (Some(true), _) => Some(None),
        (_, Some(config)) => config.template_body.map(Some),
        _ => None,
    };
    plane.change(|reg, now| reg.update_ca(&id, status, auto, template, now))?;
    Ok(Json(json!({})))
}

fn ca_description(reg: &Registry, ca: &CaRecord) -> Value {
    json!({
        "certificateArn": reg.arn("cacert", &ca.id),
        "certificateId": ca.id,
        "status": ca.status.as_str(),
        "certificatePem": ca.pem,
        "ownedBy": reg.account.id,
        "creationDate": seconds(ca.created_ms),
        "lastModifiedDate": seconds(ca.modified_ms),
        "autoRegistrationStatus": if ca.auto_registration { "ENABLE" } else { "DISABLE" },
        "certificateMode": ca.mode.as_str(),
        "validity": validity(&ca.pem),
    })
}

async fn describe_ca(State(plane): Plane, Path(id): Path<String>) -> Reply {
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        let ca = reg.ca(&id)?;
        let mut reply = json!({"certificateDescription": ca_description(reg, ca)});
        if let Some(template) = &ca.template_body {
            reply["registrationConfig"] = json!({"templateBody": template});
        }
        Ok(reply)
    })?;
    Ok(Json(reply))
}

async fn list_cas(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(|reg| {
        let certificates: Vec<Value> = reg
            .cas()
            .map(|ca| {
                json!({
                    "certificateArn": reg.arn("cacert", &ca.id),
                    "certificateId": ca.id,
                    "status": ca.status.as_str(),
                    "creationDate": seconds(ca.created_ms),
                })
            })
            .collect();
        json!({"certificates": certificates})
    })))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterCertificate {
    certificate_pem: String,
    ca_certificate_pem: Option<String>,
    status: Option<String>,
}

fn requested_status(
    query: &HashMap<String, String>,
    status: Option<&str>,
) -> Result<CertificateStatus, AwsError> {
    match (status, flag(query, "setAsActive")) {
        (Some(status), _) => CertificateStatus::parse(status),
        (None, true) => Ok(CertificateStatus::Active),
        (None, false) => Ok(CertificateStatus::Inactive),
    }
}

async fn register_certificate(
    State(plane): Plane,
    Query(query): Query<HashMap<String, String>>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: RegisterCertificate = body(&raw)?;
    let status = requested_status(&query, request.status.as_deref())?;
    let reply = plane.change(|reg, now| {
        let id = reg
            .register_certificate(
                &request.certificate_pem,
                request.ca_certificate_pem.as_deref(),
                status,
                now,
            )?
            .id
            .clone();
        Ok(json!({"certificateArn": reg.arn("cert", &id), "certificateId": id}))
    })?;
    Ok(Json(reply))
}

async fn register_certificate_without_ca(State(plane): Plane, raw: axum::body::Bytes) -> Reply {
    let request: RegisterCertificate = body(&raw)?;
    let status = requested_status(&HashMap::new(), request.status.as_deref())?;
    let reply = plane.change(|reg, now| {
        let id = reg
            .register_certificate_without_ca(&request.certificate_pem, status, now)?
            .id
            .clone();
        Ok(json!({"certificateArn": reg.arn("cert", &id), "certificateId": id}))
    })?;
    Ok(Json(reply))
}

async fn update_certificate(
    State(plane): Plane,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Reply {
    let status = query
        .get("newStatus")
        .ok_or_else(|| bad_request("newStatus is required"))?;
    let status = CertificateStatus::parse(status)?;
    plane.change(|reg, now| reg.update_certificate(&id, status, now))?;
    Ok(Json(json!({})))
}

fn certificate_description(reg: &Registry, cert: &CertRecord) -> Value {
    json!({
        "certificateArn": reg.arn("cert", &cert.id),
        "certificateId": cert.id,
        "caCertificateId": cert.ca_id,
        "status": cert.status.as_str(),
        "certificatePem": cert.pem,
        "ownedBy": reg.account.id,
        "creationDate": seconds(cert.created_ms),
        "lastModifiedDate": seconds(cert.modified_ms),
        "certificateMode": cert.mode.as_str(),
        "validity": validity(&cert.pem),
    })
}

async fn describe_certificate(State(plane): Plane, Path(id): Path<String>) -> Reply {
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        Ok(json!({"certificateDescription": certificate_description(reg, reg.certificate(&id)?)}))
    })?;
    Ok(Json(reply))
}

async fn list_certificates(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(|reg| {
        let certificates: Vec<Value> = reg
            .certificates()
            .map(|c| {
                json!({
                    "certificateArn": reg.arn("cert", &c.id),
                    "certificateId": c.id,
                    "status": c.status.as_str(),
                    "certificateMode": c.mode.as_str(),
                    "creationDate": seconds(c.created_ms),
                })
            })
            .collect();
        json!({"certificates": certificates})
    })))
}

async fn delete_certificate(
    State(plane): Plane,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Reply {
    plane.change(|reg, _| reg.delete_certificate(&id, flag(&query, "forceDelete")))?;
    Ok(Json(json!({})))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributePayload {
    attributes: Option<BTreeMap<String, String>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateThing {
    attribute_payload: Option<AttributePayload>,
}

async fn create_thing(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: CreateThing = body(&raw)?;
    let attributes = request
        .attribute_payload
        .and_then(|p| p.attributes)
        .unwrap_or_default();
    let reply = plane.change(|reg, _| {
        let thing = reg.create_thing(&name, attributes)?.clone();
        Ok(json!({"thingName": thing.name, "thingArn": reg.arn("thing", &thing.name), "thingId": thing.id}))
    })?;
    Ok(Json(reply))
}

async fn describe_thing(State(plane): Plane, Path(name): Path<String>) -> Reply {
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        let thing = reg.thing(&name)?;
        Ok(json!({
            "defaultClientId": thing.name,
            "thingName": thing.name,
            "thingId": thing.id,
            "thingArn": reg.arn("thing", &thing.name),
            "attributes": thing.attributes,
            "version": thing.version,
        }))
    })?;
    Ok(Json(reply))
}

async fn list_things(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(|reg| {
        let things: Vec<Value> = reg
            .things()
            .map(|t| {
                json!({
                    "thingName": t.name,
                    "thingArn": reg.arn("thing", &t.name),
                    "attributes": t.attributes,
                    "version": t.version,
                })
            })
            .collect();
        json!({"things": things})
    })))
}

async fn delete_thing(State(plane): Plane, Path(name): Path<String>) -> Reply {
    plane.change(|reg, _| reg.delete_thing(&name))?;
    Ok(Json(json!({})))
}

fn principal(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("x-amzn-principal")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| bad_request("the x-amzn-principal header is required"))
}

async fn attach_thing_principal(
    State(plane): Plane,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let principal = principal(&headers)?;
    plane.change(|reg, _| reg.attach_thing_principal(&name, &principal))?;
    Ok(Json(json!({})))
}

async fn detach_thing_principal(
    State(plane): Plane,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let principal = principal(&headers)?;
    plane.change(|reg, _| reg.detach_thing_principal(&name, &principal))?;
    Ok(Json(json!({})))
}

async fn list_thing_principals(State(plane): Plane, Path(name): Path<String>) -> Reply {
    let principals = plane.read(|reg| reg.thing_principals(&name))?;
    Ok(Json(json!({"principals": principals})))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatePolicy {
    policy_document: Option<String>,
}

async fn create_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: CreatePolicy = body(&raw)?;
    let document = request
        .policy_document
        .ok_or_else(|| bad_request("policyDocument is required"))?;
    let reply = plane.change(|reg, now| {
        let policy = reg.create_policy(&name, &document, now)?.clone();
        Ok(json!({
            "policyName": policy.name,
            "policyArn": reg.arn("policy", &policy.name),
            "policyDocument": policy.document,
            "policyVersionId": "1",
        }))
    })?;
    Ok(Json(reply))
}

async fn get_policy(State(plane): Plane, Path(name): Path<String>) -> Reply {
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        let policy = reg.policy(&name)?;
        Ok(json!({
            "policyName": policy.name,
            "policyArn": reg.arn("policy", &policy.name),
            "policyDocument": policy.document,
            "defaultVersionId": "1",
            "creationDate": seconds(policy.created_ms),
            "lastModifiedDate": seconds(policy.created_ms),
            "generationId": "1",
        }))
    })?;
    Ok(Json(reply))
}

#[derive(Default, Deserialize)]
struct Target {
    target: Option<String>,
}

async fn attach_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let target = body::<Target>(&raw)?
        .target
        .ok_or_else(|| bad_request("target is required"))?;
    plane.change(|reg, _| reg.attach_policy(&name, &target))?;
    Ok(Json(json!({})))
}

async fn detach_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let target = body::<Target>(&raw)?
        .target
        .ok_or_else(|| bad_request("target is required"))?;
    plane.change(|reg, _| reg.detach_policy(&name, &target))?;
    Ok(Json(json!({})))
}

async fn list_attached_policies(State(plane): Plane, Path(target): Path<String>) -> Reply {
    Ok(Json(plane.read(|reg| {
        let policies: Vec<Value> = reg
            .attached_policies(&target)
            .into_iter()
            .map(|p| json!({"policyName": p.name, "policyArn": reg.arn("policy", &p.name)}))
            .collect();
        json!({"policies": policies})
    })))
}
