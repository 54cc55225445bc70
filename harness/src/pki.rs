//! The test PKI, modelled on Microchip's provisioning tool.
//!
//! [`TestPki`] keeps, under the rig's PKI directory:
//! - a root CA and a **signer** CA under it (P-256, path length 0, SKI and AKI): the signer
//!   is what gets registered for JITR and signs device certificates;
//! - a **server CA** and a server certificate for the broker's endpoint names (what boards
//!   get as `rootca`), plus deliberately bad server certificates (expired, wrong name,
//!   untrusted issuer) for TLS fault scenarios, and a valid but large chain
//!   (`large_chain`);
//! - an **operator CA** and certificate for the harness's own cloud-side client;
//! - a **stranger** CA that no broker trusts, for boards that must be refused.
//!
//! Device certificates are signed from the board's CSR like Microchip's tool does: the
//! CSR's subject, Subject Key Identifier = SHA-1 of the public key (the thing name),
//! Authority Key Identifier, valid to the year 3000. Everything is reused across runs
//! unless a fresh PKI is asked for; private keys are written with mode 0600 and never
//! printed.

use crate::errors::PkiError;

mod large_chain;
pub use large_chain::LARGE_CHAIN_BYTES;

/// The common name of the operator certificate (Mosquitto's username for it).
pub const OPERATOR_COMMON_NAME: &str = "hil-harness-operator";
use mock_broker::ServerIdentity;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha1::{Digest, Sha1};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A CA: its certificate and the issuer that signs with its key.
pub struct Ca {
    /// Certificate, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// Certificate, DER.
    pub fn der(&self) -> Result<CertificateDer<'static>, PkiError> {
        CertificateDer::from_pem_slice(self.pem.as_bytes())
            .map_err(|e| PkiError::Parse(e.to_string()))
    }

    /// AWS certificate id of the CA.
    pub fn id(&self) -> Result<String, PkiError> {
        Ok(mock_broker::mqtt::hooks::certificate_id(&self.der()?))
    }
}

/// A certificate with its key (PEM both).
#[derive(Clone)]
pub struct KeyedCert {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Private key, PKCS#8 PEM. Never print it.
    pub key_pem: String,
}

impl std::fmt::Debug for KeyedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl KeyedCert {
    /// As the broker's TLS identity.
    pub fn server_identity(&self) -> Result<ServerIdentity, PkiError> {
        ServerIdentity::from_pem(&self.cert_pem, &self.key_pem)
            .map_err(|e| PkiError::Parse(e.to_string()))
    }
}

/// A bad server certificate, for TLS fault scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadServerCert {
    /// Valid during 2020 only.
    Expired,
    /// For another host name.
    WrongName,
    /// From a CA the boards do not trust.
    Untrusted,
    /// Valid, but a chain of at least [`LARGE_CHAIN_BYTES`] (Device Advisor's TLS Large
    /// Size Server Cert).
    Large,
}

/// A device certificate signed from a CSR.
#[derive(Debug, Clone)]
pub struct DeviceCert {
    /// Certificate, PEM.
    pub pem: String,
    /// Thing name: lowercase hex Subject Key Identifier.
    pub thing: String,
    /// AWS certificate id.
    pub id: String,
}

/// The test PKI; see the module documentation.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
    /// Root of the device chain.
    pub root: Ca,
    /// Signs device certificates; registered for JITR.
    pub signer: Ca,
    /// Signs the broker's server certificates; boards get it as `rootca`.
    pub server_ca: Ca,
    /// Signs operator certificates.
    pub operator_ca: Ca,
    /// The broker's server certificate.
    pub server: KeyedCert,
    /// The harness's cloud-side client certificate.
    pub operator: KeyedCert,
    /// A CA that no broker is told about: `provision` in `unregistered` mode signs with it.
    pub stranger: Ca,
}

fn ca_params(name: &str, constraint: BasicConstraints) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "HIL harness test PKI");
    params.is_ca = IsCa::Ca(constraint);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)
}

fn write_public(path: &Path, text: &str) -> Result<(), PkiError> {
    std::fs::write(path, text).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

impl TestPki {
    /// Opens the PKI in `dir` for a broker reachable as `names` (DNS names or IPs),
    /// creating what is missing. With `fresh`, everything is created anew.
    ///
    /// Opening a complete PKI for the same names reads it and writes nothing; the returned
    /// value holds its own copy of every certificate and key, and nothing reads the files
    /// again, so runs that each opened the PKI (scenarios in parallel) share nothing.
    pub fn open(dir: &Path, names: &[&str], fresh: bool) -> Result<Self, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let names_file = dir.join("server-names.txt");
        let wanted = names.join("\n");
        let same_names = read(&names_file).is_ok_and(|n| n == wanted);
        let root = Self::ca(dir, "root", fresh, None)?;
        let signer = Self::ca(dir, "signer", fresh, Some(&root))?;
        let server_ca = Self::ca(dir, "server-ca", fresh, None)?;
        let operator_ca = Self::ca(dir, "operator-ca", fresh, None)?;
        let stranger = Self::ca(dir, "stranger-ca", fresh, None)?;
        let server = Self::leaf(dir, "server", fresh || !same_names, || {
            let mut params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
            if let Some(first) = names.first() {
                params.distinguished_name.push(DnType::CommonName, *first);
            }
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            Ok((params, &server_ca))
        })?;
        if !same_names {
            write_public(&names_file, &wanted)?;
        }
        let operator = Self::leaf(dir, "operator", fresh, || {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params
                .distinguished_name
                .push(DnType::CommonName, OPERATOR_COMMON_NAME);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            Ok((params, &operator_ca))
        })?;
        Ok(TestPki {
            dir: dir.to_owned(),
            root,
            signer,
            server_ca,
            operator_ca,
            server,
            operator,
            stranger,
        })
    }

    /// The directory the PKI lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ca(dir: &Path, name: &str, fresh: bool, parent: Option<&Ca>) -> Result<Ca, PkiError> {
        let (cert_path, key_path) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        if !fresh && cert_path.exists() && key_path.exists() {
            let pem = read(&cert_path)?;
            let key = KeyPair::from_pem(&read(&key_path)?)?;
            let issuer = Issuer::from_ca_cert_pem(&pem, key)?;
            return Ok(Ca { pem, issuer });
        }
        let key = KeyPair::generate()?;
        let constraint = if parent.is_some() {
            BasicConstraints::Constrained(0)
        } else {
            BasicConstraints::Unconstrained
        };
        let params = ca_params(&format!("HIL test {name}"), constraint)?;
        let cert = match parent {
            Some(parent) => params.signed_by(&key, &parent.issuer)?,
            None => params.self_signed(&key)?,
        };
        let pem = cert.pem();
        write_public(&cert_path, &pem)?;
        write_private(&key_path, &key.serialize_pem())?;
        Ok(Ca {
            pem,
            issuer: Issuer::new(params, key),
        })
    }

    fn leaf<'a>(
        dir: &Path,
        name: &str,
        fresh: bool,
        params: impl FnOnce() -> Result<(CertificateParams, &'a Ca), PkiError>,
    ) -> Result<KeyedCert, PkiError> {
        let (cert_path, key_path) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        if !fresh && cert_path.exists() && key_path.exists() {
            return Ok(KeyedCert {
                cert_pem: read(&cert_path)?,
                key_pem: read(&key_path)?,
            });
        }
        let (mut params, ca) = params()?;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca.issuer)?;
        let keyed = KeyedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        write_public(&cert_path, &keyed.cert_pem)?;
        write_private(&key_path, &keyed.key_pem)?;
        Ok(keyed)
    }

    /// The verification certificate that proves possession of the signer's key: CN is the
    /// account's registration code.
    pub fn verification_cert(&self, registration_code: &str) -> Result<String, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, registration_code);
        let key = KeyPair::generate()?;
        Ok(params.signed_by(&key, &self.signer.issuer)?.pem())
    }

    /// Signs a board's CSR into a device certificate, as Microchip's tool does.
    pub fn sign_csr(&self, csr_pem: &str) -> Result<DeviceCert, PkiError> {
        Self::sign_csr_by(csr_pem, &self.signer)
    }

    /// Signs a board's CSR with the [`TestPki::stranger`] CA, which no broker trusts.
    pub fn sign_csr_as_stranger(&self, csr_pem: &str) -> Result<DeviceCert, PkiError> {
        Self::sign_csr_by(csr_pem, &self.stranger)
    }

    fn sign_csr_by(csr_pem: &str, ca: &Ca) -> Result<DeviceCert, PkiError> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| PkiError::Csr(e.to_string()))?;
        let ski = Sha1::digest(csr.public_key.der_bytes()).to_vec();
        let thing = hex::encode(&ski);
        csr.params.key_identifier_method = KeyIdMethod::PreSpecified(ski);
        // rcgen writes the Subject Key Identifier only with basicConstraints present.
        csr.params.is_ca = IsCa::ExplicitNoCa;
        csr.params.use_authority_key_identifier_extension = true;
        csr.params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        csr.params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        csr.params.not_after = rcgen::date_time_ymd(3000, 12, 31);
        let cert = csr.signed_by(&ca.issuer)?;
        Ok(DeviceCert {
            id: mock_broker::mqtt::hooks::certificate_id(cert.der()),
            pem: cert.pem(),
            thing,
        })
    }

    /// A new device identity made on the harness side: a fresh P-256 key (kept in memory,
    /// never written) and a certificate from the signer, as [`TestPki::sign_csr`] makes
    /// for a board. Scenario clients that act as another device use it.
    pub fn new_device(&self) -> Result<(DeviceCert, KeyedCert), PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "HIL harness test client");
        let csr = params.serialize_request(&key)?.pem()?;
        let device = self.sign_csr(&csr)?;
        let keyed = KeyedCert {
            cert_pem: device.pem.clone(),
            key_pem: key.serialize_pem(),
        };
        Ok((device, keyed))
    }

    /// A bad (or, for [`BadServerCert::Large`], large) server certificate for `names`.
    pub fn bad_server(&self, kind: BadServerCert, names: &[&str]) -> Result<KeyedCert, PkiError> {
        let stranger;
        let (names, ca): (Vec<String>, &Ca) = match kind {
            BadServerCert::Large => return self.large_server(names),
            BadServerCert::Expired => (
                names.iter().map(|n| n.to_string()).collect(),
                &self.server_ca,
            ),
            BadServerCert::WrongName => (vec!["wrong-name.invalid".to_owned()], &self.server_ca),
            BadServerCert::Untrusted => {
                stranger = Self::untrusted_ca()?;
                (names.iter().map(|n| n.to_string()).collect(), &stranger)
            }
        };
        let mut params = CertificateParams::new(names.clone())?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        if kind == BadServerCert::Expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca.issuer)?;
        Ok(KeyedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    fn untrusted_ca() -> Result<Ca, PkiError> {
        let key = KeyPair::generate()?;
        let params = ca_params("untrusted CA", BasicConstraints::Unconstrained)?;
        let pem = params.self_signed(&key)?.pem();
        Ok(Ca {
            pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The operator CA, for the broker's superuser list.
    pub fn operator_ca_der(&self) -> Result<CertificateDer<'static>, PkiError> {
        self.operator_ca.der()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mock_broker::aws::certs::CertInfo;
    use std::os::unix::fs::PermissionsExt;

    fn csr() -> (String, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "sn0123ABCD");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Microchip Technology Inc");
        (params.serialize_request(&key).unwrap().pem().unwrap(), key)
    }

    #[test]
    fn the_chain_is_shaped_like_microchips() {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::open(dir.path(), &["localhost", "127.0.0.1"], false).unwrap();
        let root = CertInfo::from_pem(&pki.root.pem).unwrap();
        let signer = CertInfo::from_pem(&pki.signer.pem).unwrap();
        assert!(root.is_ca && signer.is_ca);
        assert!(signer.is_signed_by(&root));
        assert!(signer.ski.is_some());
        let (csr, key) = csr();
        let device = pki.sign_csr(&csr).unwrap();
        let info = CertInfo::from_pem(&device.pem).unwrap();
        assert!(info.is_signed_by(&signer));
        assert_eq!(info.common_name.as_deref(), Some("sn0123ABCD"));
        assert_eq!(
            info.organization.as_deref(),
            Some("Microchip Technology Inc")
        );
        assert_eq!(
            device.thing,
            hex::encode(Sha1::digest(key.public_key_raw()))
        );
        assert_eq!(info.ski.as_deref(), Some(device.thing.as_str()));
        assert!(info.valid_at(32_000_000_000), "valid to the year 3000");
    }

    #[test]
    fn a_harness_made_device_is_a_new_thing_signed_by_the_signer() {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::open(dir.path(), &["localhost"], false).unwrap();
        let (first, keyed) = pki.new_device().unwrap();
        let (second, _) = pki.new_device().unwrap();
        assert_ne!(first.thing, second.thing, "each call makes a new key");
        let info = CertInfo::from_pem(&keyed.cert_pem).unwrap();
        assert!(info.is_signed_by(&CertInfo::from_pem(&pki.signer.pem).unwrap()));
        assert_eq!(info.ski.as_deref(), Some(first.thing.as_str()));
        let key = KeyPair::from_pem(&keyed.key_pem).unwrap();
        assert_eq!(first.thing, hex::encode(Sha1::digest(key.public_key_raw())));
    }

    #[test]
    fn opening_an_existing_pki_for_the_same_names_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let first = TestPki::open(dir.path(), &["broker.hil.test", "localhost"], false).unwrap();
        // Every file's modification time set far in the past: any write sets it to now.
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 15, "{files:?}");
        for path in &files {
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(old).unwrap();
        }
        let again = TestPki::open(dir.path(), &["broker.hil.test", "localhost"], false).unwrap();
        assert_eq!(first.server.cert_pem, again.server.cert_pem);
        for path in &files {
            let modified = std::fs::metadata(path).unwrap().modified().unwrap();
            assert_eq!(modified, old, "{} was written", path.display());
        }
    }

    #[test]
    fn it_is_reused_unless_fresh_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = TestPki::open(dir.path(), &["localhost"], false).unwrap();
        let again = TestPki::open(dir.path(), &["localhost"], false).unwrap();
        assert_eq!(first.signer.pem, again.signer.pem);
        assert_eq!(first.server.cert_pem, again.server.cert_pem);
        let renamed = TestPki::open(dir.path(), &["broker.test"], false).unwrap();
        assert_ne!(
            first.server.cert_pem, renamed.server.cert_pem,
            "new names, new server certificate"
        );
        let fresh = TestPki::open(dir.path(), &["localhost"], true).unwrap();
        assert_ne!(first.signer.pem, fresh.signer.pem);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "key") {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", path.display());
            }
        }
    }

    #[test]
    fn verification_and_bad_server_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::open(dir.path(), &["localhost"], false).unwrap();
        let verification = CertInfo::from_pem(&pki.verification_cert("abc123").unwrap()).unwrap();
        assert_eq!(verification.common_name.as_deref(), Some("abc123"));
        assert!(verification.is_signed_by(&CertInfo::from_pem(&pki.signer.pem).unwrap()));
        let server_ca = CertInfo::from_pem(&pki.server_ca.pem).unwrap();
        let expired = pki
            .bad_server(BadServerCert::Expired, &["localhost"])
            .unwrap();
        assert!(
            !CertInfo::from_pem(&expired.cert_pem)
                .unwrap()
                .valid_at(1_800_000_000)
        );
        let untrusted = pki
            .bad_server(BadServerCert::Untrusted, &["localhost"])
            .unwrap();
        assert!(
            !CertInfo::from_pem(&untrusted.cert_pem)
                .unwrap()
                .is_signed_by(&server_ca)
        );
        let wrong = pki
            .bad_server(BadServerCert::WrongName, &["localhost"])
            .unwrap();
        assert_eq!(
            CertInfo::from_pem(&wrong.cert_pem)
                .unwrap()
                .common_name
                .as_deref(),
            Some("wrong-name.invalid")
        );
        assert!(pki.sign_csr("not a csr").is_err());
    }
}
