//! The one part of SigV4 the admin API checks: the credential scope's region and service.
//!
//! boto3 and the aws CLI sign every request with
//! `Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/iot/aws4_request,
//! SignedHeaders=..., Signature=...`. AWS refuses a request scoped to a region the endpoint
//! does not serve with HTTP 403, `x-amzn-ErrorType: InvalidSignatureException` and the
//! message `Credential should be scoped to a valid region, not '<region>'. ` (the wording
//! AWS's SigV4 troubleshooting guide gives), and one scoped to another service with
//! `Credential should be scoped to correct service: 'iot'. `; so does mock-broker, against
//! the broker's own region. An `Authorization` header that is not SigV4 at all is a 403
//! `IncompleteSignatureException`. Without an `Authorization` header (unsigned local use,
//! `aws --no-sign-request`) the request is accepted. Signatures themselves, keys and dates
//! are never checked.

use super::{ApiError, Plane};
use crate::aws::registry::{AwsError, AwsErrorKind};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The service name in an AWS IoT control-plane credential scope.
const SERVICE: &str = "iot";

/// The service name in an AWS IoT data-plane (`iot-data`) credential scope: botocore's
/// `signingName` for it.
const DATA_SERVICE: &str = "iotdata";

/// Middleware of the control plane: refuses requests signed for another region or
/// service than `iot`.
pub(super) async fn check_scope(State(plane): Plane, request: Request, next: Next) -> Response {
    checked(&plane, SERVICE, request, next).await
}

/// Middleware of the data plane: refuses requests signed for another region or service
/// than `iotdata`.
pub(crate) async fn check_data_scope(
    State(plane): Plane,
    request: Request,
    next: Next,
) -> Response {
    checked(&plane, DATA_SERVICE, request, next).await
}

async fn checked(
    plane: &crate::aws::control_plane::ControlPlane,
    service: &str,
    request: Request,
    next: Next,
) -> Response {
    let region = plane.read(|reg| reg.account.region.clone());
    match scope_error(request.headers(), request.uri().query(), &region, service) {
        Some(error) => ApiError(error).into_response(),
        None => next.run(request).await,
    }
}

fn incomplete(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::IncompleteSignature, message)
}

/// What is wrong with a request's credential scope for a broker in `region`; `None` when it
/// is unsigned or scoped to `region` and `service`.
pub(super) fn scope_error(
    headers: &HeaderMap,
    query: Option<&str>,
    region: &str,
    service: &str,
) -> Option<AwsError> {
    let credential = match headers.get("authorization") {
        Some(value) => {
            let Ok(value) = value.to_str() else {
                return Some(incomplete("the Authorization header is not ASCII"));
            };
            let Some(parameters) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
                return Some(incomplete(
                    "Authorization header requires the AWS4-HMAC-SHA256 algorithm and a 'Credential' parameter",
                ));
            };
            match parameters
                .split(',')
                .find_map(|p| p.trim().strip_prefix("Credential="))
            {
                Some(credential) => credential.to_owned(),
                None => {
                    return Some(incomplete(
                        "Authorization header requires 'Credential' parameter",
                    ));
                }
            }
        }
        // A presigned request carries its scope in the query string.
        None => presigned_credential(query?)?,
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [_key_id, _date, scope_region, scope_service, terminator] = scope.as_slice() else {
        return Some(incomplete(format!(
            "the credential scope {credential:?} is not <key id>/<date>/<region>/<service>/aws4_request"
        )));
    };
    if *terminator != "aws4_request" {
        return Some(incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        )));
    }
    if *scope_region != region {
        return Some(AwsError::new(
            AwsErrorKind::InvalidSignature,
            format!("Credential should be scoped to a valid region, not '{scope_region}'. "),
        ));
    }
    if *scope_service != service {
        return Some(AwsError::new(
            AwsErrorKind::InvalidSignature,
            format!("Credential should be scoped to correct service: '{service}'. "),
        ));
    }
    None
}

/// `X-Amz-Credential` of a presigned URL, decoded.
fn presigned_credential(query: &str) -> Option<String> {
    let pairs: Vec<(String, String)> =
        axum::extract::Query::try_from_uri(&format!("/?{query}").parse().ok()?)
            .ok()
            .map(|axum::extract::Query(pairs)| pairs)?;
    pairs
        .into_iter()
        .find(|(name, _)| name == "X-Amz-Credential")
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(credential: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature=00"
        );
        headers.insert("authorization", value.parse().unwrap());
        headers
    }

    fn kind_and_message(error: Option<AwsError>) -> Option<(AwsErrorKind, String)> {
        error.map(|e| (e.kind, e.message))
    }

    #[test]
    fn the_broker_region_and_unsigned_requests_pass() {
        let ok = signed("AKID/20260101/us-east-2/iot/aws4_request");
        assert!(scope_error(&ok, None, "us-east-2", SERVICE).is_none());
        assert!(scope_error(&HeaderMap::new(), None, "us-east-2", SERVICE).is_none());
        assert!(scope_error(&HeaderMap::new(), Some("pageSize=3"), "us-east-2", SERVICE).is_none());
    }

    #[test]
    fn another_region_is_an_invalid_signature() {
        let error = scope_error(
            &signed("AKID/20260101/us-east-2/iot/aws4_request"),
            None,
            "us-east-1",
            SERVICE,
        );
        assert_eq!(
            kind_and_message(error),
            Some((
                AwsErrorKind::InvalidSignature,
                "Credential should be scoped to a valid region, not 'us-east-2'. ".into()
            ))
        );
        let presigned = "X-Amz-Credential=AKID%2F20260101%2Feu-west-1%2Fiot%2Faws4_request";
        let error = scope_error(&HeaderMap::new(), Some(presigned), "us-east-1", SERVICE).unwrap();
        assert_eq!(error.kind, AwsErrorKind::InvalidSignature);
        assert_eq!(error.http_status(), 403);
    }

    #[test]
    fn another_service_is_an_invalid_signature() {
        let error = scope_error(
            &signed("AKID/20260101/us-east-1/iotdata/aws4_request"),
            None,
            "us-east-1",
            SERVICE,
        );
        assert_eq!(
            kind_and_message(error),
            Some((
                AwsErrorKind::InvalidSignature,
                "Credential should be scoped to correct service: 'iot'. ".into()
            ))
        );
        // The data plane signs as `iotdata`, and the control plane's scope is wrong there.
        let data = signed("AKID/20260101/us-east-1/iotdata/aws4_request");
        assert!(scope_error(&data, None, "us-east-1", DATA_SERVICE).is_none());
        let error = scope_error(
            &signed("AKID/20260101/us-east-1/iot/aws4_request"),
            None,
            "us-east-1",
            DATA_SERVICE,
        );
        assert_eq!(
            error.map(|e| e.message),
            Some("Credential should be scoped to correct service: 'iotdata'. ".into())
        );
    }

    #[test]
    fn malformed_authorization_is_an_incomplete_signature() {
        let mut bearer = HeaderMap::new();
        bearer.insert("authorization", "Bearer abc".parse().unwrap());
        let no_credential = {
            let mut h = HeaderMap::new();
            h.insert(
                "authorization",
                "AWS4-HMAC-SHA256 Signature=00".parse().unwrap(),
            );
            h
        };
        for headers in [
            bearer,
            no_credential,
            signed("AKID/us-east-1/iot/aws4_request"),
            signed("AKID/20260101/us-east-1/iot/aws5_request"),
        ] {
            let error = scope_error(&headers, None, "us-east-1", SERVICE).unwrap();
            assert_eq!(error.kind, AwsErrorKind::IncompleteSignature, "{headers:?}");
            assert_eq!(error.http_status(), 403);
        }
    }
}
