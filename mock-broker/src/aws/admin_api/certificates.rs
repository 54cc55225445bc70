//! Device certificates: RegisterCertificate, RegisterCertificateWithoutCA,
//! UpdateCertificate, DescribeCertificate, ListCertificates, ListCertificatesByCA,
//! DeleteCertificate. (The certificates the broker issues itself are `issuance`'s.)

use super::*;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterCertificate {
    certificate_pem: String,
    ca_certificate_pem: Option<String>,
    status: Option<String>,
}

/// The status to register with: `status` from the body, else `setAsActive` from the query.
fn requested_status(
    set_as_active: bool,
    status: Option<&str>,
) -> Result<CertificateStatus, AwsError> {
    match (status, set_as_active) {
        (Some(status), _) => CertificateStatus::parse(status),
        (None, true) => Ok(CertificateStatus::Active),
        (None, false) => Ok(CertificateStatus::Inactive),
    }
}

pub(super) async fn register_certificate(
    State(plane): Plane,
    query: Query,
    raw: axum::body::Bytes,
) -> Reply {
    let request: RegisterCertificate = body(&raw)?;
    let status = requested_status(query.flag("setAsActive")?, request.status.as_deref())?;
    let reply = plane.change(|reg, now| {
        let id = reg
            .register_certificate(
                &request.certificate_pem,
                request.ca_certificate_pem.as_deref(),
                status,
                now,
            )?
            .id
            .clone();
        Ok(json!({"certificateArn": reg.arn("cert", &id), "certificateId": id}))
    })?;
    Ok(Json(reply))
}

pub(super) async fn register_certificate_without_ca(
    State(plane): Plane,
    raw: axum::body::Bytes,
) -> Reply {
    let request: RegisterCertificate = body(&raw)?;
    let status = requested_status(false, request.status.as_deref())?;
    let reply = plane.change(|reg, now| {
        let id = reg
            .register_certificate_without_ca(&request.certificate_pem, status, now)?
            .id
            .clone();
        Ok(json!({"certificateArn": reg.arn("cert", &id), "certificateId": id}))
    })?;
    Ok(Json(reply))
}

pub(super) async fn update_certificate(
    State(plane): Plane,
    Path(id): Path<String>,
    query: Query,
) -> Reply {
    let id = certificate_id(&id)?;
    let status = query
        .text("newStatus")
        .ok_or_else(|| bad_request("newStatus is required"))?;
    let status = CertificateStatus::parse(status)?;
    plane.change(|reg, now| reg.update_certificate(id, status, now))?;
    Ok(Json(json!({})))
}

pub(super) fn certificate_description(reg: &Registry, cert: &CertRecord) -> Value {
    json!({
        "certificateArn": reg.arn("cert", &cert.id),
        "certificateId": cert.id,
        "caCertificateId": cert.ca_id,
        "status": cert.status.as_str(),
        "certificatePem": cert.pem,
        "ownedBy": reg.account.id,
        "creationDate": seconds(cert.created_ms),
        "lastModifiedDate": seconds(cert.modified_ms),
        "certificateMode": cert.mode.as_str(),
        "validity": validity(&cert.pem),
    })
}

pub(super) async fn describe_certificate(State(plane): Plane, Path(id): Path<String>) -> Reply {
    let id = certificate_id(&id)?;
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        Ok(json!({"certificateDescription": certificate_description(reg, reg.certificate(id)?)}))
    })?;
    Ok(Json(reply))
}

/// A `Certificate` of ListCertificates and ListCertificatesByCA.
fn certificate_summary(reg: &Registry, c: &CertRecord) -> Value {
    json!({
        "certificateArn": reg.arn("cert", &c.id),
        "certificateId": c.id,
        "status": c.status.as_str(),
        "certificateMode": c.mode.as_str(),
        "creationDate": seconds(c.created_ms),
    })
}

fn certificates_reply(reg: &Registry, page: Page<&CertRecord>) -> Value {
    let certificates: Vec<Value> = page
        .items
        .iter()
        .map(|c| certificate_summary(reg, c))
        .collect();
    with_marker(json!({"certificates": certificates}), page.next)
}

/// ListCertificates: `marker`/`pageSize`, newest first unless `isAscendingOrder`.
pub(super) async fn list_certificates(State(plane): Plane, query: Query) -> Reply {
    let request = query.marker_page(false)?;
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        Ok(certificates_reply(reg, reg.list_certificates(&request)?))
    })?;
    Ok(Json(reply))
}

/// ListCertificatesByCA: the certificates registered with one CA, paged like
/// ListCertificates.
pub(super) async fn list_certificates_by_ca(
    State(plane): Plane,
    Path(id): Path<String>,
    query: Query,
) -> Reply {
    let id = certificate_id(&id)?;
    let request = query.marker_page(false)?;
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        Ok(certificates_reply(
            reg,
            reg.list_certificates_by_ca(id, &request)?,
        ))
    })?;
    Ok(Json(reply))
}

pub(super) async fn delete_certificate(
    State(plane): Plane,
    Path(id): Path<String>,
    query: Query,
) -> Reply {
    let id = certificate_id(&id)?;
    let force = query.flag("forceDelete")?;
    plane.change(|reg, _| reg.delete_certificate(id, force))?;
    Ok(Json(json!({})))
}
