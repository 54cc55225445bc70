//! The Device Shadow service's refusals: [`ShadowError`], with AWS's HTTP status code and
//! message, and its error response document.
//!
//! The codes and messages are AWS's ("Device Shadow error messages",
//! <https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-error-messages.html>).
//! Over MQTT the document goes to `.../rejected`; over HTTP it is the error response body
//! and nothing is published on MQTT (same page). Which request gets which error is
//! [`super::request`]'s and [`super::store`]'s business.

use serde_json::{Value, json};

/// "Invalid JSON" (400).
pub const INVALID_JSON: &str = "Invalid JSON";
/// "Missing required node: state" (400).
pub const MISSING_STATE: &str = "Missing required node: state";
/// "State node must be an object" (400).
pub const STATE_NOT_OBJECT: &str = "State node must be an object";
/// "Desired node must be an object" (400).
pub const DESIRED_NOT_OBJECT: &str = "Desired node must be an object";
/// "Reported node must be an object" (400).
pub const REPORTED_NOT_OBJECT: &str = "Reported node must be an object";
/// "State contains an invalid node" (400): a key other than `desired`/`reported` in
/// `state`, `delta` included.
pub const INVALID_STATE_NODE: &str = "State contains an invalid node";
/// "Invalid clientToken" (400): not a string, or longer than 64 bytes.
pub const INVALID_CLIENT_TOKEN: &str = "Invalid clientToken";
/// "Invalid version" (400): not a positive integer.
pub const INVALID_VERSION: &str = "Invalid version";
/// "JSON contains too many levels of nesting; maximum is 6" (400).
pub const TOO_DEEP: &str = "JSON contains too many levels of nesting; maximum is 6";
/// A `null` inside an array (400). AWS documents that such arrays are rejected ("Arrays
/// can't have null values", Device Shadow service documents, Array values) but not the
/// message; this one quotes that sentence.
pub const NULL_IN_ARRAY: &str = "Arrays can't have null values";
/// An invalid thing name in an API call (400; MQTT topics with one are not answered).
pub const INVALID_THING_NAME: &str = "Invalid thing name";
/// An invalid shadow name in an API call (400; MQTT topics with one are not answered).
pub const INVALID_SHADOW_NAME: &str = "Invalid shadow name";
/// "Version conflict" (409).
pub const VERSION_CONFLICT: &str = "Version conflict";
/// "The payload exceeds the maximum size allowed" (413).
pub const TOO_LARGE: &str = "The payload exceeds the maximum size allowed";
/// "Unsupported documented encoding; supported encoding is UTF-8" (415), AWS's wording.
pub const NOT_UTF8: &str = "Unsupported documented encoding; supported encoding is UTF-8";

/// A refused shadow request: AWS's HTTP status code and message, and the request's client
/// token when it had a valid one.
///
/// 400: the request is malformed (fix the payload); 404: the shadow does not exist (update
/// it first); 409: the request's `version` is not the stored one (get the shadow and
/// retry); 413: the request or the merged document is over 8 KiB (remove keys); 415: the
/// payload is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shadow request refused with {code}: {message}")]
pub struct ShadowError {
    /// HTTP status code: 400, 404, 409, 413 or 415.
    pub code: u16,
    /// AWS's message.
    pub message: String,
    /// The request's `clientToken`, when it had a valid one.
    pub client_token: Option<String>,
}

impl ShadowError {
    /// An error with `code` and `message`, without a client token.
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        ShadowError {
            code,
            message: message.into(),
            client_token: None,
        }
    }

    /// A 400 with `message`.
    pub(crate) fn bad_request(message: &str) -> Self {
        ShadowError::new(400, message)
    }

    /// The 404 for a shadow that does not exist: AWS names the shadow, or for the classic
    /// shadow the thing.
    pub(crate) fn not_found(thing: &str, shadow: Option<&str>) -> Self {
        let name = shadow.unwrap_or(thing);
        ShadowError::new(404, format!("No shadow exists with name: '{name}'"))
    }

    /// The same error, carrying `token`.
    pub(crate) fn with_client_token(mut self, token: Option<&str>) -> Self {
        self.client_token = token.map(str::to_owned);
        self
    }

    /// The error response document at `now` (Unix seconds), as AWS publishes it on
    /// `.../rejected` and returns it over HTTP:
    /// `{"code":..,"message":..,"timestamp":..,"clientToken":..}`, the client token only
    /// when the request had a valid one.
    pub fn document(&self, now: u64) -> Value {
        let mut body = json!({"code": self.code, "message": self.message, "timestamp": now});
        if let (Some(token), Value::Object(map)) = (&self.client_token, &mut body) {
            map.insert("clientToken".into(), Value::String(token.clone()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_document_is_compact_and_in_aws_order() {
        let error = ShadowError::new(409, VERSION_CONFLICT).with_client_token(Some("t1"));
        assert_eq!(
            error.document(42).to_string(),
            r#"{"code":409,"message":"Version conflict","timestamp":42,"clientToken":"t1"}"#
        );
        assert_eq!(
            ShadowError::not_found("dev", None).document(1).to_string(),
            r#"{"code":404,"message":"No shadow exists with name: 'dev'","timestamp":1}"#
        );
        assert_eq!(
            ShadowError::not_found("dev", Some("cfg")).message,
            "No shadow exists with name: 'cfg'"
        );
        assert_eq!(
            error.to_string(),
            "shadow request refused with 409: Version conflict"
        );
    }
}
