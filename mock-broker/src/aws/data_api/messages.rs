//! Messages over HTTP: Publish, GetRetainedMessage and ListRetainedMessages.
//!
//! Publish applies the rules an MQTT client's PUBLISH meets (MQTT's topic rules, AWS's
//! slash limit and reserved `$aws/events/` topics, QoS 0 or 1, no retained message on a
//! `$` topic, 128 KiB of payload), answering `InvalidRequestException` (400), or
//! `RequestEntityTooLargeException` (413) for the payload, instead of closing a
//! connection; then the broker publishes it as itself. Retained messages are read from the
//! broker; their payloads travel base64-encoded (a blob in botocore's model), and the list
//! pages with `nextToken`/`maxResults` through the registries' one paging function.

use super::{Data, gone, required};
use crate::aws::admin_api::params::Query;
use crate::aws::admin_api::{ApiError, bad_request};
use crate::aws::registry::{AwsError, AwsErrorKind, PageRequest, paginate};
use crate::mqtt::codec::MAX_PAYLOAD;
use crate::mqtt::topic;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rumqttc::mqttbytes::QoS;
use serde_json::{Value, json};

/// Publish: `POST /topics/{topic}?qos=0|1&retain=true|false`, the body is the payload.
pub(super) async fn publish(
    State(data): Data,
    Path(topic): Path<String>,
    query: Query,
    payload: Bytes,
) -> Result<Response, ApiError> {
    let topic = required("topic", &topic)?;
    let qos = match query.number("qos")? {
        None | Some(0) => QoS::AtMostOnce,
        Some(1) => QoS::AtLeastOnce,
        Some(other) => {
            return Err(bad_request(format!(
                "qos must be 0 or 1 (AWS IoT Core has no QoS 2), got {other}"
            )));
        }
    };
    let retain = query.flag("retain")?;
    topic::check_name(topic)
        .and_then(|()| topic::validate_publish_topic(topic))
        .map_err(|violation| bad_request(violation.to_string()))?;
    if retain && topic.starts_with('$') {
        return Err(bad_request(format!(
            "retained messages are not supported on reserved topic {topic:?}"
        )));
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(ApiError(AwsError::new(
            AwsErrorKind::RequestEntityTooLarge,
            format!(
                "payload of {} bytes exceeds the 128 KiB limit",
                payload.len()
            ),
        )));
    }
    data.broker
        .publish(topic, payload, qos, retain)
        .map_err(gone)?;
    Ok(Json(json!({})).into_response())
}

fn qos_number(qos: QoS) -> u8 {
    qos as u8
}

/// GetRetainedMessage: `GET /retainedMessage/{topic}`.
pub(super) async fn get_retained(
    State(data): Data,
    Path(topic): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let message = data.broker.retained(&topic).map_err(gone)?.ok_or_else(|| {
        ApiError(AwsError::new(
            AwsErrorKind::ResourceNotFound,
            format!("no retained message on topic {topic:?}"),
        ))
    })?;
    Ok(Json(json!({
        "topic": topic,
        "payload": base64::engine::general_purpose::STANDARD.encode(&message.payload),
        "qos": qos_number(message.qos),
        "lastModifiedTime": message.modified_ms,
    })))
}

/// ListRetainedMessages: `GET /retainedMessage?nextToken=&maxResults=`, by topic.
pub(super) async fn list_retained(
    State(data): Data,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let request: PageRequest<'_> = query.token_page()?;
    let items = data
        .broker
        .retained_messages()
        .map_err(gone)?
        .into_iter()
        .map(|(topic, message)| {
            let summary = json!({
                "topic": topic,
                "payloadSize": message.payload.len(),
                "qos": qos_number(message.qos),
                "lastModifiedTime": message.modified_ms,
            });
            (topic, summary)
        })
        .collect();
    let page = paginate("retained-messages", items, &request)?;
    let mut reply = json!({"retainedTopics": page.items});
    if let Some(next) = page.next {
        reply["nextToken"] = json!(next);
    }
    Ok(Json(reply))
}
