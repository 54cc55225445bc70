//! What AWS IoT Device Advisor's TLS cases need of the broker, seen from a client: a large
//! server certificate chain arrives whole, a PUBLISH over 16 KiB reaches the client in
//! TLS records of the maximum size (read off the wire below TLS), and the tap names the
//! cipher suites a client offered, while a client offering none of AWS IoT Core's is
//! refused.

use crate::support::{TestBroker, WAIT};
use bytes::BytesMut;
use mock_broker::EventKind;
use mock_broker::dev_pki::Validity;
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet, Subscribe};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that notes the length of every TLS record the server sends.
struct RecordLengths {
    tcp: TcpStream,
    /// Bytes of the record header seen so far.
    header: Vec<u8>,
    /// Body bytes left in the current record.
    body_left: usize,
    lengths: Vec<(u8, usize)>,
}

impl RecordLengths {
    fn scan(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len());
                self.body_left -= take;
                bytes = &bytes[take..];
                continue;
            }
            self.header.push(bytes[0]);
            bytes = &bytes[1..];
            if self.header.len() == 5 {
                let length = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                self.lengths.push((self.header[0], length));
                self.body_left = length;
                self.header.clear();
            }
        }
    }
}

impl AsyncRead for RecordLengths {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        let new = buf.filled()[before..].to_vec();
        this.scan(&new);
        polled
    }
}

impl AsyncWrite for RecordLengths {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// The broker's client configuration for `versions`, with rustls's default suites, or
/// only `suites` when given.
fn client_config(
    t: &TestBroker,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: Option<&[rustls::CipherSuite]>,
) -> ClientConfig {
    let cert = t.pki.client_cert("client");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(t.pki.server_ca.der()).unwrap();
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = suites {
        provider
            .cipher_suites
            .retain(|s| suites.contains(&s.suite()));
    }
    ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert.der.clone()], cert.key_der())
        .unwrap()
}

/// Subscribes with `versions`, has the broker publish `size` bytes to it at QoS 1, and
/// returns the payload's size as received and the application-data records' lengths on
/// the wire.
async fn big_publish(
    versions: &[&'static rustls::SupportedProtocolVersion],
    size: usize,
) -> (usize, Vec<usize>) {
    let t = TestBroker::start().await;
    let config = client_config(&t, versions, None);
    let tcp = TcpStream::connect(("127.0.0.1", t.port())).await.unwrap();
    let wire = RecordLengths {
        tcp,
        header: Vec::new(),
        body_left: 0,
        lengths: Vec::new(),
    };
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, wire)
        .await
        .unwrap();
    let mut out = BytesMut::new();
    let mut subscribe = Subscribe::new("big/in", QoS::AtLeastOnce);
    subscribe.pkid = 1;
    for packet in [
        Packet::Connect(Connect::new("big")),
        Packet::Subscribe(subscribe),
    ] {
        mock_broker::mqtt::codec::encode(&packet, &mut out).unwrap();
    }
    tls.write_all(&out).await.unwrap();
    tls.flush().await.unwrap();
    let mut input = BytesMut::new();
    let mut published = false;
    let received = tokio::time::timeout(WAIT, async {
        loop {
            while let Some(packet) = mock_broker::mqtt::codec::decode(&mut input).unwrap() {
                match packet {
                    Packet::SubAck(_) if !published => {
                        published = true;
                        t.broker
                            .publish("big/in", vec![b'x'; size], QoS::AtLeastOnce, false);
                    }
                    Packet::Publish(publish) => return publish.payload.len(),
                    _ => {}
                }
            }
            assert_ne!(tls.read_buf(&mut input).await.unwrap(), 0, "closed");
        }
    })
    .await
    .expect("the big PUBLISH arrives");
    let (wire, _) = tls.get_ref();
    // Content type 23: application data (TLS 1.3 hides every type behind it).
    let lengths = wire
        .lengths
        .iter()
        .filter(|(kind, _)| *kind == 23)
        .map(|(_, length)| *length)
        .collect();
    (received, lengths)
}

#[tokio::test]
async fn a_publish_over_16_kib_arrives_in_records_of_the_maximum_size() {
    for (versions, overhead) in [
        // TLS 1.3: the inner content type byte and the 16-byte AEAD tag.
        (&[&rustls::version::TLS13][..], 1 + 16),
        // TLS 1.2 with AES-GCM: the 8-byte explicit nonce and the tag.
        (&[&rustls::version::TLS12][..], 8 + 16),
    ] {
        let (received, lengths) = big_publish(versions, 40_000).await;
        assert_eq!(received, 40_000);
        let full = 16_384 + overhead;
        assert_eq!(lengths.iter().max(), Some(&full), "{lengths:?}");
        assert_eq!(
            lengths.iter().filter(|l| **l == full).count(),
            2,
            "40 000 bytes fill two records of 16 KiB: {lengths:?}"
        );
    }
}

#[tokio::test]
async fn a_large_server_chain_is_presented_whole_and_verifies() {
    let mut t = TestBroker::start().await;
    // About 10 KiB: a leaf with 300 extra names, then its CA.
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    names.extend((0..300).map(|i| format!("padding-{i:03}.large-chain.invalid")));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let leaf = t.pki.server_ca.server(&names, Validity::Long).unwrap();
    let chain = vec![leaf.der.clone(), t.pki.server_ca.der()];
    let size: usize = chain.iter().map(|c| c.len()).sum();
    assert!(size > 10 * 1024, "{size} bytes");
    let identity = mock_broker::ServerIdentity::new(chain.clone(), leaf.key_der());
    t.broker
        .faults()
        .present_server_identity(&identity)
        .unwrap();
    let config = client_config(&t, &[&rustls::version::TLS13], None);
    let raw = crate::support::RawClient::connect(t.port(), Arc::new(config))
        .await
        .expect("a correct client verifies the large chain");
    let presented = raw.peer_certificates();
    assert_eq!(presented, chain);
    t.event("TLS accepted", |e| {
        matches!(e, EventKind::TlsAccepted { .. })
    })
    .await;
}

#[tokio::test]
async fn the_tap_names_the_suites_offered_and_a_client_without_an_aws_suite_is_refused() {
    use rustls::CipherSuite::*;
    let mut t = TestBroker::start().await;
    let config = client_config(&t, rustls::DEFAULT_VERSIONS, None);
    let _raw = crate::support::RawClient::connect(t.port(), Arc::new(config))
        .await
        .unwrap();
    let accepted = t
        .event("TLS accepted", |e| {
            matches!(e, EventKind::TlsAccepted { .. })
        })
        .await;
    let EventKind::TlsAccepted {
        cipher_suite,
        cipher_suites,
        ..
    } = accepted
    else {
        unreachable!()
    };
    assert_eq!(
        cipher_suites.first().map(String::as_str),
        Some("TLS_AES_256_GCM_SHA384")
    );
    assert!(
        cipher_suites.contains(&"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_owned()),
        "rustls offers it by default: {cipher_suites:?}"
    );
    assert!(cipher_suites.contains(&cipher_suite), "{cipher_suite}");

    // TLS 1.2 with ChaCha20-Poly1305 only: not in AWS IoT Core's policy.
    let chacha = [
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    let config = client_config(&t, &[&rustls::version::TLS12], Some(&chacha));
    let error = crate::support::RawClient::connect(t.port(), Arc::new(config))
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("HandshakeFailure"), "{error}");
    let rejected = t
        .event("TLS rejected", |e| {
            matches!(e, EventKind::TlsRejected { .. })
        })
        .await;
    let EventKind::TlsRejected {
        reason,
        cipher_suites,
        ..
    } = rejected
    else {
        unreachable!()
    };
    assert_eq!(
        reason,
        "no cipher suite in common with AWS IoT Core's security policy"
    );
    assert!(
        cipher_suites.starts_with(&[
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_owned(),
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".to_owned(),
        ]),
        "{cipher_suites:?}"
    );
}

#[tokio::test]
async fn the_broker_offers_only_the_cipher_suites_a_fault_names_until_restored() {
    let mut t = TestBroker::start().await;
    let faults = t.broker.faults();
    let negotiated = |e: &EventKind| match e {
        EventKind::TlsAccepted { cipher_suite, .. } => Some(cipher_suite.clone()),
        _ => None,
    };

    // One TLS 1.2 suite alone: a client offering everything gets it.
    faults.offer_cipher_suites(&[0xC02B]).unwrap();
    let config = client_config(&t, rustls::DEFAULT_VERSIONS, None);
    let _raw = crate::support::RawClient::connect(t.port(), Arc::new(config))
        .await
        .unwrap();
    let accepted = t.event("TLS accepted", |e| negotiated(e).is_some()).await;
    assert_eq!(
        negotiated(&accepted).as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    );
    // A TLS 1.3-only client has nothing in common with it (no TLS 1.3 suite: no TLS 1.3).
    let config = client_config(&t, &[&rustls::version::TLS13], None);
    let error = crate::support::RawClient::connect(t.port(), Arc::new(config))
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("ProtocolVersion"), "{error}");

    // A suite outside AWS IoT Core's policy cannot be offered; the offer stays.
    let refused = faults.offer_cipher_suites(&[0xCCA9]).unwrap_err();
    assert!(
        matches!(&refused, mock_broker::TlsConfigError::NoCipherSuite(s) if s == &[0xCCA9]),
        "{refused}"
    );

    // Restored: the TLS 1.3-only client connects with its first choice.
    faults.restore_cipher_suites();
    let config = client_config(&t, &[&rustls::version::TLS13], None);
    let _raw = crate::support::RawClient::connect(t.port(), Arc::new(config))
        .await
        .unwrap();
    let accepted = t
        .event("TLS 1.3 accepted", |e| {
            negotiated(e).is_some_and(|s| s.starts_with("TLS_AES"))
        })
        .await;
    assert_eq!(
        negotiated(&accepted).as_deref(),
        Some("TLS_AES_256_GCM_SHA384")
    );
}
