//! AWS IoT Core's control plane on the connection path: who may connect, Just-In-Time
//! Registration and Provisioning, and policy decisions.
//!
//! [`ControlPlane`] owns the [`Registry`] (behind a lock, saved to the state dir after every
//! change) and plugs into the broker three ways:
//! - as the TLS client verifier ([`ControlPlane::verifier`]): a certificate is let through
//!   the handshake when it is registered, issued by a registered CA, or issued by an
//!   operator CA; anything else is an unknown issuer, as with AWS;
//! - as the identity hook, at the handshake: the certificate id, and whether an operator CA
//!   issued it (operators are superusers);
//! - as the admission hook, at CONNECT (where AWS decides, measured): ACTIVE certificates
//!   under an ACTIVE CA go on; INACTIVE, REVOKED and PENDING_ACTIVATION ones are closed
//!   without CONNACK (PENDING_ACTIVATION publishes the registration event again); an
//!   unknown certificate from an ACTIVE CA with auto-registration is registered
//!   PENDING_ACTIVATION, the event is published on
//!   `$aws/events/certificates/registered/<caCertificateId>`, and the connection is closed
//!   without CONNACK (JITR); with a template on the CA it is provisioned at once (JITP);
//!   with [`ControlPlaneConfig::zero_touch`] the Microchip zero-touch rule activates it
//!   after a delay. A handshake without CONNECT registers nothing;
//! - as the authorization hook: the policies attached to the certificate decide Connect,
//!   Publish, Subscribe and every Receive;
//! - as the revocation source: a certificate set INACTIVE or REVOKED, or one whose CA is
//!   set INACTIVE, is named on [`Hooks::revocations`], and the broker closes its live
//!   connections (see [`crate::BrokerConfig::revocation_delay`]).
//!
//! Decisions are remembered per request until the registries change (`decisions`).
//! The decisions themselves live in [`Registry`], [`crate::aws::policy`] and [`crate::aws::jitp`];
//! this module reads the clock and wires them to the hooks. Just-In-Time Registration and
//! Provisioning and the zero-touch rule are in `jitr`, the TLS verifier in `verifier`.

use crate::BrokerConfig;
use crate::aws::certs::CertInfo;
use crate::aws::jitp::{self, PolicySpec};
use crate::aws::jobs::JobService;
use crate::aws::policy::{self, Variables};
use crate::aws::registry::{Account, AwsError, CaStatus, CertificateStatus, Registry};
use crate::aws::shadow::ShadowService;
use crate::mqtt::hooks::{
    Admission, AuthAction, BrokerMessage, ClientIdentity, Decision, Deferred, Hooks, Identification,
};
use crate::mqtt::tls::ClientAuth;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Settings of the control plane.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// Account id, region, registration code and endpoint.
    pub account: Account,
    /// The Microchip zero-touch activation rule, with its delay; `None`: activation is up
    /// to whoever handles the registration event.
    pub zero_touch: Option<Duration>,
    /// CAs whose certificates are superusers (the harness's own cloud-side client).
    pub operator_cas: Vec<CertificateDer<'static>>,
    /// Where the registries are kept (`registry.json`); `None`: in memory only.
    pub state_dir: Option<PathBuf>,
}

impl ControlPlaneConfig {
    /// An account `123456789012` in `us-east-1` with a fresh registration code.
    pub fn new(endpoint: &str) -> Self {
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        ControlPlaneConfig {
            account: Account {
                id: "123456789012".into(),
                region: "us-east-1".into(),
                registration_code: crate::mqtt::hooks::certificate_id(seed.as_bytes()),
                endpoint: endpoint.to_owned(),
            },
            zero_touch: None,
            operator_cas: Vec::new(),
            state_dir: None,
        }
    }
}

/// Revocations a broker may fall behind on before it re-checks every connection.
const REVOCATION_BACKLOG: usize = 1024;

/// The control plane; see the module documentation.
#[derive(Debug)]
pub struct ControlPlane {
    registry: GuardedRegistry,
    /// Authorization decisions, for as long as the registries do not change.
    decisions: DecisionCache,
    zero_touch: Option<Duration>,
    operators: Vec<CertInfo>,
    shadows: Arc<ShadowService>,
    jobs: Arc<JobService>,
    state_dir: Option<PathBuf>,
    /// Certificate ids that stopped being ACTIVE (or whose CA did), for the broker.
    revocations: broadcast::Sender<String>,
}

/// The control plane could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlPlaneError {
    /// The saved registries could not be read.
    #[error("cannot read the registries in {path}")]
    Load {
        /// The state dir.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An operator CA does not parse.
    #[error("operator CA: {0}")]
    OperatorCa(#[from] crate::aws::certs::CertError),
    /// The state dir holds the registries of another account or region: their ARNs
    /// (policy targets, thing principals) name that one and would silently stop matching.
    /// Start with the saved account and region, or use another state dir.
    #[error(
        "{path} holds the registries of account {saved_id} in {saved_region}, not {id} in {region}"
    )]
    AccountMismatch {
        /// The state dir.
        path: PathBuf,
        /// The saved account id.
        saved_id: String,
        /// The saved region.
        saved_region: String,
        /// The account id asked for.
        id: String,
        /// The region asked for.
        region: String,
    },
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl ControlPlane {
    /// Loads the registries from the state dir (or starts empty).
    pub fn new(config: ControlPlaneConfig) -> Result<Arc<Self>, ControlPlaneError> {
        let registry = match &config.state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| ControlPlaneError::Load {
                    path: dir.clone(),
                    source,
                })?;
                Registry::load(dir).map_err(|source| ControlPlaneError::Load {
                    path: dir.clone(),
                    source,
                })?
            }
            None => None,
        }
        .unwrap_or_else(|| Registry::new(config.account.clone()));
        if registry.account.id != config.account.id
            || registry.account.region != config.account.region
        {
            return Err(ControlPlaneError::AccountMismatch {
                path: config.state_dir.clone().unwrap_or_default(),
                saved_id: registry.account.id.clone(),
                saved_region: registry.account.region.clone(),
                id: config.account.id.clone(),
                region: config.account.region.clone(),
            });
        }
        let operators = config
            .operator_cas
            .iter()
            .map(|der| CertInfo::from_der(der.clone()))
            .collect::<Result<_, _>>()?;
        let shadows = ShadowService::new(config.state_dir.as_deref()).map_err(|source| {
            ControlPlaneError::Load {
                path: config.state_dir.clone().unwrap_or_default(),
                source,
            }
        })?;
        let jobs = JobService::new(config.state_dir.as_deref()).map_err(|source| {
            ControlPlaneError::Load {
                path: config.state_dir.clone().unwrap_or_default(),
                source,
            }
        })?;
        let plane = ControlPlane {
            registry: GuardedRegistry::new(registry),
            decisions: DecisionCache::default(),
            zero_touch: config.zero_touch,
            operators,
            shadows: Arc::new(shadows),
            jobs: Arc::new(jobs),
            revocations: broadcast::channel(REVOCATION_BACKLOG).0,
            state_dir: config.state_dir,
        };
        // Saved at once, so the account and its registration code survive a restart.
        plane.save(&plane.lock());
        Ok(Arc::new(plane))
    }

    /// Puts AWS IoT Core in charge of `config`'s broker: the registries verify client
    /// certificates and authorize every operation, and the Device Shadow and Jobs services
    /// answer their requests (replacing [`BrokerConfig::hooks`] and
    /// [`BrokerConfig::client_auth`]).
    pub fn install(self: &Arc<Self>, config: &mut BrokerConfig) {
        config.client_auth = ClientAuth::Verifier(self.verifier());
        config.hooks = Arc::new(self.clone());
        config.services.push(self.shadows.clone());
        config.services.push(self.jobs.clone());
    }

    /// The Device Shadow service (its shadows are kept in the same state dir).
    pub fn shadows(&self) -> &Arc<ShadowService> {
        &self.shadows
    }

    /// The Jobs service (its jobs are kept in the same state dir).
    pub fn jobs(&self) -> &Arc<JobService> {
        &self.jobs
    }

    fn lock(&self) -> RegistryGuard<'_> {
        self.registry.lock()
    }

    /// Reads the registries.
    pub fn read<R>(&self, f: impl FnOnce(&Registry) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the registries (with the current time in Unix ms); saved when it succeeds.
    pub fn change<R>(
        &self,
        f: impl FnOnce(&mut Registry, u64) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        let mut registry = self.lock();
        let result = f(&mut registry, now_ms());
        // A failed operation changed nothing: what it queued is dropped with it.
        let revoked = registry.take_revoked();
        let result = result?;
        self.save(&registry);
        for certificate_id in revoked {
            // No broker listening is fine.
            let _ = self.revocations.send(certificate_id);
        }
        Ok(result)
    }

    fn save(&self, registry: &Registry) {
        if let Some(dir) = &self.state_dir
            && let Err(error) = registry.save(dir)
        {
            tracing::error!(%error, dir = %dir.display(), "cannot save the registries");
        }
    }

    /// The TLS client verifier backed by the registries.
    pub fn verifier(self: &Arc<Self>) -> Arc<dyn ClientCertVerifier> {
        Arc::new(RegistryVerifier {
            plane: self.clone(),
            provider: crate::mqtt::tls::crypto_provider(),
        })
    }

    fn is_operator(&self, leaf: &CertInfo) -> bool {
        self.operators.iter().any(|op| leaf.is_signed_by(op))
    }
}

impl Hooks for Arc<ControlPlane> {
    fn identify(&self, chain: &[CertificateDer<'_>]) -> Identification {
        let Some(leaf) = chain.first() else {
            return Identification::refuse("no client certificate");
        };
        let info = match CertInfo::from_der(leaf.clone().into_owned()) {
            Ok(info) => info,
            Err(e) => return Identification::refuse(e.to_string()),
        };
        let mut identity = ClientIdentity::from_leaf(leaf);
        identity.superuser = self.is_operator(&info);
        Identification::admit(identity)
    }

    fn admit(&self, identity: &ClientIdentity, _client_id: &str) -> Admission {
        if identity.superuser {
            return Admission::admit(());
        }
        let now = now_ms();
        let mut reg = self.lock();
        if let Ok(record) = reg.certificate(&identity.certificate_id) {
            return match (record.status, record.ca_id.clone()) {
                (CertificateStatus::PendingActivation, Some(ca_id)) => self.pending(
                    &reg,
                    &identity.certificate_id,
                    &ca_id,
                    "certificate is PENDING_ACTIVATION",
                ),
                _ => match standing(&reg, &identity.certificate_id) {
                    Ok(()) => Admission::admit(()),
                    Err(reason) => Admission::refuse(reason),
                },
            };
        }
        let leaf = match CertInfo::from_der(CertificateDer::from(identity.certificate.to_vec())) {
            Ok(leaf) => leaf,
            Err(e) => return Admission::refuse(e.to_string()),
        };
        let Some(ca) = reg.issuing_ca(&leaf).cloned() else {
            return Admission::refuse(
                "certificate is not registered and no registered CA issued it",
            );
        };
        if ca.status != CaStatus::Active {
            return Admission::refuse(format!("the issuing CA {} is INACTIVE", ca.id));
        }
        if !ca.auto_registration {
            return Admission::refuse(
                "certificate is not registered and the CA has auto-registration off",
            );
        }
        match &ca.template_body {
            Some(template) => self.jitp(&mut reg, &leaf, &ca.id, template, now),
            None => self.jitr(&mut reg, &leaf, &ca.id, now),
        }
    }

    fn standing(&self, identity: &ClientIdentity) -> Result<(), String> {
        if identity.superuser {
            return Ok(());
        }
        standing(&self.lock(), &identity.certificate_id)
    }

    fn revocations(&self) -> Option<broadcast::Receiver<String>> {
        Some(self.revocations.subscribe())
    }

    fn authorize(
        &self,
        identity: &ClientIdentity,
        client_id: &str,
        action: AuthAction<'_>,
    ) -> Decision {
        if identity.superuser {
            return Decision::Allow;
        }
        let (name, target) = match action {
            AuthAction::Connect(id) => ("iot:Connect", id),
            AuthAction::Publish(topic) => ("iot:Publish", topic),
            AuthAction::RetainPublish(topic) => ("iot:RetainPublish", topic),
            AuthAction::Subscribe(filter) => ("iot:Subscribe", filter),
            AuthAction::Receive(topic) => ("iot:Receive", topic),
        };
        let request = decisions::Request {
            certificate_id: &identity.certificate_id,
            client_id,
            action: name,
            resource: target,
        };
        if let Some(decision) = self.decisions.get(self.registry.generation(), request) {
            return decision;
        }
        let reg = self.lock();
        let decision = decide(&reg, identity, client_id, action);
        self.decisions.put(reg.generation(), request, &decision);
        decision
    }
}

/// Decides `action` for `identity` connected as `client_id` from the registries: the
/// certificate's standing, then its policies.
fn decide(
    reg: &Registry,
    identity: &ClientIdentity,
    client_id: &str,
    action: AuthAction<'_>,
) -> Decision {
    if let Err(reason) = standing(reg, &identity.certificate_id) {
        return Decision::Deny(reason);
    }
    let (name, resource) = match action {
        AuthAction::Connect(id) => ("iot:Connect", reg.arn("client", id)),
        AuthAction::Publish(topic) => ("iot:Publish", reg.arn("topic", topic)),
        AuthAction::RetainPublish(topic) => ("iot:RetainPublish", reg.arn("topic", topic)),
        AuthAction::Subscribe(filter) => ("iot:Subscribe", reg.arn("topicfilter", filter)),
        AuthAction::Receive(topic) => ("iot:Receive", reg.arn("topic", topic)),
    };
    let attached = reg.is_attached(client_id, &identity.certificate_id);
    let variables = Variables {
        client_id,
        thing_name: attached.then_some(client_id),
    };
    let verdict = policy::evaluate(
        reg.policies_of_certificate(&identity.certificate_id),
        name,
        &resource,
        variables,
    );
    if verdict.allowed() {
        Decision::Allow
    } else {
        Decision::Deny(format!("{name} on {resource}: {}", verdict.describe()))
    }
}

/// Whether a registered certificate may hold a connection: ACTIVE, under an ACTIVE CA that
/// is still registered.
fn standing(reg: &Registry, certificate_id: &str) -> Result<(), String> {
    let record = reg
        .certificate(certificate_id)
        .map_err(|_| "certificate is no longer registered".to_owned())?;
    if record.status != CertificateStatus::Active {
        return Err(format!("certificate is {}", record.status.as_str()));
    }
    match record.ca_id.as_deref().map(|ca_id| (ca_id, reg.ca(ca_id))) {
        Some((ca_id, Ok(ca))) if ca.status != CaStatus::Active => {
            Err(format!("the issuing CA {ca_id} is INACTIVE"))
        }
        Some((ca_id, Err(_))) => Err(format!("the issuing CA {ca_id} is no longer registered")),
        _ => Ok(()),
    }
}

mod decisions;
mod jitr;
mod verifier;

use decisions::{DecisionCache, GuardedRegistry, RegistryGuard};

use verifier::RegistryVerifier;
