//! Device certificates: RegisterCertificate, RegisterCertificateWithoutCA,
//! UpdateCertificate, DescribeCertificate, ListCertificates, DeleteCertificate.

use super::*;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterCertificate {
    certificate_pem: String,
    ca_certificate_pem: Option<String>,
    status: Option<String>,
}

pub(super) fn requested_status(
    query: &HashMap<String, String>,
    status: Option<&str>,
) -> Result<CertificateStatus, AwsError> {
    match (status, flag(query, "setAsActive")) {
        (Some(status), _) => CertificateStatus::parse(status),
        (None, true) => Ok(CertificateStatus::Active),
        (None, false) => Ok(CertificateStatus::Inactive),
    }
}

pub(super) async fn register_certificate(
    State(plane): Plane,
    Query(query): Query<HashMap<String, String>>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: RegisterCertificate = body(&raw)?;
    let status = requested_status(&query, request.status.as_deref())?;
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
    let status = requested_status(&HashMap::new(), request.status.as_deref())?;
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
    Query(query): Query<HashMap<String, String>>,
) -> Reply {
    let status = query
        .get("newStatus")
        .ok_or_else(|| bad_request("newStatus is required"))?;
    let status = CertificateStatus::parse(status)?;
    plane.change(|reg, now| reg.update_certificate(&id, status, now))?;
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
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        Ok(json!({"certificateDescription": certificate_description(reg, reg.certificate(&id)?)}))
    })?;
    Ok(Json(reply))
}

pub(super) async fn list_certificates(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(|reg| {
        let certificates: Vec<Value> = reg
            .certificates()
            .map(|c| {
                json!({
                    "certificateArn": reg.arn("cert", &c.id),
                    "certificateId": c.id,
                    "status": c.status.as_str(),
                    "certificateMode": c.mode.as_str(),
                    "creationDate": seconds(c.created_ms),
                })
            })
            .collect();
        json!({"certificates": certificates})
    })))
}

pub(super) async fn delete_certificate(
    State(plane): Plane,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Reply {
    plane.change(|reg, _| reg.delete_certificate(&id, flag(&query, "forceDelete")))?;
    Ok(Json(json!({})))
}
