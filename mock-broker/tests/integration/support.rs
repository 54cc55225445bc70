//! Shared fixtures: a test PKI, a broker on an ephemeral port, a rumqttc client with mutual
//! TLS, and a raw TLS client that sends exactly the bytes a test asks for.

use bytes::BytesMut;
use mock_broker::dev_pki::{Issued, TestCa, Validity};
use mock_broker::{BrokerConfig, ClientAuth, CloseReason, EventKind, MockBroker, Tap, Violation};
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, TlsConfiguration, Transport};
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How long a test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server CA with a server certificate, and a client CA.
pub struct Pki {
    pub server_ca: TestCa,
    pub server: Issued,
    pub client_ca: TestCa,
}

impl Pki {
    pub fn new() -> Self {
        let server_ca = TestCa::new("test server CA").unwrap();
        let server = server_ca
            .server(&["localhost", "127.0.0.1"], Validity::Long)
            .unwrap();
        let client_ca = TestCa::new("test client CA").unwrap();
        Pki {
            server_ca,
            server,
            client_ca,
        }
    }

    pub fn config(&self) -> BrokerConfig {
        BrokerConfig::new(
            self.server.server_identity(),
            ClientAuth::TrustRoots(vec![self.client_ca.der()]),
        )
    }

    pub fn client_cert(&self, name: &str) -> Issued {
        self.client_ca.client(name, Validity::Long).unwrap()
    }

    /// A rustls client configuration that trusts the server CA and presents `client`.
    pub fn tls_client(&self, client: Option<&Issued>) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.server_ca.der()).unwrap();
        let builder =
            ClientConfig::builder_with_provider(mock_broker::mqtt::tls::crypto_provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        let config = match client {
            Some(issued) => builder
                .with_client_auth_cert(vec![issued.der.clone()], issued.key_der())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

/// A started broker with its PKI and a tap opened before any client connects.
pub struct TestBroker {
    pub pki: Pki,
    pub broker: MockBroker,
    pub tap: Tap,
}

impl TestBroker {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut BrokerConfig)) -> Self {
        let pki = Pki::new();
        let mut config = pki.config();
        tweak(&mut config);
        let broker = MockBroker::start(config).await.unwrap();
        let tap = broker.tap();
        TestBroker { pki, broker, tap }
    }

    pub fn port(&self) -> u16 {
        self.broker.local_addr().port()
    }

    /// A rumqttc client with a certificate of its own, connected with `options` tweaked.
    pub fn client_with(&self, client_id: &str, tweak: impl FnOnce(&mut MqttOptions)) -> Client {
        let cert = self.pki.client_cert(client_id);
        self.client_with_cert(client_id, &cert, tweak)
    }

    /// A rumqttc client presenting `cert`.
    pub fn client_with_cert(
        &self,
        client_id: &str,
        cert: &Issued,
        tweak: impl FnOnce(&mut MqttOptions),
    ) -> Client {
        let mut options = MqttOptions::new(client_id, "localhost", self.port());
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            self.pki.tls_client(Some(cert)),
        )));
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(256 * 1024, 256 * 1024);
        tweak(&mut options);
        Client::spawn(options)
    }

    pub fn client(&self, client_id: &str) -> Client {
        self.client_with(client_id, |_| {})
    }

    /// A raw TLS connection presenting a fresh client certificate.
    pub async fn raw(&self) -> RawClient {
        let cert = self.pki.client_cert("raw");
        RawClient::connect(self.port(), self.pki.tls_client(Some(&cert)))
            .await
            .unwrap()
    }

    /// A raw connection that has sent CONNECT and read its CONNACK.
    pub async fn raw_connected(&self, client_id: &str) -> RawClient {
        let mut raw = self.raw().await;
        raw.send(Packet::Connect(Connect::new(client_id))).await;
        match raw.read(WAIT).await {
            Some(Packet::ConnAck(ack)) => assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        raw
    }

    /// Waits for a tap event that satisfies `pred`.
    pub async fn event(&mut self, what: &str, pred: impl FnMut(&EventKind) -> bool) -> EventKind {
        match self.tap.wait_for(WAIT, pred).await {
            Ok(event) => event.kind.clone(),
            Err(e) => panic!("{what}: {e}"),
        }
    }

    /// Waits for the close of a connection of `client_id` and returns its reason.
    pub async fn closed_reason(&mut self, client_id: &str) -> mock_broker::CloseReason {
        let id = client_id.to_owned();
        match self
            .event(
                &format!("close of {client_id}"),
                |e| matches!(e, EventKind::Closed { client_id: Some(c), .. } if *c == id),
            )
            .await
        {
            EventKind::Closed { reason, .. } => reason,
            _ => unreachable!(),
        }
    }
}

/// A rumqttc client whose event loop runs in a task, forwarding what it sees.
pub struct Client {
    pub client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Event, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    fn spawn(options: MqttOptions) -> Self {
        let (client, eventloop) = AsyncClient::new(options, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(pump(eventloop, tx));
        Client {
            client,
            events,
            task,
        }
    }

    /// The next event, or the connection error that ended the loop.
    pub async fn next(&mut self) -> Result<Event, String> {
        match tokio::time::timeout(WAIT, self.events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => Err("event loop ended".into()),
            Err(_) => panic!("no client event within {WAIT:?}"),
        }
    }

    /// Waits for CONNACK and returns its session-present flag.
    pub async fn connected(&mut self) -> bool {
        loop {
            match self.next().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
                    return ack.session_present;
                }
                Ok(_) => {}
                Err(e) => panic!("connection failed: {e}"),
            }
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: rumqttc::QoS) {
        self.client.subscribe(filter, qos).await.unwrap();
        loop {
            match self.next().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => return,
                Ok(_) => {}
                Err(e) => panic!("subscribe failed: {e}"),
            }
        }
    }

    /// Waits for the next incoming PUBLISH.
    pub async fn message(&mut self) -> rumqttc::Publish {
        loop {
            match self.next().await {
                Ok(Event::Incoming(Packet::Publish(p))) => return p,
                Ok(_) => {}
                Err(e) => panic!("waiting for a message: {e}"),
            }
        }
    }

    /// Waits until the connection fails, and returns the error.
    pub async fn error(&mut self) -> String {
        loop {
            if let Err(e) = self.next().await {
                return e;
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<Result<Event, String>>) {
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                if tx.send(Ok(event)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        }
    }
}

/// A TLS connection that sends whatever bytes a test wants.
pub struct RawClient {
    stream: TlsStream<TcpStream>,
    buf: BytesMut,
}

impl RawClient {
    pub async fn connect(port: u16, config: Arc<ClientConfig>) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let stream = TlsConnector::from(config).connect(name, tcp).await?;
        Ok(RawClient {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// Connects and expects the broker to refuse the client. With TLS 1.3 the refusal of a
    /// client certificate arrives after the client's handshake is done, on the first read.
    pub async fn refused(port: u16, config: Arc<ClientConfig>) -> std::io::Error {
        let mut raw = match Self::connect(port, config).await {
            Ok(raw) => raw,
            Err(e) => return e,
        };
        let mut byte = [0u8; 1];
        match tokio::time::timeout(WAIT, raw.stream.read(&mut byte)).await {
            Ok(Err(e)) => e,
            Ok(Ok(0)) => std::io::ErrorKind::UnexpectedEof.into(),
            Ok(Ok(_)) => panic!("the broker sent data to a client it should refuse"),
            Err(_) => panic!("the broker did not refuse the client within {WAIT:?}"),
        }
    }

    /// The server's certificate chain as the handshake delivered it.
    pub fn peer_certificates(&self) -> Vec<CertificateDer<'static>> {
        let (_, session) = self.stream.get_ref();
        session
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default()
    }

    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        mock_broker::mqtt::codec::encode(&packet, &mut out).unwrap();
        self.send_bytes(&out).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        // The broker may already have closed: a failed write shows in the next read.
        let _ = self.stream.write_all(bytes).await;
        let _ = self.stream.flush().await;
    }

    /// The next packet, or `None` once the broker closed the connection.
    pub async fn read(&mut self, timeout: Duration) -> Option<Packet> {
        let reading = async {
            loop {
                if let Ok(Some(packet)) = mock_broker::mqtt::codec::decode(&mut self.buf) {
                    return Some(packet);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(timeout, reading)
            .await
            .unwrap_or_else(|_| panic!("nothing from the broker within {timeout:?}"))
    }

    /// Asserts that the broker closes the connection (packets before the close are skipped).
    pub async fn expect_closed(&mut self) {
        while let Some(packet) = self.read(WAIT).await {
            let _ = packet;
        }
    }

    /// Asserts that nothing arrives for `quiet`, and the connection stays open.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        let mut byte = [0u8; 1];
        if let Ok(result) = tokio::time::timeout(quiet, self.stream.read(&mut byte)).await {
            panic!("expected silence, got {result:?}");
        }
    }

    /// Closes the socket without DISCONNECT.
    pub async fn drop_connection(mut self) {
        let _ = self.stream.get_mut().0.shutdown().await;
    }
}

/// The certificate of a CA nobody trusts.
pub fn stranger_cert() -> (Issued, CertificateDer<'static>) {
    let ca = TestCa::new("stranger CA").unwrap();
    let cert = ca.client("stranger", Validity::Long).unwrap();
    (cert, ca.der())
}

/// Sends `bytes` on a fresh connection (after CONNECT when `connect` is set), and returns
/// the close reason the tap reports. A bystander keeps working throughout.
pub async fn close_reason_for(connect: bool, bytes: &[u8], half_close: bool) -> CloseReason {
    let mut t = TestBroker::start().await;
    let mut bystander = t.client("bystander");
    bystander.connected().await;
    bystander.subscribe("bystander/echo", QoS::AtMostOnce).await;

    let mut raw = if connect {
        t.raw_connected("offender").await
    } else {
        t.raw().await
    };
    raw.send_bytes(bytes).await;
    if half_close {
        raw.drop_connection().await;
    } else {
        raw.expect_closed().await;
    }
    let reason = match t
        .event("offender closed", |e| {
            matches!(e, EventKind::Closed { client_id, .. }
                if client_id.as_deref() != Some("bystander"))
        })
        .await
    {
        EventKind::Closed { reason, .. } => reason,
        _ => unreachable!(),
    };
    bystander
        .client
        .publish("bystander/echo", QoS::AtMostOnce, false, "still here")
        .await
        .unwrap();
    assert_eq!(&bystander.message().await.payload[..], b"still here");
    assert_eq!(
        t.broker.connection_count(),
        1,
        "no memory kept for the dead connection"
    );
    reason
}

pub fn violation(reason: CloseReason) -> Violation {
    match reason {
        CloseReason::ProtocolViolation { violation } => violation,
        other => panic!("expected a protocol violation, got {other:?}"),
    }
}
