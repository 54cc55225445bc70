//! The scenario-client steps: `connect`, `subscribe` and `expect_disconnected` (a client's
//! `publish` and what it receives are in the `publish` and `expect_message` steps).

use super::world::{Mismatch, World, mismatch};
use crate::client::{ClientOptions, TestClient};
use crate::scenario::{
    ClientIdentity, ClientName, ConnectStep, ExpectDisconnectedStep, Scenario, SubscribeStep,
};
use std::sync::Arc;
use std::time::Duration;

/// How long `connect` and `subscribe` wait for the broker when the scenario gives no
/// timeout (board time).
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

impl World {
    /// The client `name`, which `connect` must have connected.
    pub(super) fn connected_client(&self, name: &ClientName) -> Result<Arc<TestClient>, Mismatch> {
        let slot = self
            .clients
            .get(name.get())
            .ok_or_else(|| mismatch(format!("client {}", name.get()), "no such client"))?;
        let connection = slot.connection.lock().unwrap_or_else(|p| p.into_inner());
        connection.clone().ok_or_else(|| {
            mismatch(
                format!("client {} connected", name.get()),
                "no `connect` step ran for it before",
            )
        })
    }

    pub(super) async fn connect(&self, s: &ConnectStep) -> Result<(), Mismatch> {
        let name = s.client.get();
        let slot = self
            .clients
            .get(name)
            .ok_or_else(|| mismatch(format!("client {name}"), "no such client"))?;
        let expected = format!("client {name} connected");
        let (client_id, identity) = match slot.spec.identity {
            ClientIdentity::Operator => (format!("hil-{name}"), self.pki.operator.clone()),
            ClientIdentity::Device => {
                let (device, identity) = self
                    .pki
                    .new_device()
                    .map_err(|e| mismatch(&expected, format!("no device identity: {e}")))?;
                let broker = self.broker.read().await;
                let broker = Self::registry(broker.as_ref(), "register a device")?;
                // Register the device like a preregistered board: the signer CA must be
                // known (kept as it is if a scenario registered it already).
                broker
                    .ensure_signer()
                    .and_then(|_| broker.preregister(&device.pem, &device.thing))
                    .map_err(|e| mismatch(&expected, format!("cannot register it: {e}")))?;
                self.set_variable(format!("{name}.thing"), device.thing.clone());
                self.set_variable(format!("{name}.certificate_id"), device.id.clone());
                (device.thing, identity)
            }
        };
        let options = {
            let broker = self.broker.read().await;
            ClientOptions {
                host: broker.address().to_string(),
                port: broker.port(),
                client_id,
                server_ca_pem: self.pki.server_ca.pem.clone(),
                identity,
            }
        };
        let within = s
            .within
            .as_ref()
            .map_or(DEFAULT_CLIENT_TIMEOUT, Scenario::checked_duration);
        let client = TestClient::connect(name, options, self.timeline.clone(), self.wall(within))
            .await
            .map_err(|e| mismatch(&expected, e.with_timeout(within).to_string()))?;
        let mut connection = slot.connection.lock().unwrap_or_else(|p| p.into_inner());
        *connection = Some(Arc::new(client));
        Ok(())
    }

    pub(super) async fn subscribe(&self, s: &SubscribeStep) -> Result<(), Mismatch> {
        let topic = s.topic.get().as_str();
        let qos = match s.qos.as_ref().map(|q| *q.get()) {
            Some(1) => rumqttc::QoS::AtLeastOnce,
            _ => rumqttc::QoS::AtMostOnce,
        };
        self.connected_client(&s.client)?
            .subscribe(topic, qos, self.wall(DEFAULT_CLIENT_TIMEOUT))
            .await
            .map_err(|e| {
                mismatch(
                    format!("client {} subscribed to {topic}", s.client.get()),
                    e.with_timeout(DEFAULT_CLIENT_TIMEOUT).to_string(),
                )
            })
    }

    pub(super) async fn expect_disconnected(
        &self,
        s: &ExpectDisconnectedStep,
    ) -> Result<(), Mismatch> {
        let within = Scenario::checked_duration(&s.within);
        self.connected_client(&s.client)?
            .closed(self.wall(within))
            .await
            .map(drop)
            .map_err(|e| {
                mismatch(
                    format!(
                        "the broker closes client {}'s connection within {within:?}",
                        s.client.get()
                    ),
                    e.with_timeout(within).to_string(),
                )
            })
    }
}
