//! The seams where AWS IoT Core's services plug into the MQTT broker.
//!
//! A connection meets the hooks in this order:
//! - [`Hooks::identify`], once, after the TLS handshake, on the client's certificate chain:
//!   who the client is, or a refusal (no certificate, one that does not parse).
//! - [`Hooks::admit`], when the CONNECT packet arrives: whether this certificate may hold a
//!   connection at all. The place for registry look-ups and Just-In-Time Registration,
//!   which AWS IoT Core runs at CONNECT, not at the handshake (measured: a handshake closed
//!   without CONNECT registers nothing).
//! - [`Hooks::authorize`], on CONNECT (`iot:Connect`), every PUBLISH and SUBSCRIBE, and
//!   every delivery (`iot:Receive`), so a policy change takes effect on live subscriptions.
//! - [`Hooks::standing`], whenever [`Hooks::revocations`] names the connection's
//!   certificate: a certificate (or its CA) that stopped being ACTIVE closes its live
//!   connections, as AWS does.
//!
//! [`AllowAll`] is the default: any client whose certificate chains to the configured trust
//! roots may do anything. [`Service`]s answer messages like subscribers (AWS's Device
//! Shadow).
//!
//! `admit`, `authorize`, `standing` and the services are called from inside the broker's
//! core with its lock held, and `identify` from the connection's task: all must be quick
//! and must not call back into the broker. What a hook wants published or done later it
//! returns in its [`Outcome`].

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Who a connected client is, as established from its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientIdentity {
    /// AWS's certificate id: lowercase hex SHA-256 of the leaf certificate's DER.
    pub certificate_id: String,
    /// The harness's own cloud-side client: allowed everything.
    pub superuser: bool,
    /// The leaf certificate's DER, for [`Hooks::admit`] to register an unknown certificate
    /// at CONNECT; empty when the hooks have no use for it. Never serialized.
    #[serde(skip)]
    pub certificate: Arc<[u8]>,
}

impl ClientIdentity {
    /// The identity of a leaf certificate, with its AWS certificate id and its DER.
    pub fn from_leaf(leaf: &CertificateDer<'_>) -> Self {
        ClientIdentity {
            certificate_id: certificate_id(leaf),
            superuser: false,
            certificate: Arc::from(leaf.as_ref()),
        }
    }

    /// An identity known only by its certificate id (tests, and hooks that need no DER).
    pub fn with_id(certificate_id: impl Into<String>) -> Self {
        ClientIdentity {
            certificate_id: certificate_id.into(),
            superuser: false,
            certificate: Arc::from(Vec::new()),
        }
    }
}

/// A message the broker publishes on a hook's behalf (an AWS event, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMessage {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Work a hook wants done later, off the connection's path (AWS's rules and Lambdas).
pub struct Deferred {
    /// How long to wait (before the broker's time scale).
    pub after: std::time::Duration,
    /// What to do then; the messages it returns are published.
    pub run: Box<dyn FnOnce() -> Vec<BrokerMessage> + Send>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

/// A hook's answer: go on with `T`, or refuse with a reason; plus what the broker should
/// publish now and do later on the hook's behalf.
#[derive(Debug)]
pub struct Outcome<T> {
    /// Go on with this, or why the connection is refused (the reason goes on the tap).
    pub outcome: Result<T, String>,
    /// Messages to publish now, before the connection is dropped if it is (QoS 1, not
    /// retained).
    pub publish: Vec<BrokerMessage>,
    /// Work to run later.
    pub deferred: Vec<Deferred>,
}

impl<T> Outcome<T> {
    /// Go on with `value`, nothing else to do.
    pub fn admit(value: T) -> Self {
        Outcome {
            outcome: Ok(value),
            publish: Vec::new(),
            deferred: Vec::new(),
        }
    }

    /// Refuse with this reason, nothing else to do.
    pub fn refuse(reason: impl Into<String>) -> Self {
        Outcome {
            outcome: Err(reason.into()),
            publish: Vec::new(),
            deferred: Vec::new(),
        }
    }
}

/// The answer of [`Hooks::identify`]: the client's identity.
pub type Identification = Outcome<ClientIdentity>;

/// The answer of [`Hooks::admit`]: whether the CONNECT may go on.
pub type Admission = Outcome<()>;

/// AWS IoT's certificate id: the lowercase hex SHA-256 of the DER encoding.
pub fn certificate_id(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// An MQTT operation that needs authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "resource")]
pub enum AuthAction<'a> {
    /// `iot:Connect` with this client id.
    Connect(&'a str),
    /// `iot:Publish` to this topic.
    Publish(&'a str),
    /// `iot:RetainPublish` to this topic (checked in addition to Publish).
    RetainPublish(&'a str),
    /// `iot:Subscribe` to this topic filter.
    Subscribe(&'a str),
    /// `iot:Receive` of a message on this topic.
    Receive(&'a str),
}

/// The answer of [`Hooks::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused; the reason goes on the tap (for policies: the deciding statement).
    Deny(String),
}

/// Identity and authorization hooks; see the module documentation.
pub trait Hooks: Send + Sync + 'static {
    /// Establishes the identity of a client from its certificate chain (leaf first), or
    /// refuses the connection with a reason that goes on the tap.
    fn identify(&self, chain: &[CertificateDer<'_>]) -> Identification {
        match chain.first() {
            Some(leaf) => Identification::admit(ClientIdentity::from_leaf(leaf)),
            None => Identification::refuse("no client certificate"),
        }
    }

    /// A CONNECT arrived from `identity` as `client_id`: may this certificate hold a
    /// connection? A refusal closes the connection without a CONNACK, as AWS IoT Core does
    /// for a certificate it just registered (JITR) or one that is not ACTIVE. Called before
    /// `iot:Connect` is authorized.
    fn admit(&self, identity: &ClientIdentity, client_id: &str) -> Admission {
        let _ = (identity, client_id);
        Admission::admit(())
    }

    /// May a live connection of `identity` stay open? `Err(reason)` closes it. Asked for
    /// the connections of every certificate that [`Hooks::revocations`] names.
    fn standing(&self, identity: &ClientIdentity) -> Result<(), String> {
        let _ = identity;
        Ok(())
    }

    /// Certificate ids whose standing may have changed (a certificate, or its CA, set
    /// INACTIVE or REVOKED): the broker asks [`Hooks::standing`] for each of their live
    /// connections. A receiver that lags re-checks every connection. `None`: nothing ever
    /// changes.
    fn revocations(&self) -> Option<broadcast::Receiver<String>> {
        None
    }

    /// Decides whether `identity`, connected as `client_id`, may perform `action`.
    fn authorize(
        &self,
        identity: &ClientIdentity,
        client_id: &str,
        action: AuthAction<'_>,
    ) -> Decision {
        let _ = (identity, client_id, action);
        Decision::Allow
    }
}

/// The default hooks: identity from the leaf certificate, everything allowed.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Hooks for AllowAll {}

/// A service inside the broker that sees messages like a subscriber no policy restricts,
/// and may answer them (AWS's Device Shadow service answers `$aws/things/.../shadow/update`
/// on `.../accepted`, `.../delta` and `.../documents`).
///
/// Called from inside the broker's core with its lock held, for every routed message (from
/// clients, from the broker, and the services' own replies): `wants` must be cheap, and
/// neither method may call back into the broker.
pub trait Service: Send + Sync + 'static {
    /// Whether the service wants the message on `topic`.
    fn wants(&self, topic: &str) -> bool;

    /// A message on `topic` at `now_ms` (Unix milliseconds); returns the messages to
    /// publish in answer, in order (QoS 1, not retained).
    fn on_message(&self, topic: &str, payload: &[u8], now_ms: u64) -> Vec<BrokerMessage>;

    /// The broker stops (or restarts): save what must outlive it.
    fn stop(&self) {}
}
