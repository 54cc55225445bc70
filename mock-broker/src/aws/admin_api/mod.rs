//! The HTTP admin API: a subset of the AWS IoT REST API over the [`ControlPlane`].
//!
//! Paths, query parameters, JSON field names, exception names (in the `x-amzn-ErrorType`
//! header and the body) and HTTP statuses are AWS's, so boto3 and the aws CLI work against
//! it with `endpoint_url` and any credentials: request signatures are accepted unchecked.
//! Every handler is a thin mapping onto a [`crate::aws::registry::Registry`] operation; the
//! rules live there.
//!
//! Operations: GetRegistrationCode; RegisterCACertificate, UpdateCACertificate,
//! DescribeCACertificate, ListCACertificates; RegisterCertificate,
//! RegisterCertificateWithoutCA, UpdateCertificate, DescribeCertificate, ListCertificates,
//! DeleteCertificate; CreateThing, DescribeThing, ListThings, DeleteThing; CreatePolicy,
//! GetPolicy, AttachPolicy, DetachPolicy, ListAttachedPolicies; AttachThingPrincipal,
//!
//! Handlers are split by resource: `cas` (and the account's registration code and
//! endpoint), `certificates`, `things` and `policies`; this file holds the server, the
//! router and the helpers they share.

use crate::aws::certs::CertInfo;
use crate::aws::control_plane::ControlPlane;
use crate::aws::registry::{
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

mod cas;
mod certificates;
mod policies;
mod things;

use cas::*;
use certificates::*;
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
