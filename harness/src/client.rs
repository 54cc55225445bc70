//! Scenario MQTT clients: a client the harness runs beside the boards, as the AWS console's
//! test client or as another device.
//!
//! A [`TestClient`] connects once with mutual TLS (rumqttc) and never reconnects: a
//! connection the broker closes stays closed, so a scenario can assert that it was
//! dropped. Everything it does and receives goes on the timeline as [`What::Client`]
//! events (`connected`, `refused`, `subscribed`, `published`, `received`, `closed`), and
//! its methods wait for the broker's answer with a timeout.

use crate::pki::KeyedCert;
use crate::timeline::{Timeline, What};
use rumqttc::{
    AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, SubscribeReasonCode,
    TlsConfiguration, Transport,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// A client operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The TLS configuration could not be built from the PEM given.
    #[error("client TLS set-up: {0}")]
    Tls(String),
    /// The broker refused the connection (CONNACK with an error code, or a TLS failure).
    #[error("client {client}: the connection was refused: {reason}")]
    Refused {
        /// Client name.
        client: String,
        /// Why.
        reason: String,
    },
    /// The connection is closed.
    #[error("client {client}: the connection is closed: {reason}")]
    Closed {
        /// Client name.
        client: String,
        /// Why it closed.
        reason: String,
    },
    /// The broker did not answer in time.
    #[error("client {client}: no {what} within {timeout:?}")]
    Timeout {
        /// Client name.
        client: String,
        /// What was awaited.
        what: &'static str,
        /// How long.
        timeout: Duration,
    },
    /// The broker refused a subscription.
    #[error("client {client}: the broker refused the subscription to {topic}")]
    SubscriptionRefused {
        /// Client name.
        client: String,
        /// Topic filter.
        topic: String,
    },
}

/// Where a client's connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientState {
    /// Handshake and CONNECT under way.
    Connecting,
    /// CONNACK accepted.
    Connected,
    /// Refused or closed, with the reason; final.
    Closed(String),
}

/// A TLS client configuration (ring) trusting `server_ca_pem` and presenting `identity`.
pub fn tls_config(
    server_ca_pem: &str,
    identity: &KeyedCert,
) -> Result<rustls::ClientConfig, ClientError> {
    let tls = |e: &dyn std::fmt::Display| ClientError::Tls(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(server_ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).map_err(|e| tls(&e))?;
    rustls::ClientConfig::builder_with_provider(mock_broker::mqtt::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls(&e))
}

/// The MQTT options of the harness's clients (scenario clients and the observer): a
/// 30 s keep-alive, 256 KiB packets (AWS IoT's 128 KiB payload and headroom), TLS.
pub(crate) fn mqtt_options(
    client_id: &str,
    host: &str,
    port: u16,
    tls: rustls::ClientConfig,
) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(256 * 1024, 256 * 1024);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(tls),
    )));
    options
}

/// The socket options of the harness's clients: TCP_NODELAY, so a publish right after
/// another is sent at once, not held (Nagle's algorithm) until the first one's delayed
/// acknowledgement, up to 40 ms later: 8 s of board time at speed 200.
pub(crate) fn network_options() -> rumqttc::NetworkOptions {
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network
}

/// A PUBLISH a client received, as a timeline event of kind `event` (the fields
/// [`crate::runner::Message`] is read from).
pub(crate) fn publish_event(event: &str, publish: &rumqttc::Publish) -> Value {
    json!({
        "event": event,
        "topic": publish.topic,
        "payload": String::from_utf8_lossy(&publish.payload),
        "qos": publish.qos as u8,
        "retain": publish.retain,
    })
}

/// Where and as whom a client connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Host (also the TLS server name: use a name or IP the server certificate lists).
    pub host: String,
    /// Port.
    pub port: u16,
    /// MQTT client id.
    pub client_id: String,
    /// The server's CA, PEM.
    pub server_ca_pem: String,
    /// The client's certificate and key.
    pub identity: KeyedCert,
}

/// A scenario's MQTT client; its connection closes when it is dropped.
pub struct TestClient {
    name: String,
    client: AsyncClient,
    state: watch::Receiver<ClientState>,
    subacks: broadcast::Sender<Vec<SubscribeReasonCode>>,
    timeline: Arc<Timeline>,
    task: tokio::task::JoinHandle<()>,
}

impl ClientError {
    /// The error with a [`ClientError::Timeout`]'s wait given as `timeout`: the client
    /// waits in wall time, and a caller that converted a scenario's board-time duration
    /// reports that duration instead.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        if let ClientError::Timeout {
            timeout: waited, ..
        } = &mut self
        {
            *waited = timeout;
        }
        self
    }
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("name", &self.name)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn record(timeline: &Timeline, client: &str, event: Value) {
    timeline.record(What::Client {
        client: client.to_owned(),
        event,
    });
}

fn close_reason(error: &ConnectionError) -> String {
    match error {
        ConnectionError::ConnectionRefused(code) => format!("CONNACK {code:?}"),
        other => other.to_string(),
    }
}

impl TestClient {
    /// Connects as `name` and waits up to `timeout` for the CONNACK.
    pub async fn connect(
        name: &str,
        options: ClientOptions,
        timeline: Arc<Timeline>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let tls = tls_config(&options.server_ca_pem, &options.identity)?;
        let mqtt = mqtt_options(&options.client_id, &options.host, options.port, tls);
        let (client, mut eventloop) = AsyncClient::new(mqtt, 64);
        eventloop.set_network_options(network_options());
        let (state_tx, state) = watch::channel(ClientState::Connecting);
        let (subacks, _) = broadcast::channel(16);
        let task = {
            let (name, timeline, subacks) = (name.to_owned(), timeline.clone(), subacks.clone());
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            record(&timeline, &name, json!({"event": "connected"}));
                            let _ = state_tx.send(ClientState::Connected);
                        }
                        Ok(Event::Incoming(Packet::SubAck(ack))) => {
                            let codes: Vec<String> =
                                ack.return_codes.iter().map(|c| format!("{c:?}")).collect();
                            record(
                                &timeline,
                                &name,
                                json!({"event": "subscribed", "codes": codes}),
                            );
                            let _ = subacks.send(ack.return_codes);
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            record(&timeline, &name, publish_event("received", &p));
                        }
                        Ok(_) => {}
                        Err(error) => {
                            let reason = close_reason(&error);
                            let kind = match (&error, &*state_tx.borrow()) {
                                (_, ClientState::Connected) => "closed",
                                _ => "refused",
                            };
                            record(&timeline, &name, json!({"event": kind, "reason": reason}));
                            let _ = state_tx.send(ClientState::Closed(reason));
                            return;
                        }
                    }
                }
            })
        };
        let mut state_rx = state.clone();
        let this = TestClient {
            name: name.to_owned(),
            client,
            state,
            subacks,
            timeline,
            task,
        };
        let outcome = tokio::time::timeout(
            timeout,
            state_rx.wait_for(|s| *s != ClientState::Connecting),
        )
        .await;
        match outcome.ok().and_then(Result::ok).map(|s| s.clone()) {
            Some(ClientState::Connected) => Ok(this),
            Some(ClientState::Closed(reason)) => Err(ClientError::Refused {
                client: name.to_owned(),
                reason,
            }),
            _ => Err(ClientError::Timeout {
                client: name.to_owned(),
                what: "CONNACK",
                timeout,
            }),
        }
    }

    /// The client's name in the scenario.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the connection stands.
    pub fn state(&self) -> ClientState {
        self.state.borrow().clone()
    }

    fn closed_error(&self) -> Option<ClientError> {
        match self.state() {
            ClientState::Closed(reason) => Some(ClientError::Closed {
                client: self.name.clone(),
                reason,
            }),
            _ => None,
        }
    }

    /// Subscribes to `topic` and waits for the SUBACK; a refused subscription is an error.
    pub async fn subscribe(
        &self,
        topic: &str,
        qos: QoS,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        if let Some(error) = self.closed_error() {
            return Err(error);
        }
        let mut acks = self.subacks.subscribe();
        let mut state = self.state.clone();
        self.client
            .subscribe(topic, qos)
            .await
            .map_err(|e| ClientError::Closed {
                client: self.name.clone(),
                reason: e.to_string(),
            })?;
        let answer = async {
            tokio::select! {
                ack = acks.recv() => ack.ok(),
                _ = state.wait_for(|s| matches!(s, ClientState::Closed(_))) => None,
            }
        };
        match tokio::time::timeout(timeout, answer).await {
            Ok(Some(codes))
                if codes
                    .iter()
                    .all(|c| !matches!(c, SubscribeReasonCode::Failure)) =>
            {
                Ok(())
            }
            Ok(Some(_)) => Err(ClientError::SubscriptionRefused {
                client: self.name.clone(),
                topic: topic.to_owned(),
            }),
            Ok(None) => Err(self.closed_error().unwrap_or(ClientError::Closed {
                client: self.name.clone(),
                reason: "the event loop stopped".into(),
            })),
            Err(_) => Err(ClientError::Timeout {
                client: self.name.clone(),
                what: "SUBACK",
                timeout,
            }),
        }
    }

    /// Publishes a message (handed to the connection; QoS 1 is not awaited).
    pub async fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), ClientError> {
        if let Some(error) = self.closed_error() {
            return Err(error);
        }
        self.client
            .publish(topic, qos, retain, payload.to_vec())
            .await
            .map_err(|e| ClientError::Closed {
                client: self.name.clone(),
                reason: e.to_string(),
            })?;
        record(
            &self.timeline,
            &self.name,
            json!({"event": "published", "topic": topic, "payload": String::from_utf8_lossy(payload)}),
        );
        Ok(())
    }

    /// Waits up to `timeout` for the broker to close the connection; returns the reason.
    pub async fn closed(&self, timeout: Duration) -> Result<String, ClientError> {
        let mut state = self.state.clone();
        let closed = tokio::time::timeout(
            timeout,
            state.wait_for(|s| matches!(s, ClientState::Closed(_))),
        )
        .await;
        match closed.ok().and_then(Result::ok).map(|s| s.clone()) {
            Some(ClientState::Closed(reason)) => Ok(reason),
            _ => Err(ClientError::Timeout {
                client: self.name.clone(),
                what: "disconnection",
                timeout,
            }),
        }
    }

    /// Disconnects cleanly (best effort) and stops the client.
    pub async fn disconnect(self) {
        if tokio::time::timeout(Duration::from_secs(2), self.client.disconnect())
            .await
            .is_ok()
        {
            let _ = self.closed(Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod tests;
