//! The Jobs MQTT API's refusals: [`JobsError`], with AWS's [`ErrorCode`], and the
//! ErrorResponse document published on `.../rejected`.
//!
//! The codes and the document are AWS's ("AWS IoT jobs APIs", ErrorResponse,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-api.html>):
//! `{"code":..,"message":..,"clientToken":..,"timestamp":..,"executionState":..}`, the
//! client token only when the request had a valid one, `executionState` only for
//! `InvalidStateTransition` and `VersionMismatch`. The control plane's errors are
//! [`crate::aws::registry::AwsError`]s instead, as the admin API sends them.

use serde_json::{Value, json};

/// An ErrorResponse `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The payload is not UTF-8 JSON (an object).
    InvalidJson,
    /// A member is missing or invalid (a status a device may not set, bad status
    /// details, a client token over 64 bytes, ...).
    InvalidRequest,
    /// The execution's status does not allow the change (it is terminal).
    InvalidStateTransition,
    /// No such execution for this thing.
    ResourceNotFound,
    /// `expectedVersion` is not the execution's version.
    VersionMismatch,
}

impl ErrorCode {
    /// AWS's name of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "InvalidJson",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::InvalidStateTransition => "InvalidStateTransition",
            ErrorCode::ResourceNotFound => "ResourceNotFound",
            ErrorCode::VersionMismatch => "VersionMismatch",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused Jobs MQTT request.
///
/// `InvalidJson`/`InvalidRequest`: fix the payload. `ResourceNotFound`: the job id is not
/// one of the thing's executions (ask `get` for them). `VersionMismatch`: read the
/// `executionState` it carries and retry with its version. `InvalidStateTransition`: the
/// execution is already terminal; its `executionState` says how it ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("jobs request refused with {code}: {message}")]
pub struct JobsError {
    /// The code.
    pub code: ErrorCode,
    /// What was wrong.
    pub message: String,
    /// The request's `clientToken`, when it had a valid one.
    pub client_token: Option<String>,
    /// The execution's JobExecutionState, for `InvalidStateTransition` and
    /// `VersionMismatch` (boxed: it is rare, and the error stays small).
    pub execution_state: Option<Box<Value>>,
}

impl JobsError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        JobsError {
            code,
            message: message.into(),
            client_token: None,
            execution_state: None,
        }
    }

    /// An `InvalidRequest` saying `message`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        JobsError::new(ErrorCode::InvalidRequest, message)
    }

    /// The same error, carrying `token`.
    pub(crate) fn with_client_token(mut self, token: Option<&str>) -> Self {
        self.client_token = token.map(str::to_owned);
        self
    }

    /// The same error, carrying the execution's state.
    pub(crate) fn with_state(mut self, state: Value) -> Self {
        self.execution_state = Some(Box::new(state));
        self
    }

    /// The ErrorResponse document at `now` (Unix seconds), in AWS's member order.
    pub fn document(&self, now: u64) -> Value {
        let mut body = json!({"code": self.code.as_str(), "message": self.message});
        if let Value::Object(map) = &mut body {
            if let Some(token) = &self.client_token {
                map.insert("clientToken".into(), Value::String(token.clone()));
            }
            map.insert("timestamp".into(), json!(now));
            if let Some(state) = &self.execution_state {
                map.insert("executionState".into(), (**state).clone());
            }
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_document_is_aws_error_response() {
        let error = JobsError::new(ErrorCode::VersionMismatch, "stale")
            .with_client_token(Some("t1"))
            .with_state(json!({"status": "IN_PROGRESS", "versionNumber": 3}));
        assert_eq!(
            error.document(7).to_string(),
            r#"{"code":"VersionMismatch","message":"stale","clientToken":"t1","timestamp":7,"executionState":{"status":"IN_PROGRESS","versionNumber":3}}"#
        );
        assert_eq!(
            JobsError::invalid("no status").document(1).to_string(),
            r#"{"code":"InvalidRequest","message":"no status","timestamp":1}"#
        );
        assert_eq!(
            error.to_string(),
            "jobs request refused with VersionMismatch: stale"
        );
    }
}
