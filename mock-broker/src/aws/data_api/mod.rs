//! The HTTP data plane: AWS IoT's `iot-data` REST API (what cloud-side code calls through
//! boto3's `iot-data` client), served beside the admin API.
//!
//! Paths, query members, bodies, exception names and statuses are botocore's model
//! `iot-data/2015-05-28`: Publish (`POST /topics/{topic}?qos=&retain=`), GetRetainedMessage
//! and ListRetainedMessages (`messages`); GetThingShadow, UpdateThingShadow,
//! DeleteThingShadow (classic and named shadows, `?name=`) and ListNamedShadowsForThing
//! (`shadows`). Requests are signed for the `iotdata` service; as in the admin API,
//! signatures are not checked but the credential scope's region and service are
//! ([`super::admin_api`]'s SigV4 check).
//!
//! What the data plane does goes through the broker (a [`BrokerHandle`]) and the Device
//! Shadow service ([`crate::aws::shadow`]), so it behaves as the MQTT side does: an HTTP
//! publish reaches subscribers and the services (a publish to a shadow topic is a shadow
//! request), and an HTTP shadow update or delete publishes the same MQTT notifications
//! (`update/accepted`, `update/documents`, `update/delta`, `delete/accepted`) as an MQTT
//! one. Its errors are the HTTP response only: nothing goes to `/rejected`, as AWS
//! documents. A broker that has shut down answers `ServiceUnavailableException` (503).

use crate::aws::admin_api::params::Query;
use crate::aws::admin_api::{ApiError, aws_shaped, bad_request, sigv4};
use crate::aws::control_plane::ControlPlane;
use crate::aws::registry::{AwsError, AwsErrorKind};
use crate::mqtt::handle::{BrokerGone, BrokerHandle};
use axum::extract::{Path, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use std::sync::Arc;

mod messages;
mod shadows;

/// What the data plane's handlers work on.
#[derive(Debug, Clone)]
pub struct DataPlane {
    /// The account (region, for the SigV4 check) and the Device Shadow service.
    pub plane: Arc<ControlPlane>,
    /// The broker messages go through.
    pub broker: BrokerHandle,
}

type Data = State<DataPlane>;

/// The data plane's routes, to merge into the admin API's router (they share the address:
/// no path of one is a path of the other). Public for tests that drive it without a
/// socket.
pub fn router(data: DataPlane) -> Router {
    Router::new()
        .route(
            "/topics/{topic}",
            post(messages::publish).fallback(|| async { unsupported() }),
        )
        .route("/retainedMessage", get(messages::list_retained))
        .route("/retainedMessage/{topic}", get(messages::get_retained))
        .route(
            "/things/{thing}/shadow",
            get(shadows::get)
                .post(shadows::update)
                .delete(shadows::delete),
        )
        .route(
            "/api/things/shadow/ListNamedShadowsForThing/{thing}",
            get(shadows::list_named),
        )
        .layer(middleware::from_fn(aws_shaped))
        .layer(middleware::from_fn_with_state(
            data.plane.clone(),
            sigv4::check_data_scope,
        ))
        .with_state(data)
}

fn unsupported() -> ApiError {
    crate::aws::admin_api::unsupported()
}

fn gone(_: BrokerGone) -> ApiError {
    ApiError(AwsError::new(
        AwsErrorKind::ServiceUnavailable,
        "the broker behind this endpoint has shut down",
    ))
}

/// A JSON document as the response body (GetThingShadow and UpdateThingShadow return the
/// document itself, a blob in botocore's model).
fn document(value: Value) -> Response {
    Json(value).into_response()
}

/// Now, in Unix milliseconds.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Reads the `name` member of the shadow operations: `None` is the classic shadow.
fn shadow_name(query: &Query) -> Option<&str> {
    query.text("name")
}

/// A path member that must not be empty.
fn required<'a>(what: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.is_empty() {
        Err(bad_request(format!("{what} is required")))
    } else {
        Ok(value)
    }
}

/// The path's `{thing}`.
type ThingPath = Path<String>;
