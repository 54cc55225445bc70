//! CA certificates: RegisterCACertificate, UpdateCACertificate, DescribeCACertificate,
//! ListCACertificates, and finding the registered CA that issued a certificate.

use super::*;

impl Registry {
    /// RegisterCACertificate.
    #[allow(clippy::too_many_arguments)]
    pub fn register_ca(
        &mut self,
        ca_pem: &str,
        verification_pem: Option<&str>,
        set_as_active: bool,
        allow_auto_registration: bool,
        mode: CertificateMode,
        template_body: Option<String>,
        now_ms: u64,
    ) -> Result<&CaRecord, AwsError> {
        let ca =
            CertInfo::from_pem(ca_pem).map_err(|e| validation(format!("CA certificate: {e}")))?;
        if !ca.is_ca {
            return Err(validation(
                "the certificate is not a CA: basicConstraints CA:TRUE is missing",
            ));
        }
        if !ca.valid_at(now_secs(now_ms)) {
            return Err(validation("the CA certificate is expired or not yet valid"));
        }
        match (mode, verification_pem) {
            (CertificateMode::Default, None) => {
                return Err(invalid(
                    "verificationCertificate is required unless certificateMode is SNI_ONLY",
                ));
            }
            (CertificateMode::Default, Some(pem)) => {
                let verification = CertInfo::from_pem(pem)
                    .map_err(|e| validation(format!("verification certificate: {e}")))?;
                if verification.common_name.as_deref()
                    != Some(self.account.registration_code.as_str())
                {
                    return Err(validation(
                        "the verification certificate's common name is not the registration code",
                    ));
                }
                if !verification.is_signed_by(&ca) {
                    return Err(validation(
                        "the verification certificate is not signed by the CA",
                    ));
                }
            }
            (CertificateMode::SniOnly, _) => {}
        }
        if let Some(template) = &template_body {
            serde_json::from_str::<serde_json::Value>(template)
                .map_err(|e| invalid(format!("templateBody is not JSON: {e}")))?;
        }
        if self.cas.contains_key(&ca.id) {
            return Err(self.exists("cacert", &ca.id));
        }
        let record = CaRecord {
            id: ca.id.clone(),
            pem: ca.pem(),
            status: if set_as_active {
                CaStatus::Active
            } else {
                CaStatus::Inactive
            },
            auto_registration: allow_auto_registration,
            mode,
            template_body,
            created_ms: now_ms,
            modified_ms: now_ms,
        };
        Ok(self.cas.entry(ca.id).or_insert(record))
    }

    /// UpdateCACertificate.
    pub fn update_ca(
        &mut self,
        id: &str,
        status: Option<CaStatus>,
        auto_registration: Option<bool>,
        template_body: Option<Option<String>>,
        now_ms: u64,
    ) -> Result<(), AwsError> {
        if let Some(Some(template)) = &template_body {
            serde_json::from_str::<serde_json::Value>(template)
                .map_err(|e| invalid(format!("templateBody is not JSON: {e}")))?;
        }
        let ca = self
            .cas
            .get_mut(id)
            .ok_or_else(|| not_found(format!("CA certificate {id} does not exist")))?;
        let deactivated = ca.status == CaStatus::Active && status == Some(CaStatus::Inactive);
        if let Some(status) = status {
            ca.status = status;
        }
        if let Some(auto) = auto_registration {
            ca.auto_registration = auto;
        }
        if let Some(template) = template_body {
            ca.template_body = template;
        }
        ca.modified_ms = now_ms;
        if deactivated {
            // AWS closes the connections of the certificates an INACTIVE CA issued.
            self.revoke_issued_by(id);
        }
        Ok(())
    }

    /// DescribeCACertificate.
    pub fn ca(&self, id: &str) -> Result<&CaRecord, AwsError> {
        self.cas
            .get(id)
            .ok_or_else(|| not_found(format!("CA certificate {id} does not exist")))
    }

    /// ListCACertificates.
    pub fn cas(&self) -> impl Iterator<Item = &CaRecord> {
        self.cas.values()
    }

    /// The registered CA that issued `cert`, if any.
    pub fn issuing_ca(&self, cert: &CertInfo) -> Option<&CaRecord> {
        self.cas
            .values()
            .find(|ca| CertInfo::from_pem(&ca.pem).is_ok_and(|ca_info| cert.is_signed_by(&ca_info)))
    }
}
