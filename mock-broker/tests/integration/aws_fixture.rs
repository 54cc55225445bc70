//! The AWS fixture of the control-plane tests: a broker with AWS IoT Core's control plane,
//! a signer CA registered for JITR, and an operator client watching every AWS event.

use crate::support::{Client, TestBroker, WAIT};
use mock_broker::aws::certs::CertInfo;
use mock_broker::aws::control_plane::{ControlPlane, ControlPlaneConfig};
use mock_broker::aws::registry::CertificateMode;
use mock_broker::dev_pki::{Issued, TestCa, Validity};
use rumqttc::QoS;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A broker with the control plane, a signer CA registered for JITR, and an operator
/// (superuser) client subscribed to every AWS event.
pub struct Aws {
    pub t: TestBroker,
    pub plane: Arc<ControlPlane>,
    pub signer: TestCa,
    pub ca_id: String,
    pub operator: Client,
    pub operator_ca: TestCa,
}

impl Aws {
    pub async fn start(zero_touch: Option<Duration>, template: Option<&str>) -> Aws {
        Self::start_in(None, zero_touch, template).await
    }

    pub async fn start_in(
        state_dir: Option<&std::path::Path>,
        zero_touch: Option<Duration>,
        template: Option<&str>,
    ) -> Aws {
        let operator_ca = TestCa::new("harness operator CA").unwrap();
        let mut config = ControlPlaneConfig::new("localhost");
        config.zero_touch = zero_touch;
        config.operator_cas = vec![operator_ca.der()];
        config.state_dir = state_dir.map(ToOwned::to_owned);
        let plane = ControlPlane::new(config).unwrap();
        let signer = TestCa::new("Microchip test signer").unwrap();
        let code = plane.read(|reg| reg.account.registration_code.clone());
        let verification = signer.client(&code, Validity::Long).unwrap().cert_pem;
        let ca_id = plane
            .change(|reg, now| {
                let template = template.map(str::to_owned);
                reg.register_ca(
                    &signer.pem(),
                    Some(&verification),
                    true,
                    true,
                    CertificateMode::Default,
                    template,
                    now,
                )
                .map(|ca| ca.id.clone())
            })
            .unwrap();
        let hook = plane.clone();
        let t = TestBroker::start_with(move |c| hook.install(c)).await;
        let operator_cert = operator_ca.client("harness", Validity::Long).unwrap();
        let mut operator = t.client_with_cert("harness-operator", &operator_cert, |_| {});
        operator.connected().await;
        operator.subscribe("$aws/events/#", QoS::AtLeastOnce).await;
        Aws {
            t,
            plane,
            signer,
            ca_id,
            operator,
            operator_ca,
        }
    }

    /// Another superuser client.
    pub async fn watcher(&self, name: &str) -> Client {
        let cert = self.operator_ca.client(name, Validity::Long).unwrap();
        let mut client = self.t.client_with_cert(name, &cert, |_| {});
        client.connected().await;
        client
    }

    pub fn device(&self, serial: &str) -> (Issued, String) {
        let cert = self.signer.device(serial).unwrap();
        let thing = CertInfo::from_pem(&cert.cert_pem).unwrap().ski.unwrap();
        (cert, thing)
    }

    /// Connects once; Ok(client) when CONNACK comes, Err(text) when the broker drops it.
    pub async fn connect(&self, thing: &str, cert: &Issued) -> Result<Client, String> {
        let mut client = self.t.client_with_cert(thing, cert, |_| {});
        loop {
            match client.next().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => return Ok(client),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Retries like a device, with a short backoff, until the broker accepts it.
    pub async fn connect_eventually(&self, thing: &str, cert: &Issued) -> Client {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut backoff = Duration::from_millis(10);
        loop {
            if let Ok(client) = self.connect(thing, cert).await {
                return client;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{thing} never got in"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
    }

    /// The next message the operator receives on a topic starting with `prefix`, with its
    /// payload as JSON.
    pub async fn event_on(&mut self, prefix: &str) -> (String, Value) {
        let (topic, payload) = self.message_on(prefix).await;
        let json =
            serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{topic}: {e}: {payload}"));
        (topic, json)
    }

    pub async fn message_on(&mut self, prefix: &str) -> (String, String) {
        loop {
            let message = self.operator.message().await;
            if message.topic.starts_with(prefix) {
                return (
                    message.topic.clone(),
                    String::from_utf8_lossy(&message.payload).into_owned(),
                );
            }
        }
    }
}
