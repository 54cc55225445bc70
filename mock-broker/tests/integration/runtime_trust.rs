//! Client verification is pluggable: a verifier whose trust roots change while the broker
//! runs admits a CA registered at run time (the seam JITR uses).

use crate::support::{RawClient, TestBroker, WAIT, stranger_cert};
use mock_broker::ClientAuth;
use rumqttc::mqttbytes::v4::{Connect, Packet};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::sync::{Arc, RwLock};

/// Delegates to a WebPKI verifier rebuilt whenever a CA is added.
#[derive(Debug)]
struct RuntimeRoots {
    inner: RwLock<Arc<dyn ClientCertVerifier>>,
    roots: RwLock<Vec<CertificateDer<'static>>>,
}

impl RuntimeRoots {
    fn new(roots: Vec<CertificateDer<'static>>) -> Self {
        RuntimeRoots {
            inner: RwLock::new(Self::build(&roots)),
            roots: RwLock::new(roots),
        }
    }

    fn build(roots: &[CertificateDer<'static>]) -> Arc<dyn ClientCertVerifier> {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root.clone()).unwrap();
        }
        WebPkiClientVerifier::builder_with_provider(
            Arc::new(store),
            mock_broker::mqtt::tls::crypto_provider(),
        )
        .build()
        .unwrap()
    }

    fn register(&self, ca: CertificateDer<'static>) {
        let mut roots = self.roots.write().unwrap();
        roots.push(ca);
        *self.inner.write().unwrap() = Self::build(&roots);
    }

    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        self.inner.read().unwrap().clone()
    }
}

impl ClientCertVerifier for RuntimeRoots {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

#[tokio::test]
async fn a_ca_registered_at_run_time_is_admitted() {
    let (stranger, stranger_ca) = stranger_cert();
    let operator = mock_broker::dev_pki::TestCa::new("operator CA").unwrap();
    let verifier = Arc::new(RuntimeRoots::new(vec![operator.der()]));
    let hook = verifier.clone();
    let t = TestBroker::start_with(move |c| c.client_auth = ClientAuth::Verifier(hook)).await;

    RawClient::refused(t.port(), t.pki.tls_client(Some(&stranger))).await;

    verifier.register(stranger_ca);
    let mut raw = RawClient::connect(t.port(), t.pki.tls_client(Some(&stranger)))
        .await
        .unwrap();
    raw.send(Packet::Connect(Connect::new("late"))).await;
    assert!(matches!(raw.read(WAIT).await, Some(Packet::ConnAck(_))));
}
