//! Fault injection: the handle that arms the AWS IoT Device Advisor faults.
//!
//! [`Faults`] is cheap to clone and can be used from any task. Faults on packets (withhold a
//! CONNACK, PUBACK, SUBACK or PINGRESP; delay outgoing packets) are recorded in the core's
//! [`crate::mqtt::fault_plan::FaultPlan`] and take effect on the next packet; dropping a client
//! acts at once; another server certificate applies to connections accepted afterwards.
//! Every withheld packet and every forced close is on the tap.

use crate::mqtt::errors::TlsConfigError;
use crate::mqtt::fault_plan::{Target, Withhold};
use crate::mqtt::server::Shared;
use crate::mqtt::tls::ServerIdentity;
use std::sync::Arc;
use std::time::Duration;

/// Arms and disarms faults on a running broker.
#[derive(Clone)]
pub struct Faults {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Faults {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Faults { shared }
    }

    /// Withholds CONNACK for the next `count` connects of `target`; the connection stays
    /// open and silent, as when AWS IoT Core does not answer.
    pub fn withhold_connack(&self, target: Target, count: u32) {
        self.shared
            .faults(|plan| plan.withhold_connack(target, count));
    }

    /// Makes the next `count` connections of `target` unstable: each is dropped (a
    /// server-initiated disconnect) at a random moment within
    /// [`crate::mqtt::fault_plan::UNSTABLE_WINDOW`] of its CONNACK, scaled by the time scale.
    pub fn unstable(&self, target: Target, count: u32) {
        self.shared.faults(|plan| plan.unstable(target, count));
    }

    /// Withholds `packet` for `target` until [`Faults::release`] or [`Faults::clear`].
    pub fn withhold(&self, target: Target, packet: Withhold) {
        self.shared.faults(|plan| plan.withhold(target, packet));
    }

    /// Stops withholding `packet` for `target`.
    pub fn release(&self, target: &Target, packet: Withhold) {
        self.shared.faults(|plan| plan.release(target, packet));
    }

    /// Delays every packet the broker sends to `target` by `delay` (multiplied by the time
    /// scale, like the protocol timers); zero removes it.
    pub fn delay_outgoing(&self, target: Target, delay: Duration) {
        self.shared
            .faults(|plan| plan.delay_outgoing(target, delay));
    }

    /// Drops the connection of `client_id` now, as a server-initiated disconnect (its Last
    /// Will is published). Returns false when that client is not connected.
    pub fn disconnect(&self, client_id: &str) -> bool {
        self.shared
            .with_core(|core, now| match core.disconnect_client(client_id, now) {
                Some(actions) => (true, actions),
                None => (false, Vec::new()),
            })
    }

    /// Expires the persistent session of `client_id`, which must be offline, as an hour
    /// offline would (see [`crate::mqtt::core::Core::expire_session`]). Returns false when
    /// it has no stored session or is connected.
    pub fn expire_session(&self, client_id: &str) -> bool {
        self.shared
            .with_core(|core, _| (core.expire_session(client_id), Vec::new()))
    }

    /// Presents `identity` to connections accepted from now on (an expired certificate, one
    /// for the wrong name, or one from an untrusted issuer).
    pub fn present_server_identity(&self, identity: &ServerIdentity) -> Result<(), TlsConfigError> {
        self.shared
            .change_tls(|tls| tls.identity = Some(identity.clone()))
    }

    /// Goes back to the configured server certificate for new connections.
    pub fn restore_server_identity(&self) {
        // Only a new cipher suite list can fail to build, and that one was built before.
        let _ = self.shared.change_tls(|tls| tls.identity = None);
    }

    /// Negotiates only `suites` (IANA codes, e.g. `[0x1301]`) with connections accepted from
    /// now on, as a broker whose security policy lists only those would (AWS IoT Device
    /// Advisor's cipher suite case offers the recommended suites, then each alone). Suites
    /// the broker cannot negotiate are left out: those outside AWS IoT Core's default policy
    /// as rustls implements it (no CBC or static-RSA suites). A TLS 1.2 suite for another
    /// key type than the server certificate's is kept but no handshake can use it
    /// ([`crate::mqtt::tls_policy::negotiable_with_ecdsa`] lists those that can with the
    /// test PKI's P-256 certificate). Errors with [`TlsConfigError::NoCipherSuite`] when
    /// none is left of the list; the offer is unchanged then.
    pub fn offer_cipher_suites(&self, suites: &[u16]) -> Result<(), TlsConfigError> {
        self.shared
            .change_tls(|tls| tls.suites = Some(suites.to_vec()))
    }

    /// Negotiates every suite of AWS IoT Core's default policy again.
    pub fn restore_cipher_suites(&self) {
        // The default configuration was built at start, or with this certificate before.
        let _ = self.shared.change_tls(|tls| tls.suites = None);
    }

    /// Disarms every fault, the server certificate and the cipher suites included.
    pub fn clear(&self) {
        self.shared.faults(|plan| plan.clear());
        let _ = self.shared.change_tls(|tls| *tls = Default::default());
    }
}
