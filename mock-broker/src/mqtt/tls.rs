//! TLS for the broker: the server's certificate and key, how client certificates are
//! verified, and readable reasons for failed handshakes.
//!
//! Always rustls with the ring provider, passed explicitly (no process-wide default is
//! needed), TLS 1.2 and 1.3 with the cipher suites of AWS IoT Core's default security
//! policy ([`crate::mqtt::tls_policy`]), and a client certificate required. Client verification is
//! pluggable through [`ClientAuth::Verifier`], so the control plane can admit certificates
//! whose issuer was registered at run time.

use crate::mqtt::errors::TlsConfigError;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The ring crypto provider, the only one in this workspace.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate chain and private key the broker presents.
#[derive(Debug)]
pub struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        ServerIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl ServerIdentity {
    /// A chain (leaf first) and its key (ECDSA P-256 or RSA).
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        ServerIdentity { chain, key }
    }

    /// Reads a PEM certificate chain and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsConfigError> {
        let chain = read_certificates(cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| pem_error(key, source))?;
        Ok(ServerIdentity { chain, key })
    }

    /// Parses a PEM certificate chain and a PEM private key held in memory.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsConfigError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| pem_error(Path::new("<memory>"), source))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|source| pem_error(Path::new("<memory>"), source))?;
        Ok(ServerIdentity { chain, key })
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }
}

/// How client certificates are verified.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A client certificate must chain to one of these CA certificates.
    TrustRoots(Vec<CertificateDer<'static>>),
    /// A custom verifier; it must require a client certificate.
    Verifier(Arc<dyn ClientCertVerifier>),
}

/// Reads every certificate of a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = std::fs::read(path).map_err(|source| TlsConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| pem_error(path, source))?;
    if certs.is_empty() {
        return Err(TlsConfigError::Missing {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

fn pem_error(path: &Path, source: rustls_pki_types::pem::Error) -> TlsConfigError {
    match source {
        rustls_pki_types::pem::Error::NoItemsFound => TlsConfigError::Missing {
            path: path.to_owned(),
            what: "private key",
        },
        rustls_pki_types::pem::Error::Io(source) => TlsConfigError::Read {
            path: path.to_owned(),
            source,
        },
        source => TlsConfigError::Pem {
            path: path.to_owned(),
            source,
        },
    }
}

/// Builds the rustls server configuration.
pub(crate) fn server_config(
    identity: &ServerIdentity,
    client_auth: &ClientAuth,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    server_config_offering(identity, client_auth, None)
}

/// [`server_config`] negotiating only `suites` (IANA codes) of AWS IoT Core's default
/// policy, when given. Errors with [`TlsConfigError::NoCipherSuite`] when that leaves none.
pub(crate) fn server_config_offering(
    identity: &ServerIdentity,
    client_auth: &ClientAuth,
    suites: Option<&[u16]>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let provider = crypto_provider();
    let mut offered = (*crate::mqtt::tls_policy::aws_provider()).clone();
    if let Some(suites) = suites {
        offered
            .cipher_suites
            .retain(|s| suites.contains(&u16::from(s.suite())));
        if offered.cipher_suites.is_empty() {
            return Err(TlsConfigError::NoCipherSuite(suites.to_vec()));
        }
    }
    let verifier = match client_auth {
        ClientAuth::Verifier(verifier) => verifier.clone(),
        ClientAuth::TrustRoots(roots) => {
            let mut store = rustls::RootCertStore::empty();
            for root in roots {
                store.add(root.clone())?;
            }
            WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()?
        }
    };
    let config = ServerConfig::builder_with_provider(Arc::new(offered))
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    Ok(Arc::new(config))
}

/// A short reason for a failed handshake: no certificate, unknown issuer, expired, not
/// TLS, or rustls's own words.
pub(crate) fn describe_handshake_error(error: &std::io::Error) -> String {
    use rustls::{CertificateError, Error};
    let Some(tls) = error.get_ref().and_then(|e| e.downcast_ref::<Error>()) else {
        return match error.kind() {
            std::io::ErrorKind::UnexpectedEof => "connection closed during the handshake".into(),
            _ => error.to_string(),
        };
    };
    match tls {
        Error::NoCertificatesPresented => "no client certificate".into(),
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "client certificate from an unknown issuer".into()
        }
        Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "client certificate expired".into(),
        Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "client certificate not valid yet".into(),
        Error::InvalidCertificate(other) => format!("invalid client certificate: {other:?}"),
        Error::PeerIncompatible(rustls::PeerIncompatible::NoCipherSuitesInCommon) => {
            "no cipher suite in common with AWS IoT Core's security policy".into()
        }
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            format!("not TLS: {tls}")
        }
        other => other.to_string(),
    }
}
