//! Certificates AWS IoT issues itself: CreateCertificateFromCsr and CreateKeysAndCertificate.
//!
//! [`AwsIssuer`] is the control plane's own "AWS IoT" issuing CA, made with rcgen (ECDSA
//! P-256) the first time a certificate is issued and kept in memory only: after a restart a
//! new one signs, which nothing notices, because the certificates it issued are registered
//! (without a CA) and the TLS verifier admits registered certificates by their id. Issued
//! certificates look like AWS's: subject `CN=AWS IoT Certificate` (a CSR's subject is not
//! kept), issuer `OU=Amazon Web Services O=Amazon.com Inc. L=Seattle ST=Washington C=US`,
//! a random serial (so one CSR twice makes two certificates), valid from now to the end of
//! 2049, `certificateMode` DEFAULT, ACTIVE with `setAsActive` and INACTIVE without.
//!
//! [`generate_key_pair`] makes CreateKeysAndCertificate's RSA 2048 key pair (slow in debug
//! builds; the admin API runs it off the async threads, outside the registry lock). Neither
//! the key pair nor the issuer prints its private key in `Debug`.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber, SubjectPublicKeyInfo,
};
use std::sync::{Arc, OnceLock};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384, OID_NIST_EC_P521};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// The subject of every certificate AWS IoT issues.
pub const ISSUED_SUBJECT_CN: &str = "AWS IoT Certificate";

/// The issuer of AWS IoT's certificates: one organizational unit holding the whole text.
pub const ISSUER_OU: &str = "Amazon Web Services O=Amazon.com Inc. L=Seattle ST=Washington C=US";

/// The longest CSR the model accepts (`CertificateSigningRequest`, max 4096).
const MAX_CSR_LEN: usize = 4096;

type Issuer = CertifiedIssuer<'static, KeyPair>;

/// The control plane's issuing CA; made on first use. Cloning shares it.
#[derive(Clone, Default)]
pub struct AwsIssuer(Arc<OnceLock<Result<Issuer, String>>>);

impl std::fmt::Debug for AwsIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let made = self.0.get().map(|made| made.is_ok());
        f.debug_struct("AwsIssuer")
            .field("made", &made)
            .field("key", &"[elided]")
            .finish()
    }
}

impl AwsIssuer {
    fn get(&self) -> Result<&Issuer, AwsError> {
        self.0
            .get_or_init(|| make_issuer().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| {
                AwsError::new(
                    AwsErrorKind::InternalFailure,
                    format!("cannot make the issuing CA: {e}"),
                )
            })
    }

    /// The issuing CA's certificate, PEM (made now if need be).
    pub fn pem(&self) -> Result<String, AwsError> {
        Ok(self.get()?.pem())
    }
}

fn make_issuer() -> Result<Issuer, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, ISSUER_OU);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate()?)
}

/// CreateKeysAndCertificate's key pair: RSA 2048, as AWS makes it.
pub struct GeneratedKeyPair {
    /// SubjectPublicKeyInfo, PEM (`PUBLIC KEY`): the response's `keyPair.PublicKey`.
    pub public_key_pem: String,
    /// PKCS#1, PEM (`RSA PRIVATE KEY`): the response's `keyPair.PrivateKey`. Never log it.
    pub private_key_pem: String,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKeyPair")
            .field("public_key_pem", &self.public_key_pem)
            .field("private_key_pem", &"[elided]")
            .finish()
    }
}

/// Makes an RSA 2048 key pair (about a second in a debug build).
pub fn generate_key_pair() -> Result<GeneratedKeyPair, AwsError> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let failed = |e: &dyn std::fmt::Display| {
        AwsError::new(
            AwsErrorKind::InternalFailure,
            format!("cannot make a key pair: {e}"),
        )
    };
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| failed(&e))?;
    let public = key.to_public_key();
    Ok(GeneratedKeyPair {
        public_key_pem: public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| failed(&e))?,
        private_key_pem: key
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| failed(&e))?
            .to_string(),
        spki_der: public
            .to_public_key_der()
            .map_err(|e| failed(&e))?
            .as_bytes()
            .to_vec(),
    })
}

/// Reads a CSR, checks its signature and key (RSA of at least 2048 bits, or ECC P-256 or
/// P-384), and returns its SubjectPublicKeyInfo, DER.
fn csr_public_key(csr_pem: &str) -> Result<Vec<u8>, AwsError> {
    if csr_pem.len() > MAX_CSR_LEN {
        return Err(invalid(format!(
            "certificateSigningRequest is longer than {MAX_CSR_LEN} characters"
        )));
    }
    let not_a_csr =
        || invalid("certificateSigningRequest is not a PEM certificate signing request");
    let pem = pem::parse(csr_pem).map_err(|_| not_a_csr())?;
    if !matches!(pem.tag(), "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST") {
        return Err(not_a_csr());
    }
    let (_, csr) = X509CertificationRequest::from_der(pem.contents()).map_err(|_| not_a_csr())?;
    csr.verify_signature()
        .map_err(|_| invalid("the certificate signing request's signature does not verify"))?;
    let spki = &csr.certification_request_info.subject_pki;
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) if rsa.key_size() >= 2048 => {}
        Ok(PublicKey::RSA(rsa)) => {
            return Err(invalid(format!(
                "the CSR's RSA key has {} bits; at least 2048 are needed",
                rsa.key_size()
            )));
        }
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve {
                Some(oid) if oid == OID_EC_P256 || oid == OID_NIST_EC_P384 => {}
                Some(oid) if oid == OID_NIST_EC_P521 => {
                    return Err(invalid(
                        "P-521 keys are accepted by AWS but not by mock-broker (its signer, ring, lacks them)",
                    ));
                }
                _ => {
                    return Err(invalid(
                        "the CSR's ECC key is not on NIST P-256, P-384 or P-521",
                    ));
                }
            }
        }
        _ => return Err(invalid("the CSR's key is neither RSA nor ECC")),
    }
    Ok(spki.raw.to_vec())
}

impl Registry {
    /// The control plane's issuing CA.
    pub fn aws_issuer(&self) -> &AwsIssuer {
        &self.issuer
    }

    /// CreateCertificateFromCsr: signs the CSR's key and registers the certificate.
    pub fn create_certificate_from_csr(
        &mut self,
        csr_pem: &str,
        set_as_active: bool,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        let spki = csr_public_key(csr_pem)?;
        self.issue(&spki, set_as_active, now_ms)
    }

    /// CreateKeysAndCertificate: registers a certificate for a key pair made by
    /// [`generate_key_pair`].
    pub fn create_keys_and_certificate(
        &mut self,
        key: &GeneratedKeyPair,
        set_as_active: bool,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        self.issue(&key.spki_der, set_as_active, now_ms)
    }

    fn issue(
        &mut self,
        spki_der: &[u8],
        set_as_active: bool,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        let failed = |e: rcgen::Error| {
            AwsError::new(
                AwsErrorKind::InternalFailure,
                format!("cannot issue the certificate: {e}"),
            )
        };
        let public_key = SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|e| invalid(format!("unsupported public key: {e}")))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, ISSUED_SUBJECT_CN);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        params.not_before = epoch + std::time::Duration::from_secs(now_ms / 1000);
        params.not_after = rcgen::date_time_ymd(2050, 1, 1) - std::time::Duration::from_secs(1);
        let issuer = self.issuer.get()?;
        let certificate = params.signed_by(&public_key, issuer).map_err(failed)?;
        let info = CertInfo::from_der(certificate.der().clone())
            .map_err(|e| AwsError::new(AwsErrorKind::InternalFailure, e.to_string()))?;
        let status = if set_as_active {
            CertificateStatus::Active
        } else {
            CertificateStatus::Inactive
        };
        self.add_certificate(&info, None, CertificateMode::Default, status, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::registry::test_helpers::{NOW, registry};
    use crate::dev_pki::TestCa;
    use rcgen::PublicKeyData;

    fn csr(key: &KeyPair, cn: &str) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.serialize_request(key).unwrap().pem().unwrap()
    }

    #[test]
    fn a_csr_is_signed_by_the_issuer_and_registered_without_a_ca() {
        let mut reg = registry();
        let key = KeyPair::generate().unwrap();
        let active = reg
            .create_certificate_from_csr(&csr(&key, "device-9"), true, NOW)
            .unwrap()
            .clone();
        assert_eq!(active.status, CertificateStatus::Active);
        assert_eq!(active.ca_id, None);
        assert_eq!(active.mode, CertificateMode::Default);
        let info = CertInfo::from_pem(&active.pem).unwrap();
        assert_eq!(info.common_name.as_deref(), Some(ISSUED_SUBJECT_CN));
        assert_eq!(info.issuer, format!("OU={ISSUER_OU}"));
        assert_eq!(info.not_before, (NOW / 1000) as i64);
        assert_eq!(info.not_after, 2_524_607_999); // 2049-12-31T23:59:59Z
        assert!(!info.is_ca);
        let issuer = CertInfo::from_pem(&reg.aws_issuer().pem().unwrap()).unwrap();
        assert!(info.is_signed_by(&issuer));
        // The certificate carries the CSR's key.
        let (_, parsed) = x509_parser::parse_x509_certificate(&info.der).unwrap();
        assert_eq!(parsed.public_key().raw, key.subject_public_key_info());
        // The same CSR again is another certificate, INACTIVE without setAsActive.
        let again = reg
            .create_certificate_from_csr(&csr(&key, "device-9"), false, NOW)
            .unwrap();
        assert_ne!(again.id, active.id);
        assert_eq!(again.status, CertificateStatus::Inactive);
        assert_eq!(reg.certificates().count(), 2);
    }

    #[test]
    fn bad_csrs_are_invalid_requests_and_register_nothing() {
        let mut reg = registry();
        let ca = TestCa::new("not a csr").unwrap();
        let key = KeyPair::generate().unwrap();
        let good = csr(&key, "x");
        // A signature that does not verify: one byte of the signature flipped.
        let mut der = pem::parse(&good).unwrap().into_contents();
        let last = der.len() - 1;
        der[last] ^= 1;
        let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        for bad in [
            "hello".to_owned(),
            ca.pem(),
            tampered,
            format!("{good}{}", " ".repeat(MAX_CSR_LEN)),
        ] {
            let refused = reg
                .create_certificate_from_csr(&bad, true, NOW)
                .unwrap_err();
            assert_eq!(refused.kind, AwsErrorKind::InvalidRequest, "{bad}");
        }
        assert_eq!(reg.certificates().count(), 0);
        reg.create_certificate_from_csr(&csr(&p384, "p384"), true, NOW)
            .unwrap();
    }

    #[test]
    fn keys_and_certificate_match_and_the_private_key_stays_out_of_debug() {
        let mut reg = registry();
        let keys = generate_key_pair().unwrap();
        assert!(
            keys.private_key_pem
                .starts_with("-----BEGIN RSA PRIVATE KEY-----")
        );
        assert!(
            keys.public_key_pem
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert!(!format!("{keys:?}").contains("PRIVATE KEY"));
        assert!(!format!("{:?}", reg.aws_issuer()).contains("PRIVATE"));
        let record = reg.create_keys_and_certificate(&keys, false, NOW).unwrap();
        assert_eq!(record.status, CertificateStatus::Inactive);
        let info = CertInfo::from_pem(&record.pem).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&info.der).unwrap();
        assert_eq!(parsed.public_key().raw, keys.spki_der.as_slice());
        let public = pem::parse(&keys.public_key_pem).unwrap();
        assert_eq!(public.contents(), keys.spki_der.as_slice());
    }
}
