//! The seams where AWS IoT Core's control plane plugs into the data plane.
//!
//! [`Hooks::identify`] runs once per connection, after the TLS handshake, on the client's
//! certificate chain: it says who the client is, or refuses it (the place for registry
//! look-ups and Just-In-Time Registration). [`Hooks::authorize`] runs on CONNECT, on every
//! PUBLISH and SUBSCRIBE, and on every delivery (Receive), so a policy change takes effect
//! on live subscriptions. [`AllowAll`] is the default: any client whose certificate chains
//! to the configured trust roots may do anything.
//!
//! Hooks are called from inside the broker's core with its lock held: they must be quick
//! and must not block or call back into the broker.

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Who a connected client is, as established from its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientIdentity {
    /// AWS's certificate id: lowercase hex SHA-256 of the leaf certificate's DER.
    pub certificate_id: String,
}

impl ClientIdentity {
    /// The identity of a leaf certificate, with its AWS certificate id.
    pub fn from_leaf(leaf: &CertificateDer<'_>) -> Self {
        ClientIdentity {
            certificate_id: certificate_id(leaf),
        }
    }
}

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
    fn identify(&self, chain: &[CertificateDer<'_>]) -> Result<ClientIdentity, String> {
        chain
            .first()
            .map(ClientIdentity::from_leaf)
            .ok_or_else(|| "no client certificate".to_owned())
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
