//! Shadows over HTTP: GetThingShadow, UpdateThingShadow, DeleteThingShadow (classic and
//! named, `?name=`) and ListNamedShadowsForThing.
//!
//! Each goes through the same [`Shadows`] operations as an MQTT request, then publishes the
//! MQTT notifications they return (accepted, documents, delta; `delete/accepted`) through
//! the broker, as AWS does for HTTP updates. A refusal is only the HTTP response, with the
//! shadow service's code mapped to AWS's exception: 400 `InvalidRequestException`, 404
//! `ResourceNotFoundException`, 409 `ConflictException`, 413
//! `RequestEntityTooLargeException`, 415 `UnsupportedDocumentEncodingException`.

use super::{Data, DataPlane, ThingPath, document, gone, now_ms, shadow_name};
use crate::aws::admin_api::ApiError;
use crate::aws::admin_api::params::Query;
use crate::aws::registry::{AwsError, AwsErrorKind, paginate};
use crate::aws::shadow::{Notification, ShadowError, Shadows};
use crate::mqtt::hooks::BrokerMessage;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

/// AWS's exception for a shadow service error code.
pub(super) fn exception(error: ShadowError) -> ApiError {
    let kind = match error.code {
        400 => AwsErrorKind::InvalidRequest,
        404 => AwsErrorKind::ResourceNotFound,
        409 => AwsErrorKind::Conflict,
        413 => AwsErrorKind::RequestEntityTooLarge,
        415 => AwsErrorKind::UnsupportedDocumentEncoding,
        _ => AwsErrorKind::InternalFailure,
    };
    ApiError(AwsError::new(kind, error.message))
}

/// Runs `f` on the shadows at the current time (Unix seconds).
fn with_shadows<R>(data: &DataPlane, f: impl FnOnce(&mut Shadows, u64) -> R) -> R {
    let service = data.plane.shadows();
    let mut shadows = service.lock();
    f(&mut shadows, now_ms() / 1000)
}

/// Runs a changing shadow operation under the broker's lock and publishes its
/// notifications there, as the shadow service does over MQTT, so subscribers see every
/// change in version order whichever path made it.
fn change<R>(
    data: &DataPlane,
    f: impl FnOnce(&mut Shadows, u64) -> Result<(R, Vec<Notification>), ShadowError>,
) -> Result<R, ApiError> {
    data.broker
        .publish_with(|| match with_shadows(data, f) {
            Ok((answer, notifications)) => {
                let messages = notifications
                    .into_iter()
                    .map(|(topic, payload)| BrokerMessage {
                        topic,
                        payload: payload.into_bytes(),
                    })
                    .collect();
                (Ok(answer), messages)
            }
            Err(error) => (Err(error), Vec::new()),
        })
        .map_err(gone)?
        .map_err(exception)
}

/// GetThingShadow: `GET /things/{thing}/shadow?name=`.
pub(super) async fn get(
    State(data): Data,
    thing: ThingPath,
    query: Query,
) -> Result<Response, ApiError> {
    let shadow = with_shadows(&data, |shadows, now| {
        shadows.get(&thing, shadow_name(&query), now)
    })
    .map_err(exception)?;
    Ok(document(shadow))
}

/// UpdateThingShadow: `POST /things/{thing}/shadow?name=`, the body is the request
/// document; the answer is the `update/accepted` document.
pub(super) async fn update(
    State(data): Data,
    thing: ThingPath,
    query: Query,
    body: Bytes,
) -> Result<Response, ApiError> {
    let accepted = change(&data, |shadows, now| {
        let update = shadows.update(&thing, shadow_name(&query), &body, now)?;
        Ok((update.document, update.notifications))
    })?;
    Ok(document(accepted))
}

/// DeleteThingShadow: `DELETE /things/{thing}/shadow?name=`; the answer is
/// `{"version":..,"timestamp":..}`.
pub(super) async fn delete(
    State(data): Data,
    thing: ThingPath,
    query: Query,
) -> Result<Response, ApiError> {
    let answer = change(&data, |shadows, now| {
        shadows.delete(&thing, shadow_name(&query), now)
    })?;
    Ok(document(answer))
}

/// ListNamedShadowsForThing: `GET /api/things/shadow/ListNamedShadowsForThing/{thing}`
/// with `nextToken`/`pageSize`.
pub(super) async fn list_named(
    State(data): Data,
    thing: ThingPath,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let request = crate::aws::registry::PageRequest {
        token: query.text("nextToken"),
        size: query.size("pageSize")?,
        ascending: true,
    };
    let (names, now) = with_shadows(&data, |shadows, now| (shadows.list_named(&thing), now));
    let items = names.into_iter().map(|name| (name.clone(), name)).collect();
    let page = paginate(
        &format!("named-shadows:{}", thing.as_str()),
        items,
        &request,
    )?;
    let mut reply = json!({"results": page.items, "timestamp": now});
    if let Some(next) = page.next {
        reply["nextToken"] = json!(next);
    }
    Ok(Json(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_codes_become_aws_exceptions() {
        for (code, name, status) in [
            (400, "InvalidRequestException", 400),
            (404, "ResourceNotFoundException", 404),
            (409, "ConflictException", 409),
            (413, "RequestEntityTooLargeException", 413),
            (415, "UnsupportedDocumentEncodingException", 415),
            (500, "InternalFailureException", 500),
        ] {
            let ApiError(error) = exception(ShadowError::new(code, "m"));
            assert_eq!(
                (error.name(), error.http_status()),
                (name, status),
                "{code}"
            );
            assert_eq!(error.message, "m");
        }
    }
}
