//! What the control plane needs to know about an X.509 certificate, read once from PEM.
//!
//! [`CertInfo`] holds the DER, the AWS id, the subject and issuer, the validity window, CA
//! flags, the Subject Key Identifier, and the subject fields a JITP template may use.
//! [`CertInfo::is_signed_by`] checks a signature with another certificate's key.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a PEM certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Not a PEM certificate.
    #[error("not a PEM certificate")]
    NotPem,
    /// The DER inside does not parse as X.509.
    #[error("the certificate does not parse: {0}")]
    Unparsable(String),
}

/// A parsed certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// DER encoding.
    pub der: CertificateDer<'static>,
    /// AWS certificate id (lowercase hex SHA-256 of the DER).
    pub id: String,
    /// Subject distinguished name, as text.
    pub subject: String,
    /// Issuer distinguished name, as text.
    pub issuer: String,
    /// Raw subject DN bytes, for issuer matching.
    pub subject_raw: Vec<u8>,
    /// Raw issuer DN bytes.
    pub issuer_raw: Vec<u8>,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// Subject Key Identifier, lowercase hex.
    pub ski: Option<String>,
    /// Subject common name.
    pub common_name: Option<String>,
    /// Subject organization.
    pub organization: Option<String>,
    /// Serial number, hex.
    pub serial: String,
}

impl CertInfo {
    /// Reads the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| CertError::NotPem)?;
        Self::from_der(der.into_owned())
    }

    /// Reads a DER certificate.
    pub fn from_der(der: CertificateDer<'static>) -> Result<Self, CertError> {
        let (_, cert) =
            X509Certificate::from_der(&der).map_err(|e| CertError::Unparsable(e.to_string()))?;
        let first = |attrs: Vec<&x509_parser::x509::AttributeTypeAndValue<'_>>| {
            attrs
                .first()
                .and_then(|a| a.as_str().ok())
                .map(str::to_owned)
        };
        let ski = cert
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(hex::encode(id.0)),
                _ => None,
            });
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        Ok(CertInfo {
            id: crate::mqtt::hooks::certificate_id(&der),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca,
            ski,
            common_name: first(cert.subject().iter_common_name().collect()),
            organization: first(cert.subject().iter_organization().collect()),
            serial: cert.raw_serial_as_string().replace(':', ""),
            der: der.clone(),
        })
    }

    /// Is `unix_secs` inside the validity window?
    pub fn valid_at(&self, unix_secs: i64) -> bool {
        self.not_before <= unix_secs && unix_secs <= self.not_after
    }

    /// Was this certificate issued and signed by `issuer`?
    pub fn is_signed_by(&self, issuer: &CertInfo) -> bool {
        if self.issuer_raw != issuer.subject_raw {
            return false;
        }
        let (Ok((_, cert)), Ok((_, ca))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        cert.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev_pki::{TestCa, Validity};

    #[test]
    fn reads_a_certificate_and_checks_its_issuer() {
        let ca = TestCa::new("test CA").unwrap();
        let other = TestCa::new("test CA").unwrap();
        let leaf = ca.client("device-1", Validity::Long).unwrap();
        let info = CertInfo::from_pem(&leaf.cert_pem).unwrap();
        let ca_info = CertInfo::from_pem(&ca.pem()).unwrap();
        assert_eq!(info.id.len(), 64);
        assert_eq!(info.common_name.as_deref(), Some("device-1"));
        assert!(!info.is_ca);
        assert!(ca_info.is_ca);
        assert!(info.is_signed_by(&ca_info));
        // Same name, other key: not its issuer.
        assert!(!info.is_signed_by(&CertInfo::from_pem(&other.pem()).unwrap()));
        assert!(info.valid_at(1_800_000_000));
    }

    #[test]
    fn pem_round_trips() {
        let ca = TestCa::new("round trip").unwrap();
        let info = CertInfo::from_pem(&ca.pem()).unwrap();
        assert_eq!(CertInfo::from_pem(&info.pem()).unwrap().der, info.der);
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(CertInfo::from_pem("hello").unwrap_err(), CertError::NotPem);
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            CertInfo::from_pem(bad),
            Err(CertError::Unparsable(_))
        ));
    }

    #[test]
    fn expired_certificates_are_outside_their_window() {
        let ca = TestCa::new("test CA").unwrap();
        let old = ca.client("old", Validity::Expired).unwrap();
        assert!(
            !CertInfo::from_pem(&old.cert_pem)
                .unwrap()
                .valid_at(1_800_000_000)
        );
    }
}
