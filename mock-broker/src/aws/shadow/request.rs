//! Reading and validating request payloads: [`parse_update`] turns an update request into an
//! [`UpdateRequest`] or the [`ShadowError`] AWS answers with; [`parse_get`] and
//! [`lenient_client_token`] read the client token of get and delete requests.
//!
//! Checks run in this order, and only the first failure is reported:
//!
//! 1. the payload is UTF-8 (415) and a JSON object (400 "Invalid JSON");
//! 2. `clientToken`, when present, is a string of at most [`MAX_CLIENT_TOKEN`] bytes
//!    (400 "Invalid clientToken"). From here on, errors carry the token;
//! 3. `version`, when present, is a positive integer (400 "Invalid version");
//! 4. `state` is present and an object or `null`; it holds only `desired` and `reported`
//!    (`delta` included, anything else is "State contains an invalid node"); each is an
//!    object or `null`;
//! 5. each section is at most [`MAX_DEPTH`] levels deep, and no array in it holds a `null`;
//! 6. the request's `desired` and `reported` data, as compact JSON, is at most
//!    [`MAX_PAYLOAD`] bytes (413). Only that data counts: "Only the data for desired and
//!    reported state inside the state document sent to the device's shadow counts toward
//!    the limit" (Diagnosing problems with shadows), so whitespace, `clientToken`,
//!    `version` and ignored keys do not.
//!
//! Keys at the top level other than `state`, `clientToken` and `version` are ignored, as
//! AWS ignores them ("Diagnosing problems with shadows": "JSON content outside of those
//! sections is ignored"). The version check against the stored shadow (409) and the size of
//! the merged document (413) need the store: [`super::store`] does them.
//!
//! **Nesting depth.** AWS's message says "maximum is 6"; its older quota table said "the
//! maximum number of levels in the desired or reported section is 5", with the example
//! `"desired": {"one": {"two": {"three": {"four": {"five": {}}}}}}`. Both hold when the
//! levels are counted as the JSON containers (objects and arrays) on the deepest path,
//! starting with the `desired`/`reported` object itself as level 1: that example is 6
//! deep, `{"desired": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}` is 6 deep (accepted)
//! and one more object or array inside is 7 (rejected). Scalars add no level.
//!
//! **Nulls in arrays.** "Arrays can't have null values" (Device Shadow service documents,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-document.html>):
//! a `null` anywhere inside an array, also inside an object inside an array, is rejected,
//! since an array is stored whole and a `null` there cannot mean "delete".

use super::error::{
    DESIRED_NOT_OBJECT, INVALID_CLIENT_TOKEN, INVALID_JSON, INVALID_STATE_NODE, INVALID_VERSION,
    MISSING_STATE, NOT_UTF8, NULL_IN_ARRAY, REPORTED_NOT_OBJECT, STATE_NOT_OBJECT, ShadowError,
    TOO_DEEP, TOO_LARGE,
};
use serde_json::{Map, Value};

/// Largest `desired` + `reported` data of a request, and of the merged document, in bytes
/// of compact JSON (8 KiB; AWS IoT Core quotas, Device Shadow).
pub const MAX_PAYLOAD: usize = 8 * 1024;

/// Deepest `desired` or `reported` section, counted in JSON containers (objects and
/// arrays) on the deepest path, the section object itself being level 1:
/// `{"desired": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}` is 6 deep and accepted, one
/// more object or array inside is rejected; scalars add no level.
pub const MAX_DEPTH: usize = 6;

/// Longest `clientToken`, in bytes ("Client tokens in shadow documents").
pub const MAX_CLIENT_TOKEN: usize = 64;

/// What an update does to one section (`desired` or `reported`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SectionUpdate {
    /// The section is not in the request: left as it is.
    Keep,
    /// The section is `null`: removed with its metadata.
    Clear,
    /// Merged key by key into the stored section.
    Merge(Map<String, Value>),
}

/// A valid update request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UpdateRequest {
    /// The request's `clientToken`.
    pub client_token: Option<String>,
    /// The request's `version`: the update applies only to that version.
    pub version: Option<u64>,
    /// The request's `state` as sent (echoed in `update/accepted`).
    pub state: Value,
    /// What happens to `desired`.
    pub desired: SectionUpdate,
    /// What happens to `reported`.
    pub reported: SectionUpdate,
}

/// Parses and validates an update request; see the module documentation.
pub(crate) fn parse_update(payload: &[u8]) -> Result<UpdateRequest, ShadowError> {
    let request = parse_object(payload)?;
    let client_token = client_token(&request)?;
    let token = client_token.as_deref();
    let fail = |message: &str| ShadowError::bad_request(message).with_client_token(token);
    let version = match request.get("version") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|&v| v > 0)
                .ok_or_else(|| fail(INVALID_VERSION))?,
        ),
    };
    let state = request.get("state").ok_or_else(|| fail(MISSING_STATE))?;
    let (desired, reported) = match state {
        Value::Null => (SectionUpdate::Clear, SectionUpdate::Clear),
        Value::Object(state) => {
            if state.keys().any(|k| k != "desired" && k != "reported") {
                return Err(fail(INVALID_STATE_NODE));
            }
            (
                section(state.get("desired"), DESIRED_NOT_OBJECT).map_err(fail)?,
                section(state.get("reported"), REPORTED_NOT_OBJECT).map_err(fail)?,
            )
        }
        _ => return Err(fail(STATE_NOT_OBJECT)),
    };
    for update in [&desired, &reported] {
        if let SectionUpdate::Merge(map) = update {
            if map.values().map(depth).max().unwrap_or(0) + 1 > MAX_DEPTH {
                return Err(fail(TOO_DEEP));
            }
            if map.values().any(holds_null_in_array) {
                return Err(fail(NULL_IN_ARRAY));
            }
        }
    }
    let data: usize = [&desired, &reported]
        .into_iter()
        .filter_map(|update| match update {
            SectionUpdate::Merge(map) => {
                Some(serde_json::to_vec(map).map_or(usize::MAX, |j| j.len()))
            }
            _ => None,
        })
        .fold(0, usize::saturating_add);
    if data > MAX_PAYLOAD {
        return Err(ShadowError::new(413, TOO_LARGE).with_client_token(token));
    }
    Ok(UpdateRequest {
        client_token,
        version,
        state: state.clone(),
        desired,
        reported,
    })
}

/// The client token of a get request: the payload is empty, or a JSON object whose
/// `clientToken`, if any, is valid (else 400, like an update).
pub(crate) fn parse_get(payload: &[u8]) -> Result<Option<String>, ShadowError> {
    if payload.is_empty() {
        return Ok(None);
    }
    client_token(&parse_object(payload)?)
}

/// The client token of a delete request, if the payload is a JSON object with a valid one.
/// Nothing else in it matters: "The content of the message is ignored" (Device Shadow MQTT
/// topics, /delete), so a delete is never refused for its payload.
pub(crate) fn lenient_client_token(payload: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|request| request.as_object().and_then(|r| client_token(r).ok()))
        .flatten()
}

fn parse_object(payload: &[u8]) -> Result<Map<String, Value>, ShadowError> {
    let text = std::str::from_utf8(payload).map_err(|_| ShadowError::new(415, NOT_UTF8))?;
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ShadowError::bad_request(INVALID_JSON)),
    }
}

fn client_token(request: &Map<String, Value>) -> Result<Option<String>, ShadowError> {
    match request.get("clientToken") {
        None => Ok(None),
        Some(Value::String(token)) if token.len() <= MAX_CLIENT_TOKEN => Ok(Some(token.clone())),
        Some(_) => Err(ShadowError::bad_request(INVALID_CLIENT_TOKEN)),
    }
}

fn section<'a>(node: Option<&Value>, not_object: &'a str) -> Result<SectionUpdate, &'a str> {
    match node {
        None => Ok(SectionUpdate::Keep),
        Some(Value::Null) => Ok(SectionUpdate::Clear),
        Some(Value::Object(map)) => Ok(SectionUpdate::Merge(map.clone())),
        Some(_) => Err(not_object),
    }
}

/// Containers on the deepest path of `value`: 0 for a scalar, 1 for `{}` or `[1]`.
fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether an array inside `value` holds a `null`, at any depth.
fn holds_null_in_array(value: &Value) -> bool {
    fn any_null(value: &Value) -> bool {
        match value {
            Value::Null => true,
            Value::Array(items) => items.iter().any(any_null),
            Value::Object(map) => map.values().any(any_null),
            _ => false,
        }
    }
    match value {
        Value::Array(items) => items.iter().any(any_null),
        Value::Object(map) => map.values().any(holds_null_in_array),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!([1, [2]])), 2);
        assert_eq!(depth(&json!({"a": {"b": [1]}})), 3);
    }

    #[test]
    fn nulls_count_only_inside_arrays() {
        assert!(!holds_null_in_array(&json!(null)));
        assert!(!holds_null_in_array(&json!({"a": null})));
        assert!(holds_null_in_array(&json!([1, null])));
        assert!(holds_null_in_array(&json!({"a": [[null]]})));
        assert!(holds_null_in_array(&json!({"a": [{"b": null}]})));
        assert!(!holds_null_in_array(&json!({"a": [{"b": 1}], "c": null})));
    }

    #[test]
    fn delete_payloads_never_fail() {
        assert_eq!(lenient_client_token(b""), None);
        assert_eq!(lenient_client_token(b"{oops"), None);
        assert_eq!(lenient_client_token(br#"{"clientToken":5}"#), None);
        assert_eq!(
            lenient_client_token(br#"{"clientToken":"t"}"#),
            Some("t".into())
        );
    }
}
