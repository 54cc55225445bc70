//! Reading the Jobs MQTT API's request payloads ("Jobs device MQTT API",
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>) into
//! [`StartNextRequest`], [`DescribeRequest`] and [`UpdateRequest`], or the [`JobsError`]
//! AWS answers with.
//!
//! Checks run in this order, and only the first failure is reported:
//!
//! 1. the payload is UTF-8 JSON holding an object (`InvalidJson`); an empty payload is
//!    read as `{}` (choice: AWS's examples always send an object, and the device SDKs send
//!    `{}` at least);
//! 2. `clientToken`, when present, is a string of at most [`MAX_CLIENT_TOKEN`] bytes
//!    (`InvalidRequest`). From here on, errors carry the token;
//! 3. the operation's members: `status` (required for an update, one a device may set:
//!    IN_PROGRESS, SUCCEEDED, FAILED, REJECTED), `statusDetails` (an object of strings,
//!    keys 1..=128 of `[a-zA-Z0-9:_-]`, values 1..=1024 characters without control
//!    characters, as the `DetailsMap` of botocore's model), `expectedVersion` and
//!    `executionNumber` (whole numbers), `includeJobExecutionState` and
//!    `includeJobDocument` (booleans), `stepTimeoutInMinutes` (1..=10080; accepted and
//!    ignored: mock-broker has no timers). Anything else is `InvalidRequest`.
//!
//! Other members are ignored. Whether the execution exists, and the version and status
//! checks, need the store: [`super::device`] does them.

use super::error::{ErrorCode, JobsError};
use super::model::ExecutionStatus;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest `clientToken`, in bytes (choice: the shadow service's limit; AWS documents
/// none for Jobs).
pub const MAX_CLIENT_TOKEN: usize = 64;

/// Longest `statusDetails` key, in bytes (botocore's `DetailsKey`).
pub const MAX_DETAILS_KEY: usize = 128;

/// Longest `statusDetails` value, in characters (botocore's `DetailsValue`).
pub const MAX_DETAILS_VALUE: usize = 1024;

/// Longest `stepTimeoutInMinutes` (7 days).
pub const MAX_STEP_TIMEOUT: u64 = 10080;

/// A request's payload: its members and its client token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Payload {
    members: Map<String, Value>,
    /// The `clientToken`.
    pub client_token: Option<String>,
}

/// A StartNextPendingJobExecution request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct StartNextRequest {
    /// `statusDetails`, for an execution that starts now.
    pub status_details: Option<BTreeMap<String, String>>,
}

/// A DescribeJobExecution request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DescribeRequest {
    /// `executionNumber`: only that execution.
    pub execution_number: Option<u64>,
    /// `includeJobDocument` (default true).
    pub include_document: bool,
}

/// An UpdateJobExecution request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpdateRequest {
    /// The new `status`.
    pub status: ExecutionStatus,
    /// `statusDetails`: replace the stored ones (unchanged when absent).
    pub status_details: Option<BTreeMap<String, String>>,
    /// `expectedVersion`.
    pub expected_version: Option<u64>,
    /// `executionNumber`.
    pub execution_number: Option<u64>,
    /// `includeJobExecutionState` (default false).
    pub include_state: bool,
    /// `includeJobDocument` (default false).
    pub include_document: bool,
}

impl Payload {
    /// Steps 1 and 2 of the module documentation.
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, JobsError> {
        let invalid_json = || JobsError::new(ErrorCode::InvalidJson, "Invalid JSON");
        let members = if payload.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            let text = std::str::from_utf8(payload).map_err(|_| invalid_json())?;
            match serde_json::from_str(text) {
                Ok(Value::Object(members)) => members,
                _ => return Err(invalid_json()),
            }
        };
        let client_token = match members.get("clientToken") {
            None => None,
            Some(Value::String(token)) if token.len() <= MAX_CLIENT_TOKEN => Some(token.clone()),
            Some(_) => {
                return Err(JobsError::invalid(format!(
                    "clientToken must be a string of at most {MAX_CLIENT_TOKEN} bytes"
                )));
            }
        };
        Ok(Payload {
            members,
            client_token,
        })
    }

    fn fail(&self, message: impl Into<String>) -> JobsError {
        JobsError::invalid(message).with_client_token(self.client_token.as_deref())
    }

    fn number(&self, name: &str) -> Result<Option<u64>, JobsError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.fail(format!("{name} must be a whole number"))),
        }
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, JobsError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(_) => Err(self.fail(format!("{name} must be true or false"))),
        }
    }

    fn step_timeout(&self) -> Result<(), JobsError> {
        match self.number("stepTimeoutInMinutes")? {
            Some(minutes) if !(1..=MAX_STEP_TIMEOUT).contains(&minutes) => Err(self.fail(format!(
                "stepTimeoutInMinutes must be between 1 and {MAX_STEP_TIMEOUT}"
            ))),
            _ => Ok(()),
        }
    }

    fn status_details(&self) -> Result<Option<BTreeMap<String, String>>, JobsError> {
        let details = match self.members.get("statusDetails") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(details)) => details,
            Some(_) => return Err(self.fail("statusDetails must be an object of strings")),
        };
        let mut map = BTreeMap::new();
        for (key, value) in details {
            let valid_key = (1..=MAX_DETAILS_KEY).contains(&key.len())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b));
            if !valid_key {
                return Err(self.fail(format!(
                    "statusDetails key {key:?} must be 1 to {MAX_DETAILS_KEY} characters of [a-zA-Z0-9:_-]"
                )));
            }
            let Value::String(value) = value else {
                return Err(self.fail(format!("statusDetails value of {key} must be a string")));
            };
            let chars = value.chars().count();
            if !(1..=MAX_DETAILS_VALUE).contains(&chars) || value.chars().any(char::is_control) {
                return Err(self.fail(format!(
                    "statusDetails value of {key} must be 1 to {MAX_DETAILS_VALUE} characters without control characters"
                )));
            }
            map.insert(key.clone(), value.clone());
        }
        Ok(Some(map))
    }

    /// The members of a StartNextPendingJobExecution.
    pub(crate) fn start_next(&self) -> Result<StartNextRequest, JobsError> {
        let status_details = self.status_details()?;
        self.step_timeout()?;
        Ok(StartNextRequest { status_details })
    }

    /// The members of a DescribeJobExecution.
    pub(crate) fn describe(&self) -> Result<DescribeRequest, JobsError> {
        Ok(DescribeRequest {
            execution_number: self.number("executionNumber")?,
            include_document: self.flag("includeJobDocument", true)?,
        })
    }

    /// The members of an UpdateJobExecution.
    pub(crate) fn update(&self) -> Result<UpdateRequest, JobsError> {
        let status = match self.members.get("status") {
            None | Some(Value::Null) => return Err(self.fail("status is required")),
            Some(Value::String(text)) => ExecutionStatus::parse(text)
                .filter(|status| status.device_may_set())
                .ok_or_else(|| {
                    self.fail(format!(
                        "status {text:?} is not one a device may set: IN_PROGRESS, SUCCEEDED, FAILED or REJECTED"
                    ))
                })?,
            Some(_) => return Err(self.fail("status must be a string")),
        };
        let status_details = self.status_details()?;
        let expected_version = self.number("expectedVersion")?;
        let execution_number = self.number("executionNumber")?;
        let include_state = self.flag("includeJobExecutionState", false)?;
        let include_document = self.flag("includeJobDocument", false)?;
        self.step_timeout()?;
        Ok(UpdateRequest {
            status,
            status_details,
            expected_version,
            execution_number,
            include_state,
            include_document,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(text: &str) -> Result<Payload, JobsError> {
        Payload::parse(text.as_bytes())
    }

    fn code(result: Result<impl std::fmt::Debug, JobsError>) -> ErrorCode {
        result.unwrap_err().code
    }

    #[test]
    fn empty_payloads_are_empty_objects_and_non_objects_are_invalid_json() {
        assert_eq!(payload("").unwrap().client_token, None);
        assert_eq!(payload(" \n").unwrap().client_token, None);
        for text in ["[]", "\"x\"", "{oops", "null"] {
            assert_eq!(code(payload(text)), ErrorCode::InvalidJson, "{text}");
        }
        assert_eq!(code(Payload::parse(b"\xff\xfe")), ErrorCode::InvalidJson);
    }

    #[test]
    fn client_tokens_are_strings_of_at_most_64_bytes() {
        let ok = format!(r#"{{"clientToken":"{}"}}"#, "t".repeat(MAX_CLIENT_TOKEN));
        assert_eq!(
            payload(&ok).unwrap().client_token.map(|t| t.len()),
            Some(64)
        );
        let long = format!(
            r#"{{"clientToken":"{}"}}"#,
            "t".repeat(MAX_CLIENT_TOKEN + 1)
        );
        assert_eq!(code(payload(&long)), ErrorCode::InvalidRequest);
        assert_eq!(
            code(payload(r#"{"clientToken":5}"#)),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn an_update_needs_a_status_a_device_may_set() {
        for text in [
            r#"{}"#,
            r#"{"status":null}"#,
            r#"{"status":1}"#,
            r#"{"status":"QUEUED"}"#,
            r#"{"status":"CANCELED"}"#,
            r#"{"status":"TIMED_OUT"}"#,
            r#"{"status":"succeeded"}"#,
        ] {
            let error = payload(text).unwrap().update().unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidRequest, "{text}");
        }
        let update = payload(
            r#"{"status":"SUCCEEDED","statusDetails":{"step":"done"},"expectedVersion":2,"executionNumber":1,"includeJobExecutionState":true,"stepTimeoutInMinutes":5,"clientToken":"c"}"#,
        )
        .unwrap()
        .update()
        .unwrap();
        assert_eq!(
            update,
            UpdateRequest {
                status: ExecutionStatus::Succeeded,
                status_details: Some(BTreeMap::from([("step".into(), "done".into())])),
                expected_version: Some(2),
                execution_number: Some(1),
                include_state: true,
                include_document: false,
            }
        );
    }

    #[test]
    fn bad_members_are_invalid_requests_carrying_the_token() {
        let long_value = format!(
            r#"{{"status":"FAILED","statusDetails":{{"k":"{}"}},"clientToken":"c"}}"#,
            "v".repeat(MAX_DETAILS_VALUE + 1)
        );
        for text in [
            r#"{"status":"FAILED","statusDetails":"x","clientToken":"c"}"#,
            r#"{"status":"FAILED","statusDetails":{"k":1},"clientToken":"c"}"#,
            r#"{"status":"FAILED","statusDetails":{"k":""},"clientToken":"c"}"#,
            r#"{"status":"FAILED","statusDetails":{"bad key":"v"},"clientToken":"c"}"#,
            r#"{"status":"FAILED","statusDetails":{"k":"a\u0001"},"clientToken":"c"}"#,
            long_value.as_str(),
            r#"{"status":"FAILED","expectedVersion":"2","clientToken":"c"}"#,
            r#"{"status":"FAILED","expectedVersion":-1,"clientToken":"c"}"#,
            r#"{"status":"FAILED","includeJobDocument":"yes","clientToken":"c"}"#,
            r#"{"status":"FAILED","stepTimeoutInMinutes":0,"clientToken":"c"}"#,
            r#"{"status":"FAILED","stepTimeoutInMinutes":10081,"clientToken":"c"}"#,
        ] {
            let error = payload(text).unwrap().update().unwrap_err();
            assert_eq!(
                (error.code, error.client_token.as_deref()),
                (ErrorCode::InvalidRequest, Some("c")),
                "{text}"
            );
        }
    }

    #[test]
    fn start_next_and_describe_members() {
        let start = payload(r#"{"statusDetails":{"a":"b"},"stepTimeoutInMinutes":10080}"#)
            .unwrap()
            .start_next()
            .unwrap();
        assert_eq!(
            start.status_details,
            Some(BTreeMap::from([("a".into(), "b".into())]))
        );
        assert_eq!(
            payload("").unwrap().describe().unwrap(),
            DescribeRequest {
                execution_number: None,
                include_document: true
            }
        );
        let describe = payload(r#"{"executionNumber":1,"includeJobDocument":false}"#)
            .unwrap()
            .describe()
            .unwrap();
        assert_eq!(describe.execution_number, Some(1));
        assert!(!describe.include_document);
    }
}
