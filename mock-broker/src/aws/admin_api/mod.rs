//! The HTTP admin API: a subset of the AWS IoT REST API (the control plane) over the
//! [`ControlPlane`], for boto3 and the aws CLI.
//!
//! Paths, query parameters, headers, JSON field names, exception names (in the
//! `x-amzn-ErrorType` header and the body) and HTTP statuses are AWS's, as botocore's
//! service model `iot/2015-05-28` places them, so boto3 and the aws CLI work against it
//! with `endpoint_url` and any credentials: signatures are not checked, but a request
//! signed for another region than the broker's is refused as AWS refuses it (`sigv4`).
//! Every handler is a thin mapping onto a [`crate::aws::registry::Registry`] operation; the
//! rules live there, and so does the paging ([`crate::aws::registry::paginate`]): the
//! certificate and policy lists page with `marker`/`pageSize`/`nextMarker`, the thing lists
//! with `nextToken`/`maxResults`, both as boto3's paginators expect.
//!
//! Operations:
//! - account: GetRegistrationCode, DeleteRegistrationCode, DescribeEndpoint;
//! - CA certificates: RegisterCACertificate, UpdateCACertificate, DescribeCACertificate,
//!   ListCACertificates, DeleteCACertificate;
//! - certificates: RegisterCertificate, RegisterCertificateWithoutCA, CreateCertificateFromCsr,
//!   CreateKeysAndCertificate, UpdateCertificate, DescribeCertificate, ListCertificates,
//!   ListCertificatesByCA, DeleteCertificate;
//! - things: CreateThing, DescribeThing, UpdateThing, ListThings, DeleteThing,
//!   AttachThingPrincipal, DetachThingPrincipal, ListThingPrincipals, ListPrincipalThings;
//! - policies: CreatePolicy, GetPolicy, ListPolicies, DeletePolicy, AttachPolicy,
//!   DetachPolicy, ListAttachedPolicies, ListTargetsForPolicy, and the deprecated
//!   AttachPrincipalPolicy, DetachPrincipalPolicy, ListPrincipalPolicies,
//!   ListPolicyPrincipals;
//! - jobs ([`jobs`], served with a broker: [`AdminApi::start_with_data`], [`jobs::router`]):
//!   CreateJob, CancelJob, DescribeJob, GetJobDocument, ListJobs, DescribeJobExecution,
//!   ListJobExecutionsForThing.
//!
//! Anything else answers `InvalidRequestException` "not part of mock-broker's AWS IoT
//! subset". Handlers are split by resource: `cas` (and the account's registration code and
//! endpoint), `certificates`, `issuance` (certificates the broker issues), `things`,
//! `policies` and `jobs`; `params` reads query members and headers, `sigv4` checks the
//! credential scope; this file holds the server, the router and the helpers they share.

use crate::aws::certs::CertInfo;
use crate::aws::control_plane::ControlPlane;
use crate::aws::registry::{
    AttributeUpdate, AwsError, AwsErrorKind, CaRecord, CaStatus, CertRecord, CertificateMode,
    CertificateStatus, Page, PolicyRecord, Registry, ThingFilter,
};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use params::{Query, certificate_id, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

mod cas;
mod certificates;
mod issuance;
pub mod jobs;
pub(crate) mod params;
mod policies;
pub(crate) mod sigv4;
mod things;

use cas::*;
use certificates::*;
use issuance::*;
use policies::*;
use things::*;

/// A running admin API; stops when dropped.
#[derive(Debug)]
pub struct AdminApi {
    local_addr: SocketAddr,
    cancel: CancellationToken,
}

impl AdminApi {
    /// Serves the API for `plane` on `listen` (port 0 picks a free port).
    pub async fn start(listen: SocketAddr, plane: Arc<ControlPlane>) -> std::io::Result<Self> {
        Self::serve(listen, router(plane)).await
    }

    /// Serves the API for `plane` with the Jobs operations ([`jobs`]) and, at the same
    /// address, the `iot-data` data plane ([`crate::aws::data_api`]), for the broker behind
    /// `broker` (which publishes what they cause on MQTT).
    pub async fn start_with_data(
        listen: SocketAddr,
        plane: Arc<ControlPlane>,
        broker: crate::mqtt::handle::BrokerHandle,
    ) -> std::io::Result<Self> {
        let data = crate::aws::data_api::router(crate::aws::data_api::DataPlane {
            plane: plane.clone(),
            broker: broker.clone(),
        });
        let jobs = jobs::router(jobs::JobsApi {
            plane: plane.clone(),
            broker,
        });
        Self::serve(listen, router(plane).merge(jobs).merge(data)).await
    }

    async fn serve(listen: SocketAddr, app: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
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

/// An [`AwsError`] as an HTTP response (the data plane's too).
pub(crate) struct ApiError(pub(crate) AwsError);

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

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(AwsError {
        kind: AwsErrorKind::InvalidRequest,
        message: message.into(),
    })
}

/// The router; public for tests that want to drive it without a socket.
pub fn router(plane: Arc<ControlPlane>) -> Router {
    Router::new()
        .route(
            "/registrationcode",
            get(registration_code).delete(delete_registration_code),
        )
        .route("/endpoint", get(describe_endpoint))
        .route("/cacertificate", post(register_ca))
        .route(
            "/cacertificate/{id}",
            get(describe_ca).put(update_ca).delete(delete_ca),
        )
        .route("/cacertificates", get(list_cas))
        .route("/certificates-by-ca/{id}", get(list_certificates_by_ca))
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
        .route(
            "/certificates",
            get(list_certificates).post(create_certificate_from_csr),
        )
        .route("/keys-and-certificate", post(create_keys_and_certificate))
        .route("/things", get(list_things))
        .route(
            "/things/{name}",
            post(create_thing)
                .get(describe_thing)
                .patch(update_thing)
                .delete(delete_thing),
        )
        .route(
            "/things/{name}/principals",
            get(list_thing_principals)
                .put(attach_thing_principal)
                .delete(detach_thing_principal),
        )
        .route("/principals/things", get(list_principal_things))
        .route("/policies", get(list_policies))
        .route(
            "/policies/{name}",
            post(create_policy).get(get_policy).delete(delete_policy),
        )
        .route(
            "/target-policies/{name}",
            put(attach_policy).post(detach_policy),
        )
        .route("/attached-policies/{target}", post(list_attached_policies))
        .route("/policy-targets/{name}", post(list_targets_for_policy))
        .route(
            "/principal-policies/{name}",
            put(attach_principal_policy).delete(detach_principal_policy),
        )
        .route("/principal-policies", get(list_principal_policies))
        .route("/policy-principals", get(list_policy_principals))
        .fallback(|| async { unsupported() })
        .layer(middleware::from_fn(aws_shaped))
        .layer(middleware::from_fn_with_state(
            plane.clone(),
            sigv4::check_scope,
        ))
        .with_state(plane)
}

pub(crate) fn unsupported() -> ApiError {
    bad_request("this operation is not part of mock-broker's AWS IoT subset")
}

/// Gives the errors axum answers itself (a method a path does not have, an unreadable
/// path, a body over the size limit) AWS's shape: InvalidRequestException.
pub(crate) async fn aws_shaped(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key("x-amzn-ErrorType")
    {
        return response;
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return unsupported().into_response();
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError(AwsError::new(
            AwsErrorKind::RequestEntityTooLarge,
            "the request body exceeds the maximum size allowed",
        ))
        .into_response();
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    bad_request(format!("{status}: {text}")).into_response()
}

/// Reads a JSON body that may be empty; malformed JSON is an InvalidRequestException.
fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| bad_request(format!("request body: {e}")))
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

/// Adds `nextMarker` to a marker-paged reply when there is a next page.
fn with_marker(mut reply: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        reply["nextMarker"] = json!(next);
    }
    reply
}

/// Adds `nextToken` to a token-paged reply when there is a next page.
fn with_token(mut reply: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        reply["nextToken"] = json!(next);
    }
    reply
}
