//! The embedded broker backend: `mock_broker` in process, with AWS IoT's control plane.
//!
//! The broker presents the test PKI's server certificate for the rig's endpoint name, and
//! admits the operator certificate as a superuser. Every tap event goes on the timeline.
//! On top of [`Broker`] it offers what scenarios need from AWS: registering the signer CA
//! (JITR, or JITP with a template), pre-registering a device, activating a certificate
//! the way Microchip's zero-touch rule does, faults, and certificate status changes.
//!
//! The broker runs on the timeline's clock: its timers (keep-alive, session expiry, the
//! zero-touch and revocation delays, a fault's packet delay) are multiplied by
//! `1 / speed`. What the broker cannot speed up stays real: TLS handshakes, and the
//! CONNECT timeout that bounds them; event timestamps are calendar time.

use super::{Broker, BrokerCapabilities};
use crate::errors::BrokerError;
use crate::pki::TestPki;
use crate::timeline::{Timeline, What};
use mock_broker::aws::admin_api::AdminApi;
use mock_broker::aws::control_plane::{ControlPlane, ControlPlaneConfig};
use mock_broker::aws::registry::{
    AwsError, AwsErrorKind, CaStatus, CertificateMode, CertificateStatus,
};
use mock_broker::{BrokerConfig, Faults, MockBroker};
use rumqttc::mqttbytes::QoS;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The JITP template the harness attaches for `provision = jitp`: the thing is named after
/// the certificate's common name, the policy is keyed on the client id (Microchip's, with
/// the Jobs topics, as [`mock_broker::aws::policy::microchip_jitr_policy`]).
pub const JITP_TEMPLATE: &str = r#"{
  "Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}},
    "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"Status": "ACTIVE"}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"arn:aws:iot:*:*:client/${iot:ClientId}\"},{\"Effect\":\"Allow\",\"Action\":[\"iot:Publish\",\"iot:Receive\"],\"Resource\":[\"arn:aws:iot:*:*:topic/${iot:ClientId}/*\",\"arn:aws:iot:*:*:topic/$aws/things/${iot:ClientId}/shadow/*\",\"arn:aws:iot:*:*:topic/$aws/things/${iot:ClientId}/jobs/*\"]},{\"Effect\":\"Allow\",\"Action\":\"iot:Subscribe\",\"Resource\":[\"arn:aws:iot:*:*:topicfilter/${iot:ClientId}/#\",\"arn:aws:iot:*:*:topicfilter/$aws/things/${iot:ClientId}/shadow/*\",\"arn:aws:iot:*:*:topicfilter/$aws/things/${iot:ClientId}/jobs/*\"]}]}"}}
  }
}"#;

/// What a provisioning mode needs of the signer CA beyond being registered; see
/// [`EmbeddedBroker::prepare_signer`].
///
/// One CA serves every board of a rig, as one CA serves a real account's fleet, so these
/// only ever add: auto-registration once on stays on, and a CA's template stays. With a
/// template on the CA, every unknown certificate it issued is provisioned by the template
/// at its first CONNECT (JITP), a `jitr` board's too: that is AWS IoT's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerNeeds {
    /// Registered, nothing more (pre-registered devices, device clients).
    Registration,
    /// Auto-registration on (JITR).
    AutoRegistration,
    /// Auto-registration on and a template (JITP): [`JITP_TEMPLATE`], unless the CA has a
    /// template already, which is kept.
    Template,
}

/// The in-process mock broker with its control plane.
pub struct EmbeddedBroker {
    broker: MockBroker,
    plane: Arc<ControlPlane>,
    endpoint: String,
    pki: Arc<TestPki>,
    timeline: Arc<Timeline>,
    /// The admin API and the `iot-data` data plane, on a free local port.
    api: AdminApi,
    /// Retained messages, persistent sessions and shadows across a restart.
    _state: tempfile::TempDir,
    _pump: AbortOnDrop,
}

/// The tap pump task, stopped with its broker.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("addr", &self.broker.local_addr())
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Copies every tap event onto the timeline.
fn pump(broker: &MockBroker, timeline: Arc<Timeline>) -> AbortOnDrop {
    let mut tap = broker.tap();
    AbortOnDrop(tokio::spawn(async move {
        while let Some(event) = tap.next().await {
            if let Ok(event) = serde_json::to_value(&*event) {
                timeline.record(What::Broker { event });
            }
        }
    }))
}

/// Serves the admin API and the data plane of `broker` on a free local port.
async fn start_api(
    plane: &Arc<ControlPlane>,
    broker: &MockBroker,
) -> Result<AdminApi, BrokerError> {
    AdminApi::start_with_data(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        plane.clone(),
        broker.handle(),
    )
    .await
    .map_err(start_error)
}

fn start_error(reason: impl std::fmt::Display) -> BrokerError {
    BrokerError::Start {
        kind: "embedded",
        reason: reason.to_string(),
    }
}

/// How an [`EmbeddedBroker`] is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedOptions {
    /// The name boards connect to (server certificate, SNI).
    pub endpoint: String,
    /// Where it listens.
    pub listen: SocketAddr,
    /// The built-in zero-touch activation rule, if wanted.
    pub zero_touch: Option<Duration>,
    /// The AWS region it stands in for (in every ARN and policy match).
    pub region: String,
    /// The 12-digit AWS account id (in every ARN and policy match).
    pub account_id: String,
}

impl EmbeddedOptions {
    /// `endpoint` on `listen`, no zero-touch rule, account `123456789012` in `us-east-1`.
    pub fn new(endpoint: &str, listen: SocketAddr) -> Self {
        EmbeddedOptions {
            endpoint: endpoint.to_owned(),
            listen,
            zero_touch: None,
            region: DEFAULT_REGION.to_owned(),
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
        }
    }
}

/// The region of a rig that names none.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The account id of a rig that names none.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

impl EmbeddedBroker {
    /// Starts the broker as `options` say, with the test PKI, and its HTTP APIs (the admin
    /// API and the `iot-data` data plane) on a free local port; its timers run at the speed
    /// of the timeline's clock.
    pub async fn start(
        options: &EmbeddedOptions,
        pki: Arc<TestPki>,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BrokerError> {
        let (endpoint, listen) = (options.endpoint.as_str(), options.listen);
        let mut plane_config = ControlPlaneConfig::new(endpoint);
        plane_config.operator_cas = vec![pki.operator_ca_der()?];
        plane_config.zero_touch = options.zero_touch;
        plane_config.account.region = options.region.clone();
        plane_config.account.id = options.account_id.clone();
        let plane = ControlPlane::new(plane_config).map_err(start_error)?;
        let server = pki.server.server_identity()?;
        let state = tempfile::Builder::new()
            .prefix("hil-broker-")
            .tempdir()
            .map_err(start_error)?;
        let mut config = BrokerConfig::new(server, mock_broker::ClientAuth::TrustRoots(Vec::new()));
        config.listen = listen;
        config.state_dir = Some(state.path().to_owned());
        config.core.time_scale = 1.0 / timeline.clock().speed();
        plane.install(&mut config);
        let broker = MockBroker::start(config).await.map_err(start_error)?;
        let pump = pump(&broker, timeline.clone());
        let api = start_api(&plane, &broker).await?;
        Ok(EmbeddedBroker {
            broker,
            plane,
            api,
            endpoint: endpoint.to_owned(),
            pki,
            timeline,
            _state: state,
            _pump: pump,
        })
    }

    /// Restarts the broker on the same port: connections drop, registries, retained
    /// messages, persistent sessions and shadows stay.
    pub async fn restart(&mut self) -> Result<(), BrokerError> {
        self.timeline.record(What::Action {
            text: "broker restarting".into(),
        });
        // The tap goes on across the restart, so a board that reconnects at once is on the
        // timeline too (at a high speed it does, before this returns).
        self.broker.restart().await.map_err(start_error)?;
        self.api = start_api(&self.plane, &self.broker).await?;
        Ok(())
    }

    /// Stops copying tap events onto the timeline (the tap itself goes on, for readers of
    /// [`MockBroker::tap`]): a fleet of boards would fill the timeline with telemetry.
    pub fn detach_timeline(&self) {
        self._pump.0.abort();
    }

    /// The base URL of its HTTP APIs: the admin API and the `iot-data` data plane
    /// (`http://127.0.0.1:<port>`; it changes when the broker restarts).
    pub fn api_url(&self) -> String {
        self.api.url()
    }

    /// The control plane (registries).
    pub fn control_plane(&self) -> &Arc<ControlPlane> {
        &self.plane
    }

    /// Fault injection.
    pub fn faults(&self) -> Faults {
        self.broker.faults()
    }

    /// The mock broker itself.
    pub fn mock(&self) -> &MockBroker {
        &self.broker
    }

    /// Makes the signer CA ready for `needs` in one registry change, so provisioning steps
    /// running at once never race: registers it (ACTIVE, with a verification
    /// certificate) if it is not there, then turns on what `needs` asks for (see
    /// [`SignerNeeds`]). It never turns anything off and never changes the CA's status
    /// (a scenario may have deactivated it on purpose); only a `ca` step does that.
    /// Returns the CA's certificate id.
    pub fn prepare_signer(&self, needs: SignerNeeds) -> Result<String, BrokerError> {
        let id = self.pki.signer.id()?;
        let (auto_registration, template) = match needs {
            SignerNeeds::Registration => (false, None),
            SignerNeeds::AutoRegistration => (true, None),
            SignerNeeds::Template => (true, Some(JITP_TEMPLATE.to_owned())),
        };
        // Proof of possession, in case the CA is not registered yet.
        let code = self.plane.read(|reg| reg.account.registration_code.clone());
        let verification = self.pki.verification_cert(&code)?;
        Ok(self.plane.change(|reg, now| {
            let Ok(ca) = reg.ca(&id) else {
                return reg
                    .register_ca(
                        &self.pki.signer.pem,
                        Some(&verification),
                        true,
                        auto_registration,
                        CertificateMode::Default,
                        template,
                        now,
                    )
                    .map(|ca| ca.id.clone());
            };
            let turn_on_auto = auto_registration && !ca.auto_registration;
            let add_template = template.is_some() && ca.template_body.is_none();
            if turn_on_auto || add_template {
                reg.update_ca(
                    &id,
                    None,
                    turn_on_auto.then_some(true),
                    template.filter(|_| add_template).map(Some),
                    now,
                )?;
            }
            Ok(id.clone())
        })?)
    }

    /// Registers the signer CA, ACTIVE and without auto-registration, unless it is
    /// registered already (then it stays as it is). Returns its certificate id.
    pub fn ensure_signer(&self) -> Result<String, BrokerError> {
        self.prepare_signer(SignerNeeds::Registration)
    }

    /// Registers the signer CA anew (RegisterCACertificate with a verification
    /// certificate), ACTIVE or INACTIVE; an error if it is registered already.
    pub fn register_signer_as(
        &self,
        active: bool,
        auto_registration: bool,
        template: Option<&str>,
    ) -> Result<String, BrokerError> {
        let code = self.plane.read(|reg| reg.account.registration_code.clone());
        let verification = self.pki.verification_cert(&code)?;
        let template = template.map(str::to_owned);
        Ok(self.plane.change(|reg, now| {
            reg.register_ca(
                &self.pki.signer.pem,
                Some(&verification),
                active,
                auto_registration,
                CertificateMode::Default,
                template.clone(),
                now,
            )
            .map(|ca| ca.id.clone())
        })?)
    }

    /// Changes the registered signer CA (UpdateCACertificate): its status, its
    /// auto-registration, or both.
    pub fn update_signer(
        &self,
        status: Option<CaStatus>,
        auto_registration: Option<bool>,
    ) -> Result<(), BrokerError> {
        let id = self.pki.signer.id()?;
        Ok(self
            .plane
            .change(|reg, now| reg.update_ca(&id, status, auto_registration, None, now))?)
    }

    /// Registers a device certificate ACTIVE, with its thing and Microchip's policy
    /// attached, as if provisioned ahead of time.
    pub fn preregister(&self, certificate_pem: &str, thing: &str) -> Result<String, BrokerError> {
        Ok(self.plane.change(|reg, now| {
            let id = reg
                .register_certificate(certificate_pem, None, CertificateStatus::Active, now)?
                .id
                .clone();
            let arn = reg.arn("cert", &id);
            reg.create_thing(thing, Default::default())?;
            reg.attach_thing_principal(thing, &arn)?;
            let name = format!("Preregistered_{thing}");
            if reg.policy(&name).is_err() {
                let document = mock_broker::aws::policy::microchip_jitr_policy(
                    &reg.account.region,
                    &reg.account.id,
                    thing,
                );
                reg.create_policy(&name, &document, now)?;
            }
            reg.attach_policy(&name, &arn)?;
            Ok(id)
        })?)
    }

    /// Attaches policy `name` to the certificate `certificate_id` (AttachPolicy), creating
    /// it from `document` (JSON) first when the account has none of that name
    /// (CreatePolicy). Errors: a malformed document or name, an existing policy with
    /// another document (ResourceAlreadyExists), an unregistered certificate
    /// (ResourceNotFound).
    pub fn attach_policy(
        &self,
        name: &str,
        document: &str,
        certificate_id: &str,
    ) -> Result<(), BrokerError> {
        Ok(self.plane.change(|reg, now| {
            let arn = reg.arn("cert", certificate_id);
            // The same document again is the same policy; another one is refused as
            // CreatePolicy refuses a name in use (ResourceAlreadyExists).
            match reg.policy(name) {
                Ok(existing) if existing.document == document => {}
                Ok(existing) => {
                    let message = format!(
                        "policy {name} already exists with another document: {}",
                        existing.document
                    );
                    let kind = AwsErrorKind::ResourceAlreadyExists {
                        resource_id: name.to_owned(),
                        resource_arn: reg.arn("policy", name),
                    };
                    return Err(AwsError::new(kind, message));
                }
                Err(_) => {
                    reg.create_policy(name, document, now)?;
                }
            }
            reg.attach_policy(name, &arn)
        })?)
    }

    /// Activates a JITR certificate as Microchip's zero-touch rule does.
    pub fn activate(&self, certificate_id: &str) -> Result<(), BrokerError> {
        Ok(self.plane.activate_zero_touch(certificate_id)?)
    }

    /// Changes a certificate's status (revoke, deactivate, activate).
    pub fn set_certificate_status(
        &self,
        certificate_id: &str,
        status: CertificateStatus,
    ) -> Result<(), BrokerError> {
        Ok(self
            .plane
            .change(|reg, now| reg.update_certificate(certificate_id, status, now))?)
    }
}

#[async_trait::async_trait]
impl Broker for EmbeddedBroker {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn capabilities(&self) -> BrokerCapabilities {
        BrokerCapabilities::FULL
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn port(&self) -> u16 {
        self.broker.local_addr().port()
    }

    fn address(&self) -> IpAddr {
        match self.broker.local_addr().ip() {
            ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            ip => ip,
        }
    }

    async fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), BrokerError> {
        self.broker.publish(topic, payload.to_vec(), qos, retain);
        Ok(())
    }

    fn embedded(&self) -> Option<&EmbeddedBroker> {
        Some(self)
    }

    fn embedded_mut(&mut self) -> Option<&mut EmbeddedBroker> {
        Some(self)
    }

    async fn shutdown(self: Box<Self>) {
        let EmbeddedBroker { broker, .. } = *self;
        broker.shutdown().await;
    }
}
