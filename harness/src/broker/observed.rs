//! A broker the harness hosts (a process, a container) and watches through an observer
//! client: what the Mosquitto backends share, whatever runs Mosquitto.
//!
//! [`ObservedBroker`] is the [`Broker`]: where boards connect, the observer
//! ([`ExternalBroker`], subscribed to `#`) that puts messages on the timeline and publishes
//! as the cloud, and the [`Host`] that runs the broker and stops it.

use super::external::ExternalBroker;
use super::{Broker, BrokerCapabilities};
use crate::errors::BrokerError;
use crate::pki::TestPki;
use crate::timeline::Timeline;
use std::net::IpAddr;
use std::sync::Arc;

/// What runs a hosted broker.
#[async_trait::async_trait]
pub trait Host: Send + Sync + 'static {
    /// The backend kind, as in rig files.
    const KIND: &'static str;
    /// What helps explain a failure (a log's last lines, a container id).
    fn describe(&self) -> String;
    /// Stops the broker and waits until it is gone.
    async fn stop(self);
}

/// A hosted broker, seen through its observer.
pub struct ObservedBroker<H: Host> {
    endpoint: String,
    address: IpAddr,
    port: u16,
    observer: ExternalBroker,
    host: H,
}

impl<H: Host> std::fmt::Debug for ObservedBroker<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedBroker")
            .field("kind", &H::KIND)
            .field("endpoint", &self.endpoint)
            .field("address", &self.address)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl<H: Host> ObservedBroker<H> {
    /// Connects the observer (the operator certificate) to the broker `host` runs at
    /// `address:port`, which boards reach as `endpoint`. On failure `host` is stopped.
    pub async fn observe(
        host: H,
        endpoint: &str,
        address: IpAddr,
        port: u16,
        pki: &TestPki,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BrokerError> {
        let observed = ExternalBroker::start(
            &address.to_string(),
            port,
            &pki.server_ca.pem,
            &pki.operator,
            timeline,
        )
        .await;
        match observed {
            Ok(observer) => Ok(ObservedBroker {
                endpoint: endpoint.to_owned(),
                address,
                port,
                observer,
                host,
            }),
            Err(e) => {
                let reason = format!("{e}\n{}", host.describe());
                host.stop().await;
                Err(BrokerError::Start {
                    kind: H::KIND,
                    reason,
                })
            }
        }
    }

    /// What runs the broker.
    pub fn host(&self) -> &H {
        &self.host
    }
}

#[async_trait::async_trait]
impl<H: Host> Broker for ObservedBroker<H> {
    fn kind(&self) -> &'static str {
        H::KIND
    }

    fn capabilities(&self) -> BrokerCapabilities {
        BrokerCapabilities::OBSERVED
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
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
        qos: rumqttc::QoS,
        retain: bool,
    ) -> Result<(), BrokerError> {
        self.observer.publish(topic, payload, qos, retain).await
    }

    fn embedded(&self) -> Option<&super::embedded::EmbeddedBroker> {
        None
    }

    async fn shutdown(self: Box<Self>) {
        let ObservedBroker { observer, host, .. } = *self;
        Box::new(observer).shutdown().await;
        host.stop().await;
    }
}
