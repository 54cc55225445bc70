//! Certificates the broker issues as AWS IoT does: CreateCertificateFromCsr and
//! CreateKeysAndCertificate (the signing and key making are
//! [`crate::aws::registry::Registry::create_certificate_from_csr`] and
//! [`crate::aws::registry::generate_key_pair`]). The private key goes into the response
//! only; it is never logged.

use super::*;
use crate::aws::registry::generate_key_pair;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateFromCsr {
    certificate_signing_request: Option<String>,
}

/// CreateCertificateFromCsr: `certificateSigningRequest` in the body, `setAsActive` in the
/// query string.
pub(super) async fn create_certificate_from_csr(
    State(plane): Plane,
    query: Query,
    raw: axum::body::Bytes,
) -> Reply {
    let csr = body::<CreateFromCsr>(&raw)?
        .certificate_signing_request
        .ok_or_else(|| bad_request("certificateSigningRequest is required"))?;
    let set_as_active = query.flag("setAsActive")?;
    let reply = plane.change(|reg, now| {
        let record = reg.create_certificate_from_csr(&csr, set_as_active, now)?;
        let (id, pem) = (record.id.clone(), record.pem.clone());
        Ok(json!({
            "certificateArn": reg.arn("cert", &id),
            "certificateId": id,
            "certificatePem": pem,
        }))
    })?;
    Ok(Json(reply))
}

/// CreateKeysAndCertificate: an RSA 2048 key pair (made off the async threads, outside the
/// registry lock) and a certificate for it; `setAsActive` in the query string.
pub(super) async fn create_keys_and_certificate(State(plane): Plane, query: Query) -> Reply {
    let set_as_active = query.flag("setAsActive")?;
    let keys = tokio::task::spawn_blocking(generate_key_pair)
        .await
        .map_err(|e| {
            ApiError(AwsError::new(
                AwsErrorKind::InternalFailure,
                format!("key generation stopped: {e}"),
            ))
        })??;
    let reply = plane.change(|reg, now| {
        let record = reg.create_keys_and_certificate(&keys, set_as_active, now)?;
        let (id, pem) = (record.id.clone(), record.pem.clone());
        Ok(json!({
            "certificateArn": reg.arn("cert", &id),
            "certificateId": id,
            "certificatePem": pem,
            "keyPair": {"PublicKey": keys.public_key_pem, "PrivateKey": keys.private_key_pem},
        }))
    })?;
    Ok(Json(reply))
}
