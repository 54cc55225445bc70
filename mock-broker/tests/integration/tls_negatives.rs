//! Clients the TLS layer must refuse, each tapped with its reason.

use crate::support::{RawClient, TestBroker, stranger_cert};
use mock_broker::EventKind;
use mock_broker::dev_pki::Validity;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

async fn rejection(t: &mut TestBroker) -> String {
    match t
        .event("TLS rejection", |e| {
            matches!(e, EventKind::TlsRejected { .. })
        })
        .await
    {
        EventKind::TlsRejected { reason, .. } => reason,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn no_client_certificate_is_refused() {
    let mut t = TestBroker::start().await;
    RawClient::refused(t.port(), t.pki.tls_client(None)).await;
    assert_eq!(rejection(&mut t).await, "no client certificate");
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let mut t = TestBroker::start().await;
    let (stranger, _) = stranger_cert();
    RawClient::refused(t.port(), t.pki.tls_client(Some(&stranger))).await;
    assert_eq!(
        rejection(&mut t).await,
        "client certificate from an unknown issuer"
    );
}

#[tokio::test]
async fn an_expired_client_certificate_is_refused() {
    let mut t = TestBroker::start().await;
    let expired = t.pki.client_ca.client("old", Validity::Expired).unwrap();
    RawClient::refused(t.port(), t.pki.tls_client(Some(&expired))).await;
    assert_eq!(rejection(&mut t).await, "client certificate expired");
}

#[tokio::test]
async fn bytes_that_are_not_tls_are_refused() {
    let mut t = TestBroker::start().await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", t.port()))
        .await
        .unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let reason = rejection(&mut t).await;
    assert!(reason.starts_with("not TLS"), "{reason}");
}

#[tokio::test]
async fn a_client_that_never_starts_tls_times_out() {
    let mut t = TestBroker::start_with(|c| c.connect_timeout = Duration::from_millis(300)).await;
    let _tcp = tokio::net::TcpStream::connect(("127.0.0.1", t.port()))
        .await
        .unwrap();
    assert_eq!(rejection(&mut t).await, "TLS handshake timed out");
}

#[tokio::test]
async fn the_sni_and_certificate_id_are_recorded() {
    let mut t = TestBroker::start().await;
    let cert = t.pki.client_cert("dev");
    let _raw = RawClient::connect(t.port(), t.pki.tls_client(Some(&cert)))
        .await
        .unwrap();
    let expected_id = mock_broker::mqtt::hooks::certificate_id(&cert.der);
    match t
        .event("TLS accepted", |e| {
            matches!(e, EventKind::TlsAccepted { .. })
        })
        .await
    {
        EventKind::TlsAccepted {
            sni,
            certificate_id,
            handshake,
            ..
        } => {
            assert!(
                handshake > Duration::ZERO && handshake < Duration::from_secs(10),
                "the handshake took real time, within the CONNECT timeout: {handshake:?}"
            );
            assert_eq!(sni.as_deref(), Some("localhost"));
            assert_eq!(certificate_id, expected_id);
            assert_eq!(certificate_id.len(), 64);
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn tls_1_2_clients_are_served() {
    let t = TestBroker::start().await;
    let cert = t.pki.client_cert("old-stack");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(t.pki.server_ca.der()).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(mock_broker::mqtt::tls::crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![cert.der.clone()], cert.key_der())
            .unwrap();
    let mut raw = RawClient::connect(t.port(), std::sync::Arc::new(config))
        .await
        .unwrap();
    raw.send(rumqttc::mqttbytes::v4::Packet::Connect(
        rumqttc::mqttbytes::v4::Connect::new("tls12"),
    ))
    .await;
    assert!(matches!(
        raw.read(crate::support::WAIT).await,
        Some(rumqttc::mqttbytes::v4::Packet::ConnAck(_))
    ));
}

#[tokio::test]
async fn an_rsa_server_key_is_served() {
    use rsa::pkcs8::EncodePrivateKey;
    let mut rng = rand::thread_rng();
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let der = rsa_key.to_pkcs8_der().unwrap();
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let pki = crate::support::Pki::new();
    let rsa_server = pki
        .server_ca
        .server_with_key(&["localhost"], key, Validity::Long)
        .unwrap();
    let mut config = pki.config();
    config.server = rsa_server.server_identity();
    let broker = mock_broker::MockBroker::start(config).await.unwrap();
    let cert = pki.client_cert("rsa-client");
    let mut raw = RawClient::connect(broker.local_addr().port(), pki.tls_client(Some(&cert)))
        .await
        .unwrap();
    raw.send(rumqttc::mqttbytes::v4::Packet::Connect(
        rumqttc::mqttbytes::v4::Connect::new("rsa"),
    ))
    .await;
    assert!(matches!(
        raw.read(crate::support::WAIT).await,
        Some(rumqttc::mqttbytes::v4::Packet::ConnAck(_))
    ));
}
