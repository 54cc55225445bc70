//! The TLS flaws of server certificate verification: a verifier that lets one kind of bad
//! certificate through ([`Flaw::AcceptAnyServerName`], [`Flaw::AcceptAnyIssuer`],
//! [`Flaw::AcceptExpiredServerCert`]), so the qualification cases that must see the board
//! refuse such a certificate can be shown to fail, or that refuses a good chain too large
//! for a 4 KiB buffer ([`Flaw::SmallCertBuffer`], [`CERT_BUFFER`]). Everything else is
//! rustls's own WebPKI verifier; only the decision on the flawed error is changed. The
//! other TLS flaws are in `network` (cipher suites) and `record_limit` (record size).

use firmware_under_test::flaws::{Flaw, Flaws};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The buffer a [`Flaw::SmallCertBuffer`] board keeps the server's chain in, in bytes.
pub const CERT_BUFFER: usize = 4096;

/// The verification flaws in `flaws`, if there are any.
pub fn tls_flaws(flaws: Flaws) -> Flaws {
    [
        Flaw::AcceptAnyServerName,
        Flaw::AcceptAnyIssuer,
        Flaw::AcceptExpiredServerCert,
        Flaw::SmallCertBuffer,
    ]
    .into_iter()
    .filter(|flaw| flaws.has(*flaw))
    .collect()
}

/// WebPKI verification, except for the errors `flaws` accepts.
#[derive(Debug)]
pub struct LenientVerifier {
    inner: Arc<WebPkiServerVerifier>,
    flaws: Flaws,
}

impl LenientVerifier {
    /// A verifier against `roots` that accepts what `flaws` says.
    pub fn new(roots: RootCertStore, flaws: Flaws) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("root CA: {e}"))?;
        Ok(LenientVerifier { inner, flaws })
    }

    fn accepts(&self, error: &Error) -> bool {
        let Error::InvalidCertificate(error) = error else {
            return false;
        };
        match error {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                self.flaws.has(Flaw::AcceptAnyServerName)
            }
            CertificateError::UnknownIssuer => self.flaws.has(Flaw::AcceptAnyIssuer),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                self.flaws.has(Flaw::AcceptExpiredServerCert)
            }
            _ => false,
        }
    }
}

impl ServerCertVerifier for LenientVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let chain = end_entity.len() + intermediates.iter().map(|c| c.len()).sum::<usize>();
        if self.flaws.has(Flaw::SmallCertBuffer) && chain > CERT_BUFFER {
            eprintln!("emulated-board: flaw: a server chain of {chain} bytes overflows the buffer");
            return Err(Error::General(format!(
                "the server certificate chain ({chain} bytes) does not fit the {CERT_BUFFER}-byte buffer"
            )));
        }
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(error) if self.accepts(&error) => {
                eprintln!("emulated-board: flaw: accepting a bad server certificate ({error})");
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
