//! The board's network stack: TCP to the endpoint, TLS with the provisioned credentials,
//! and MQTT 3.1.1 framing with rumqttc's codec.
//!
//! The reference firmware offers TLS 1.3 and 1.2 with only the cipher suites AWS IoT
//! Core's default security policy supports (rustls's TLS 1.2 ChaCha20-Poly1305 suites are
//! left out: that policy has none), so Device Advisor finds nothing to warn about in its
//! ClientHello; [`Flaw::Tls12ChachaOnly`] offers exactly those left out. The other TLS
//! flaws are in `lenient` (verification) and `record_limit` (record size).
//!
//! One task per connection. It reports [`NetEvent`]s tagged with its connection number, so
//! events of an old connection are recognised and ignored after a reconnect, and it sends
//! the packets it is given. Dropping the [`Connection`] closes it.

use crate::lenient::{LenientVerifier, tls_flaws};
use crate::record_limit::{self, RecordLimit};
use bytes::BytesMut;
use firmware_under_test::board::TransportError;
use firmware_under_test::flaws::{Flaw, Flaws};
use rumqttc::mqttbytes::v4::Packet;
use rustls::CipherSuite;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What a connection reports.
#[derive(Debug)]
pub enum NetEvent {
    /// TLS is up; `local_port` is the connection's own TCP port (the broker sees the
    /// board at it), when the socket says.
    Up {
        #[allow(dead_code)] // fleet-board's; the emulated board does not report it
        local_port: Option<u16>,
    },
    /// Opening failed.
    Failed(TransportError, String),
    /// The open connection ended.
    Closed(String),
    /// A packet arrived.
    Packet(Packet),
}

/// Everything needed to open a connection.
pub struct ConnectParams {
    pub host: String,
    pub addr: Option<SocketAddr>,
    pub port: u16,
    pub root_ca_pem: String,
    pub chain_pem: Vec<String>,
    pub key_pkcs8_der: Vec<u8>,
    /// The board's flaws; the TLS ones change the client.
    pub flaws: Flaws,
}

/// A live connection; dropping it closes the socket.
pub struct Connection {
    outgoing: mpsc::UnboundedSender<Packet>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// Starts connecting; events arrive on `events` tagged with `id`.
    pub fn open(
        id: u64,
        params: ConnectParams,
        events: mpsc::UnboundedSender<(u64, NetEvent)>,
    ) -> Self {
        if params.flaws.has(Flaw::LeakPerConnection) {
            // The flaw: memory that is never given back, touched so it is resident.
            Box::leak(vec![0x5a_u8; 512 * 1024].into_boxed_slice());
        }
        let (outgoing, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let report = |event| {
                let _ = events.send((id, event));
            };
            match connect(&params).await {
                Ok(stream) => {
                    let local_port = stream
                        .get_ref()
                        .0
                        .get_ref()
                        .local_addr()
                        .ok()
                        .map(|a| a.port());
                    report(NetEvent::Up { local_port });
                    let reason = pump(stream, rx, &report).await;
                    report(NetEvent::Closed(reason));
                }
                Err((kind, why)) => report(NetEvent::Failed(kind, why)),
            }
        });
        Connection { outgoing, task }
    }

    /// Queues a packet.
    pub fn send(&self, packet: Packet) {
        let _ = self.outgoing.send(packet);
    }
}

type Stream = tokio_rustls::client::TlsStream<RecordLimit<TcpStream>>;

async fn connect(params: &ConnectParams) -> Result<Stream, (TransportError, String)> {
    let other = |why: String| (TransportError::Other, why);
    let config = tls_config(params).map_err(|why| (TransportError::Other, why))?;
    let target = match params.addr {
        Some(addr) => SocketAddr::new(addr.ip(), params.port),
        None => tokio::net::lookup_host((params.host.as_str(), params.port))
            .await
            .map_err(|e| other(format!("cannot resolve {}: {e}", params.host)))?
            .next()
            .ok_or_else(|| other(format!("{} has no address", params.host)))?,
    };
    let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(target))
        .await
        .map_err(|_| other("TCP connect timed out".into()))?
        .map_err(|e| other(format!("TCP connect to {target}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let limit = params
        .flaws
        .has(Flaw::SmallTlsBuffer)
        .then_some(record_limit::LIMIT);
    let tcp = RecordLimit::new(tcp, limit);
    let name = ServerName::try_from(params.host.clone())
        .map_err(|e| other(format!("bad server name {}: {e}", params.host)))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| {
            let server_cert = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|tls| matches!(tls, rustls::Error::InvalidCertificate(_)));
            let kind = if server_cert {
                TransportError::ServerCertificate
            } else {
                TransportError::Other
            };
            (kind, format!("TLS: {e}"))
        })
}

fn tls_config(params: &ConnectParams) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(params.root_ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("root CA: {e}"))?;
        roots.add(cert).map_err(|e| format!("root CA: {e}"))?;
    }
    let mut chain = Vec::new();
    for pem in &params.chain_pem {
        chain.push(
            CertificateDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| format!("certificate: {e}"))?,
        );
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(params.key_pkcs8_der.clone()));
    let chacha_only = params.flaws.has(Flaw::Tls12ChachaOnly);
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| {
        let tls12_chacha = matches!(
            suite.suite(),
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        );
        tls12_chacha == chacha_only
    });
    let versions: &[&rustls::SupportedProtocolVersion] = if chacha_only {
        &[&rustls::version::TLS12]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?;
    let flawed = tls_flaws(params.flaws);
    let builder = if flawed.is_empty() {
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LenientVerifier::new(roots, flawed)?))
    };
    if params.flaws.has(Flaw::NoClientCert) {
        return Ok(builder.with_no_client_auth());
    }
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("device certificate: {e}"))
}

async fn pump(
    mut stream: Stream,
    mut outgoing: mpsc::UnboundedReceiver<Packet>,
    report: &impl Fn(NetEvent),
) -> String {
    let mut input = BytesMut::with_capacity(4096);
    let mut output = BytesMut::new();
    loop {
        tokio::select! {
            packet = outgoing.recv() => {
                let Some(packet) = packet else { return "closed by the board".into() };
                output.clear();
                if let Err(e) = packet.write(&mut output, usize::MAX) {
                    return format!("cannot encode {packet:?}: {e}");
                }
                if let Err(e) = stream.write_all(&output).await {
                    return format!("write: {e}");
                }
                let _ = stream.flush().await;
            }
            read = stream.read_buf(&mut input) => match read {
                Ok(0) => return "closed by the server".into(),
                Ok(_) => loop {
                    match Packet::read(&mut input, 256 * 1024) {
                        Ok(packet) => report(NetEvent::Packet(packet)),
                        Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => break,
                        Err(e) => return format!("bad packet from the server: {e}"),
                    }
                },
                Err(e) => return format!("read: {e}"),
            }
        }
    }
}
