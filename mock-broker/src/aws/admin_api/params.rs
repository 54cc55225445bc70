//! Reading request members where boto3 puts them, as botocore's model places them: the
//! query string ([`Query`]: booleans as `true`/`false`, page sizes, markers and tokens,
//! versions), certificate ids in the path, and the principal headers.
//!
//! Anything malformed is an `InvalidRequestException` naming the member, never a panic or
//! axum's plain-text rejection. The paging itself is [`crate::aws::registry::paginate`]'s;
//! this only reads its [`PageRequest`] from the query.

use super::{ApiError, bad_request};
use crate::aws::registry::{DEFAULT_PAGE_SIZE, PageRequest};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::collections::HashMap;

/// The query string, decoded; a query that does not decode is an InvalidRequestException.
pub(crate) struct Query(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(query)| Query(query))
            .map_err(|e| bad_request(format!("query string: {e}")))
    }
}

impl Query {
    /// A boolean member: absent is `None`; boto3 sends `true` or `false`.
    pub(crate) fn optional_flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(bad_request(format!(
                "{name} must be true or false, got {other:?}"
            ))),
        }
    }

    /// A boolean member that is false when absent.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.optional_flag(name)?.unwrap_or(false))
    }

    /// A text member.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A whole-number member (`expectedVersion`, page sizes).
    pub(crate) fn number(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.0
            .get(name)
            .map(|text| {
                text.parse::<u64>().map_err(|_| {
                    bad_request(format!("{name} must be a whole number, got {text:?}"))
                })
            })
            .transpose()
    }

    pub(crate) fn size(&self, name: &str) -> Result<usize, ApiError> {
        Ok(match self.number(name)? {
            // Out-of-range sizes are refused by the paging, with the model's bounds.
            Some(size) => usize::try_from(size).unwrap_or(usize::MAX),
            None => DEFAULT_PAGE_SIZE,
        })
    }

    /// `marker`, `pageSize` and, where the operation has it, `isAscendingOrder` (the
    /// certificate and policy lists); `ascending_by_default` is the order without it.
    pub(crate) fn marker_page(
        &self,
        ascending_by_default: bool,
    ) -> Result<PageRequest<'_>, ApiError> {
        Ok(PageRequest {
            token: self.text("marker"),
            size: self.size("pageSize")?,
            ascending: self
                .optional_flag("isAscendingOrder")?
                .unwrap_or(ascending_by_default),
        })
    }

    /// `nextToken` and `maxResults` (the thing lists), in name order.
    pub(crate) fn token_page(&self) -> Result<PageRequest<'_>, ApiError> {
        Ok(PageRequest {
            token: self.text("nextToken"),
            size: self.size("maxResults")?,
            ascending: true,
        })
    }
}

/// A certificate id from the path: 64 hex digits (the model's `CertificateId`).
pub(super) fn certificate_id(id: &str) -> Result<&str, ApiError> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(bad_request(format!(
            "certificateId {id:?} is not 64 hexadecimal digits"
        )))
    }
}

/// A required header member (`x-amzn-principal`, `x-amzn-iot-principal`,
/// `x-amzn-iot-policy`).
pub(super) fn header(headers: &HeaderMap, name: &str) -> Result<String, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| bad_request(format!("the {name} header is required")))
}
