//! The account (GetRegistrationCode, DeleteRegistrationCode, DescribeEndpoint) and CA
//! certificates (RegisterCACertificate, UpdateCACertificate, DescribeCACertificate,
//! ListCACertificates, DeleteCACertificate).

use super::*;

pub(super) async fn registration_code(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(
        |reg| json!({"registrationCode": reg.account.registration_code}),
    )))
}

pub(super) async fn delete_registration_code(State(plane): Plane) -> Reply {
    plane.change(|reg, _| {
        reg.delete_registration_code();
        Ok(())
    })?;
    Ok(Json(json!({})))
}

pub(super) async fn describe_endpoint(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(
        |reg| json!({"endpointAddress": reg.account.endpoint}),
    )))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationConfig {
    template_body: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterCa {
    ca_certificate: String,
    verification_certificate: Option<String>,
    registration_config: Option<RegistrationConfig>,
    certificate_mode: Option<String>,
}

pub(super) async fn register_ca(
    State(plane): Plane,
    query: Query,
    raw: axum::body::Bytes,
) -> Reply {
    let request: RegisterCa = body(&raw)?;
    let mode = match request.certificate_mode.as_deref() {
        None | Some("DEFAULT") => CertificateMode::Default,
        Some("SNI_ONLY") => CertificateMode::SniOnly,
        Some(other) => return Err(bad_request(format!("invalid certificateMode {other:?}"))),
    };
    let (set_as_active, auto) = (
        query.flag("setAsActive")?,
        query.flag("allowAutoRegistration")?,
    );
    let template = request.registration_config.and_then(|c| c.template_body);
    let reply = plane.change(|reg, now| {
        let ca = reg.register_ca(
            &request.ca_certificate,
            request.verification_certificate.as_deref(),
            set_as_active,
            auto,
            mode,
            template,
            now,
        )?;
        let id = ca.id.clone();
        Ok(json!({"certificateArn": reg.arn("cacert", &id), "certificateId": id}))
    })?;
    Ok(Json(reply))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateCa {
    registration_config: Option<RegistrationConfig>,
    remove_auto_registration: Option<bool>,
}

/// UpdateCACertificate: `newStatus` and `newAutoRegistrationStatus` from the query string,
/// `registrationConfig.templateBody` (sets the JITP template) and `removeAutoRegistration`
/// (removes it) from the body.
pub(super) async fn update_ca(
    State(plane): Plane,
    Path(id): Path<String>,
    query: Query,
    raw: axum::body::Bytes,
) -> Reply {
    let id = certificate_id(&id)?;
    let request: UpdateCa = body(&raw)?;
    let status = query.text("newStatus").map(CaStatus::parse).transpose()?;
    let auto = match query.text("newAutoRegistrationStatus") {
        None => None,
        Some("ENABLE") => Some(true),
        Some("DISABLE") => Some(false),
        Some(other) => {
            return Err(bad_request(format!(
                "invalid newAutoRegistrationStatus {other:?}"
            )));
        }
    };
    let template = match (
        request.remove_auto_registration,
        request.registration_config,
    ) {
        (Some(true), _) => Some(None),
        (_, Some(config)) => config.template_body.map(Some),
        _ => None,
    };
    plane.change(|reg, now| reg.update_ca(id, status, auto, template, now))?;
    Ok(Json(json!({})))
}

pub(super) fn ca_description(reg: &Registry, ca: &CaRecord) -> Value {
    json!({
        "certificateArn": reg.arn("cacert", &ca.id),
        "certificateId": ca.id,
        "status": ca.status.as_str(),
        "certificatePem": ca.pem,
        "ownedBy": reg.account.id,
        "creationDate": seconds(ca.created_ms),
        "lastModifiedDate": seconds(ca.modified_ms),
        "autoRegistrationStatus": if ca.auto_registration { "ENABLE" } else { "DISABLE" },
        "certificateMode": ca.mode.as_str(),
        "validity": validity(&ca.pem),
    })
}

pub(super) async fn describe_ca(State(plane): Plane, Path(id): Path<String>) -> Reply {
    let id = certificate_id(&id)?;
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        let ca = reg.ca(id)?;
        let mut reply = json!({"certificateDescription": ca_description(reg, ca)});
        if let Some(template) = &ca.template_body {
            reply["registrationConfig"] = json!({"templateBody": template});
        }
        Ok(reply)
    })?;
    Ok(Json(reply))
}

/// ListCACertificates: `marker`/`pageSize`, newest first unless `isAscendingOrder`.
pub(super) async fn list_cas(State(plane): Plane, query: Query) -> Reply {
    let request = query.marker_page(false)?;
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        let page = reg.list_cas(query.text("templateName"), &request)?;
        let certificates: Vec<Value> = page
            .items
            .iter()
            .map(|ca| {
                json!({
                    "certificateArn": reg.arn("cacert", &ca.id),
                    "certificateId": ca.id,
                    "status": ca.status.as_str(),
                    "creationDate": seconds(ca.created_ms),
                })
            })
            .collect();
        Ok(with_marker(
            json!({"certificates": certificates}),
            page.next,
        ))
    })?;
    Ok(Json(reply))
}

/// DeleteCACertificate: an ACTIVE CA is a CertificateStateException (406).
pub(super) async fn delete_ca(State(plane): Plane, Path(id): Path<String>) -> Reply {
    let id = certificate_id(&id)?;
    plane.change(|reg, _| reg.delete_ca(id))?;
    Ok(Json(json!({})))
}
