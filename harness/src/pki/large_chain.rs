//! The large server certificate chain of Device Advisor's "TLS Large Size Server Cert"
//! case: valid, for the broker's names, and chained to the server CA the boards trust, but
//! big, so a device whose TLS buffer holds only a usual chain fails the handshake.
//!
//! Device Advisor's chain is 20% larger than AWS IoT Core's own ("Device Advisor test
//! cases", TLS). This one is [`LARGE_CHAIN_BYTES`] or more: a leaf with many extra DNS
//! names (AWS's own leaf carries a long SAN list too), then an intermediate CA under the
//! server CA. [`super::TestPki::bad_server`] hands it out as [`super::BadServerCert::Large`].

use super::{Ca, KeyedCert, TestPki, ca_params};
use crate::errors::PkiError;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The least size of the large chain (leaf and intermediate, DER), in bytes: 10 KiB.
pub const LARGE_CHAIN_BYTES: usize = 10 * 1024;

impl TestPki {
    /// A chain of at least [`LARGE_CHAIN_BYTES`] for `names`: the leaf (signed by an
    /// intermediate CA) then the intermediate (signed by the server CA), as PEM.
    pub(super) fn large_server(&self, names: &[&str]) -> Result<KeyedCert, PkiError> {
        let key = KeyPair::generate()?;
        let params = ca_params(
            "HIL test large-chain intermediate",
            BasicConstraints::Constrained(0),
        )?;
        let intermediate_pem = params.signed_by(&key, &self.server_ca.issuer)?.pem();
        let intermediate = Ca {
            pem: intermediate_pem,
            issuer: Issuer::new(params, key),
        };
        let intermediate_der = intermediate.der()?.len();
        let mut all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut padding = 0;
        loop {
            let mut params = CertificateParams::new(all.clone())?;
            if let Some(first) = names.first() {
                params.distinguished_name.push(DnType::CommonName, *first);
            }
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.use_authority_key_identifier_extension = true;
            let key = KeyPair::generate()?;
            let leaf = params.signed_by(&key, &intermediate.issuer)?;
            if leaf.der().len() + intermediate_der >= LARGE_CHAIN_BYTES {
                return Ok(KeyedCert {
                    cert_pem: format!("{}{}", leaf.pem(), intermediate.pem),
                    key_pem: key.serialize_pem(),
                });
            }
            // About 50 bytes of DER a name: add what the rest needs, and a little more.
            let missing = LARGE_CHAIN_BYTES - leaf.der().len() - intermediate_der;
            for _ in 0..missing / 40 + 1 {
                all.push(format!("padding-{padding:04}.large-chain.hil.invalid"));
                padding += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::BadServerCert;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    #[test]
    fn the_large_chain_is_big_and_verifies_against_the_server_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::open(dir.path(), &["broker.hil.test", "localhost"], false).unwrap();
        let large = pki
            .bad_server(BadServerCert::Large, &["broker.hil.test", "localhost"])
            .unwrap();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(large.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(chain.len(), 2, "leaf, then intermediate");
        let size: usize = chain.iter().map(|c| c.len()).sum();
        assert!(
            (LARGE_CHAIN_BYTES..LARGE_CHAIN_BYTES + 2048).contains(&size),
            "{size} bytes"
        );
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.server_ca.der().unwrap()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            mock_broker::mqtt::tls::crypto_provider(),
        )
        .build()
        .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        verifier
            .verify_server_cert(
                &chain[0],
                &chain[1..],
                &ServerName::try_from("broker.hil.test").unwrap(),
                &[],
                UnixTime::now(),
            )
            .expect("a correct device accepts it");
        assert!(large.server_identity().is_ok());
    }
}
