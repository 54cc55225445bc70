//! Brokers: the [`Broker`] trait and its backends.
//!
//! Every backend says where boards connect (the endpoint name they are provisioned with,
//! and the address it resolves to) and puts what it sees on the timeline. What else it can
//! do is in its [`BrokerCapabilities`]: the embedded mock broker has a full tap, the AWS
//! control plane (JITR, policies, shadow) and fault injection; the other backends observe
//! through a client and lack those. A scenario that needs a missing capability is skipped
//! with the reason.
//! - [`embedded::EmbeddedBroker`]: the in-process mock broker (default);
//! - [`mosquitto::MosquittoBroker`]: Mosquitto as a process, configured by the harness;
//! - [`container::ContainerBroker`]: the same Mosquitto configuration in a container;
//! - [`external::ExternalBroker`]: any broker, observed through a client.

pub mod container;
pub mod data_plane;
pub mod embedded;
pub mod external;
pub mod mosquitto;
pub mod mosquitto_config;
pub mod observed;

use crate::errors::BrokerError;
use std::net::IpAddr;

/// What a broker backend offers beyond MQTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerCapabilities {
    /// Every packet and connection event is visible.
    pub tap: bool,
    /// AWS IoT's control plane: registries, JITR, policies, shadow, lifecycle events.
    pub control_plane: bool,
    /// Fault injection.
    pub faults: bool,
    /// The harness can restart it on the same port with its state.
    pub restart: bool,
}

impl BrokerCapabilities {
    /// Everything: the embedded mock broker.
    pub const FULL: BrokerCapabilities = BrokerCapabilities {
        tap: true,
        control_plane: true,
        faults: true,
        restart: true,
    };

    /// A broker seen only through an observer client: messages, nothing else.
    pub const OBSERVED: BrokerCapabilities = BrokerCapabilities {
        tap: false,
        control_plane: false,
        faults: false,
        restart: false,
    };
}

/// A broker boards connect to.
#[async_trait::async_trait]
pub trait Broker: Send + Sync {
    /// The backend kind, as in rig files.
    fn kind(&self) -> &'static str;
    /// What it offers.
    fn capabilities(&self) -> BrokerCapabilities;
    /// The endpoint name boards are provisioned with (TLS server name).
    fn endpoint(&self) -> &str;
    /// The port boards connect to.
    fn port(&self) -> u16;
    /// The address the endpoint name resolves to, for emulated boards.
    fn address(&self) -> IpAddr;
    /// Publishes a message as the cloud.
    async fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: rumqttc::QoS,
        retain: bool,
    ) -> Result<(), BrokerError>;
    /// The embedded mock broker, for what only it can do.
    fn embedded(&self) -> Option<&embedded::EmbeddedBroker>;
    /// The embedded mock broker, to restart it.
    fn embedded_mut(&mut self) -> Option<&mut embedded::EmbeddedBroker> {
        None
    }
    /// Stops the broker.
    async fn shutdown(self: Box<Self>);
}
