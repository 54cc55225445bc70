//! The TLS client verifier backed by the registries: a certificate is let through the
//! handshake when it is registered, issued by a registered CA, or issued by an operator CA;
//! anything else is an unknown issuer, as with AWS. Whether it may connect is decided at
//! CONNECT, by the admission hook.

use super::*;

/// Lets through the handshake what the registries know; see the module documentation.
#[derive(Debug)]
pub(super) struct RegistryVerifier {
    pub(super) plane: Arc<ControlPlane>,
    pub(super) provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for RegistryVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let leaf = CertInfo::from_der(end_entity.clone().into_owned())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now > leaf.not_after {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
        }
        if now < leaf.not_before {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet,
            ));
        }
        let known = self.plane.is_operator(&leaf)
            || self
                .plane
                .read(|reg| reg.certificate(&leaf.id).is_ok() || reg.issuing_ca(&leaf).is_some());
        if known {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
