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
    let expected_id = mock_broker::hooks::certificate_id(&cert.der);
    match t
        .event("TLS accepted", |e| {
            matches!(e, EventKind::TlsAccepted { .. })
        })
        .await
    {
        EventKind::TlsAccepted {
            sni,
            certificate_id,
            ..
        } => {
            assert_eq!(sni.as_deref(), Some("localhost"));
            assert_eq!(certificate_id, expected_id);
            assert_eq!(certificate_id.len(), 64);
        }
        _ => unreachable!(),
    }
}
