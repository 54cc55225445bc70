//! Device certificates: RegisterCertificate, RegisterCertificateWithoutCA, registration on
//! a connection (JITR, JITP), UpdateCertificate, DescribeCertificate, ListCertificates and
//! DeleteCertificate.

use super::*;

impl Registry {
    /// RegisterCertificate: a certificate issued by a registered CA.
    pub fn register_certificate(
        &mut self,
        pem: &str,
        ca_pem: Option<&str>,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        registrable(status)?;
        let cert = CertInfo::from_pem(pem).map_err(|e| validation(format!("certificate: {e}")))?;
        let ca = match ca_pem {
            Some(ca_pem) => {
                let ca = CertInfo::from_pem(ca_pem)
                    .map_err(|e| validation(format!("CA certificate: {e}")))?;
                self.cas
                    .get(&ca.id)
                    .ok_or_else(|| not_found("the CA certificate is not registered"))?
            }
            None => self
                .issuing_ca(&cert)
                .ok_or_else(|| not_found("no registered CA issued this certificate"))?,
        };
        let ca_info = CertInfo::from_pem(&ca.pem).map_err(|e| validation(e.to_string()))?;
        if !cert.is_signed_by(&ca_info) {
            return Err(validation("the certificate is not signed by the CA"));
        }
        if ca.status != CaStatus::Active {
            return Err(AwsError::new(
                AwsErrorKind::CertificateState,
                "the CA certificate is not ACTIVE",
            ));
        }
        let (ca_id, mode) = (ca.id.clone(), ca.mode);
        self.add_certificate(&cert, Some(ca_id), mode, status, now_ms)
    }

    /// RegisterCertificateWithoutCA.
    pub fn register_certificate_without_ca(
        &mut self,
        pem: &str,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        registrable(status)?;
        let cert = CertInfo::from_pem(pem).map_err(|e| validation(format!("certificate: {e}")))?;
        self.add_certificate(&cert, None, CertificateMode::SniOnly, status, now_ms)
    }

    /// Registers a certificate presented on a connection (JITR, JITP).
    pub fn register_presented(
        &mut self,
        cert: &CertInfo,
        ca_id: &str,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        let mode = self.ca(ca_id)?.mode;
        self.add_certificate(cert, Some(ca_id.to_owned()), mode, status, now_ms)
    }

    pub(super) fn add_certificate(
        &mut self,
        cert: &CertInfo,
        ca_id: Option<String>,
        mode: CertificateMode,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        if !cert.valid_at(now_secs(now_ms)) {
            return Err(validation("the certificate is expired or not yet valid"));
        }
        if self.certificates.contains_key(&cert.id) {
            return Err(self.exists("cert", &cert.id));
        }
        let record = CertRecord {
            id: cert.id.clone(),
            pem: cert.pem(),
            status,
            ca_id,
            mode,
            created_ms: now_ms,
            modified_ms: now_ms,
        };
        Ok(self.certificates.entry(cert.id.clone()).or_insert(record))
    }

    /// UpdateCertificate.
    pub fn update_certificate(
        &mut self,
        id: &str,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<(), AwsError> {
        let cert = self
            .certificates
            .get_mut(id)
            .ok_or_else(|| not_found(format!("certificate {id} does not exist")))?;
        if matches!(
            status,
            CertificateStatus::PendingActivation | CertificateStatus::PendingTransfer
        ) {
            // AWS: "PENDING_TRANSFER and PENDING_ACTIVATION are statuses used internally by
            // IoT. They are not intended for developer use." (UpdateCertificate reference)
            return Err(invalid(format!(
                "newStatus {} is used internally by AWS IoT and cannot be set",
                status.as_str()
            )));
        }
        if cert.status == CertificateStatus::Revoked && status != CertificateStatus::Revoked {
            return Err(AwsError::new(
                AwsErrorKind::CertificateState,
                "a REVOKED certificate cannot change status",
            ));
        }
        if cert.status == CertificateStatus::Active && status != CertificateStatus::Active {
            self.revoked.push(id.to_owned());
        }
        cert.status = status;
        cert.modified_ms = now_ms;
        Ok(())
    }

    /// DescribeCertificate.
    pub fn certificate(&self, id: &str) -> Result<&CertRecord, AwsError> {
        self.certificates
            .get(id)
            .ok_or_else(|| not_found(format!("certificate {id} does not exist")))
    }

    /// ListCertificates.
    pub fn certificates(&self) -> impl Iterator<Item = &CertRecord> {
        self.certificates.values()
    }

    /// DeleteCertificate: it must be INACTIVE or REVOKED, and with `force` its policies
    /// are detached; things must be detached first.
    pub fn delete_certificate(&mut self, id: &str, force: bool) -> Result<(), AwsError> {
        let cert = self.certificate(id)?;
        if cert.status == CertificateStatus::Active {
            // AWS: "A certificate cannot be deleted if ... its status is set to ACTIVE."
            return Err(AwsError::new(
                AwsErrorKind::CertificateState,
                "an ACTIVE certificate cannot be deleted: set it INACTIVE first",
            ));
        }
        let arn = self.arn("cert", id);
        if self.thing_principals.values().any(|p| p.contains(&arn)) {
            return Err(AwsError::new(
                AwsErrorKind::DeleteConflict,
                "things are still attached to the certificate",
            ));
        }
        let has_policies = self.policy_targets.values().any(|t| t.contains(&arn));
        if has_policies && !force {
            return Err(AwsError::new(
                AwsErrorKind::DeleteConflict,
                "policies are still attached to the certificate",
            ));
        }
        for targets in self.policy_targets.values_mut() {
            targets.remove(&arn);
        }
        self.certificates.remove(id);
        Ok(())
    }
}

/// RegisterCertificate and RegisterCertificateWithoutCA refuse the statuses AWS keeps for
/// itself: `PENDING_ACTIVATION` (only JITR sets it) and `PENDING_TRANSFER` give
/// `CertificateStateException` (HTTP 406), as measured on AWS.
fn registrable(status: CertificateStatus) -> Result<(), AwsError> {
    match status {
        CertificateStatus::PendingActivation | CertificateStatus::PendingTransfer => {
            Err(AwsError::new(
                AwsErrorKind::CertificateState,
                format!("a certificate cannot be registered as {}", status.as_str()),
            ))
        }
        _ => Ok(()),
    }
}
