//! Throw-away certificates for trying the broker out and for tests.
//!
//! [`TestCa`] is a self-signed ECDSA P-256 CA that issues server certificates (with DNS and
//! IP subject alternative names), client certificates, and the bad certificates TLS fault
//! tests need (expired, wrong name, untrusted issuer: a certificate from another
//! `TestCa`). This is not the harness's test PKI, which models Microchip's CA chain; it is
//! what `mock-broker serve` generates when given no certificates.

use crate::mqtt::tls::ServerIdentity;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate with its private key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM. Write it with mode 0600 and never log it.
    pub key_pem: String,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Issued {
    /// A certificate made elsewhere with rcgen, with its key.
    pub fn from_parts(cert: &rcgen::Certificate, key: &KeyPair) -> Self {
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A certificate and key made elsewhere, both PEM (the key PKCS#8: `PRIVATE KEY`), e.g.
    /// a certificate the control plane issued for a CSR.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, rustls_pki_types::pem::Error> {
        use rustls_pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())?;
        let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())?;
        Ok(Issued {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            der,
            key_der: key.secret_pkcs8_der().to_vec(),
        })
    }

    /// This certificate and key as the broker's TLS identity.
    pub fn server_identity(&self) -> ServerIdentity {
        ServerIdentity::new(
            vec![self.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
    }

    /// The private key, DER, for TLS client configurations.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// How long a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// rcgen's default: 1975 to 4096.
    Long,
    /// Valid during 2020 only: expired.
    Expired,
}

/// A self-signed test CA.
#[derive(Debug)]
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA with a fresh P-256 key and this common name.
    pub fn new(common_name: &str) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(TestCa { issuer })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A server certificate for `names` (DNS names or IP addresses, all as SANs; the first
    /// is also the common name).
    pub fn server(&self, names: &[&str], validity: Validity) -> Result<Issued, rcgen::Error> {
        self.server_with_key(names, KeyPair::generate()?, validity)
    }

    /// Like [`TestCa::server`], for a key made elsewhere (an RSA key, say: rcgen with ring
    /// signs with RSA keys but cannot generate them).
    pub fn server_with_key(
        &self,
        names: &[&str],
        key: KeyPair,
        validity: Validity,
    ) -> Result<Issued, rcgen::Error> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone())?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, key, validity)
    }

    /// A client certificate with this common name.
    pub fn client(&self, common_name: &str, validity: Validity) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, KeyPair::generate()?, validity)
    }

    /// A device certificate as Microchip's tool issues them: CN `sn<serial>`, O
    /// `Microchip Technology Inc`, Subject Key Identifier = SHA-1 of the public key (the
    /// thing name), Authority Key Identifier.
    pub fn device(&self, serial: &str) -> Result<Issued, rcgen::Error> {
        use sha1::Digest;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("sn{serial}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Microchip Technology Inc");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_identifier_method =
            rcgen::KeyIdMethod::PreSpecified(sha1::Sha1::digest(key.public_key_raw()).to_vec());
        // rcgen writes the Subject Key Identifier only with basicConstraints present.
        params.is_ca = IsCa::ExplicitNoCa;
        self.sign(params, key, Validity::Long)
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        key: KeyPair,
        validity: Validity,
    ) -> Result<Issued, rcgen::Error> {
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if validity == Validity::Expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }
}
