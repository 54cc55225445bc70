//! The external broker backend: a broker the harness does not run (a lab Mosquitto, a
//! real AWS endpoint), observed through an MQTT client.
//!
//! The observer connects with mutual TLS (the test PKI's operator certificate by default),
//! subscribes to `#`, and puts every message it receives on the timeline as an
//! `observed_publish` broker event, plus its own connection state. It sees messages, not
//! packets: there is no tap, no control plane and no fault injection, so scenarios that
//! need those are skipped on this backend.

use super::{Broker, BrokerCapabilities};
use crate::errors::BrokerError;
use crate::pki::KeyedCert;
use crate::timeline::{Timeline, What};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long the observer may take to connect and subscribe.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A broker observed through a client.
pub struct ExternalBroker {
    host: String,
    port: u16,
    address: IpAddr,
    client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ExternalBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalBroker")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for ExternalBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start_error(reason: impl std::fmt::Display) -> BrokerError {
    BrokerError::Start {
        kind: "external",
        reason: reason.to_string(),
    }
}

impl ExternalBroker {
    /// Connects the observer to `host:port`, trusting `server_ca_pem` and presenting
    /// `client`, and waits until it is subscribed to everything.
    pub async fn start(
        host: &str,
        port: u16,
        server_ca_pem: &str,
        client: &KeyedCert,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BrokerError> {
        let address = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| start_error(format!("cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| start_error(format!("{host} has no address")))?
            .ip();
        let tls = crate::client::tls_config(server_ca_pem, client).map_err(start_error)?;
        let client_id = format!("hil-observer-{}", std::process::id());
        let options = crate::client::mqtt_options(&client_id, host, port, tls);
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        eventloop.set_network_options(crate::client::network_options());
        client
            .subscribe("#", QoS::AtLeastOnce)
            .await
            .map_err(start_error)?;
        let (ready_tx, ready) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let task = tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        timeline.record(What::Broker {
                            event: json!({"event": "observer_subscribed"}),
                        });
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        timeline.record(What::Broker {
                            event: crate::client::publish_event("observed_publish", &p),
                        });
                    }
                    Ok(_) => {}
                    Err(error) => {
                        timeline.record(What::Broker {
                            event: json!({"event": "observer_error", "reason": error.to_string()}),
                        });
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(Err(error.to_string()));
                            return;
                        }
                        // Reconnects on the next poll; do not spin.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        match tokio::time::timeout(CONNECT_TIMEOUT, ready).await {
            Ok(Ok(Ok(()))) => Ok(ExternalBroker {
                host: host.to_owned(),
                port,
                address,
                client,
                task,
            }),
            Ok(Ok(Err(reason))) => {
                task.abort();
                Err(start_error(format!(
                    "the observer cannot connect to {host}:{port}: {reason}"
                )))
            }
            _ => {
                task.abort();
                Err(start_error(format!(
                    "the observer did not subscribe within {CONNECT_TIMEOUT:?}"
                )))
            }
        }
    }
}

#[async_trait::async_trait]
impl Broker for ExternalBroker {
    fn kind(&self) -> &'static str {
        "external"
    }

    fn capabilities(&self) -> BrokerCapabilities {
        BrokerCapabilities::OBSERVED
    }

    fn endpoint(&self) -> &str {
        &self.host
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn address(&self) -> IpAddr {
        self.address
    }

    async fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), BrokerError> {
        self.client
            .publish(topic, qos, retain, payload.to_vec())
            .await
            .map_err(|e| BrokerError::Start {
                kind: "external",
                reason: format!("publish to {topic}: {e}"),
            })
    }

    fn embedded(&self) -> Option<&super::embedded::EmbeddedBroker> {
        None
    }

    async fn shutdown(self: Box<Self>) {
        let _ = self.client.disconnect().await;
        self.task.abort();
    }
}
