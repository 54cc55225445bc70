//! The broker a fleet connects to ([`FleetBroker`]): the rig's embedded broker, which the
//! run starts, prepares and watches through its tap, or an external endpoint (a rig
//! `[broker] kind = "external"`, e.g. `hil broker` on another machine) that is already set
//! up for the boards with the rig's test PKI (the boards trust only its server CA, and the
//! endpoint must register what its signer issued) and that the run only connects them to.
//!
//! With an external endpoint nothing is seen of the broker's side: no refusal reasons, no
//! registrations, activations or telemetry counts, no storm (the harness cannot drop the
//! boards); the figures are the boards' own. That is what `--partition M/N` is for:
//! several machines each bring up a slice of one fleet against one endpoint.

use super::events::{BrokerObservation, observe};
use crate::broker::Broker;
use crate::broker::embedded::{EmbeddedBroker, SignerNeeds};
use crate::errors::FleetError;
use crate::pki::TestPki;
use crate::provision::ProvisionMode;
use crate::rig::{BrokerSpec, Rig};
use crate::runner::{open_pki, start_embedded_broker};
use crate::timeline::Timeline;
use mock_broker::Tap;
use mock_broker::aws::registry::CertificateStatus;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;

/// The fleet's broker; see the module documentation.
pub enum FleetBroker {
    /// The rig's embedded broker, started for the run.
    Embedded {
        /// The broker.
        broker: Box<EmbeddedBroker>,
        /// Its tap, read by the run.
        tap: Tap,
        /// The rig has no zero-touch rule: the run activates JITR certificates itself.
        activate_on_registration: bool,
    },
    /// An endpoint somewhere else, ready for the fleet.
    External {
        /// The name the boards connect to (TLS server name).
        host: String,
        /// What it resolves to.
        address: IpAddr,
        /// Port.
        port: u16,
    },
}

impl FleetBroker {
    /// Starts the rig's embedded broker (its timeline detached: a fleet's telemetry would
    /// fill it), or resolves the rig's external endpoint; opens the rig's test PKI, which
    /// signs the boards' certificates either way. Errors for another kind of broker, or
    /// a host that does not resolve.
    pub async fn start(
        rig: &Rig,
        timeline: Arc<Timeline>,
    ) -> Result<(Arc<TestPki>, Self), FleetError> {
        let start_error = |reason: String| FleetError::Start { reason };
        match &rig.broker {
            BrokerSpec::Embedded { zero_touch, .. } => {
                let (pki, broker) = start_embedded_broker(rig, None, timeline)
                    .await
                    .map_err(start_error)?;
                broker.detach_timeline();
                let tap = broker.mock().tap();
                let broker = FleetBroker::Embedded {
                    broker: Box::new(broker),
                    tap,
                    activate_on_registration: zero_touch.is_none(),
                };
                Ok((pki, broker))
            }
            BrokerSpec::External { host, port } => {
                check_external_pki(&rig.pki_dir, host)?;
                let address = (host.as_str(), *port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut found| found.next())
                    .ok_or_else(|| {
                        start_error(format!(
                            "the external broker's host {host} does not resolve"
                        ))
                    })?
                    .ip();
                // The PKI the endpoint was set up with (copied to this machine): its server
                // certificate's names are kept, so opening it changes nothing.
                let kept = std::fs::read_to_string(rig.pki_dir.join("server-names.txt")).ok();
                let names: Vec<&str> = match &kept {
                    Some(names) => names.lines().collect(),
                    None => vec![host.as_str(), "localhost", "127.0.0.1"],
                };
                let pki = open_pki(&rig.pki_dir, &names, false).map_err(start_error)?;
                let broker = FleetBroker::External {
                    host: host.clone(),
                    address,
                    port: *port,
                };
                Ok((Arc::new(pki), broker))
            }
            other => Err(start_error(format!(
                "the rig's broker is `{}`; a fleet needs the embedded broker, or an external \
                 endpoint set up for it",
                other.kind()
            ))),
        }
    }

    /// Is the broker's side seen (its tap, its registry)?
    pub fn observed(&self) -> bool {
        matches!(self, FleetBroker::Embedded { .. })
    }

    /// The name the boards connect to and the address it resolves to.
    pub fn host(&self) -> (String, IpAddr) {
        match self {
            FleetBroker::Embedded { broker, .. } => {
                (broker.endpoint().to_owned(), broker.address())
            }
            FleetBroker::External { host, address, .. } => (host.clone(), *address),
        }
    }

    /// The endpoint as a board is provisioned with it, `host:port`.
    pub fn endpoint(&self) -> String {
        match self {
            FleetBroker::Embedded { broker, .. } => {
                format!("{}:{}", broker.endpoint(), broker.port())
            }
            FleetBroker::External { host, port, .. } => format!("{host}:{port}"),
        }
    }

    /// The embedded broker, if it is one.
    pub fn embedded(&self) -> Option<&EmbeddedBroker> {
        match self {
            FleetBroker::Embedded { broker, .. } => Some(broker.as_ref()),
            FleetBroker::External { .. } => None,
        }
    }

    /// Makes the signer CA ready for `mode` (embedded). An external endpoint is the
    /// operator's to prepare: it must already register the signer's certificates (JITR or
    /// JITP); `preregistered` needs the embedded broker's registry and is refused.
    pub fn prepare(&self, mode: ProvisionMode) -> Result<(), FleetError> {
        match self {
            FleetBroker::Embedded { broker, .. } => {
                let needs = match mode {
                    ProvisionMode::Jitp => SignerNeeds::Template,
                    ProvisionMode::Preregistered => SignerNeeds::Registration,
                    _ => SignerNeeds::AutoRegistration,
                };
                broker.prepare_signer(needs)?;
                Ok(())
            }
            FleetBroker::External { .. } if mode == ProvisionMode::Preregistered => {
                Err(FleetError::Options {
                    reason: "preregistered needs the embedded broker's registry; an external \
                             endpoint registers the fleet by JITR or JITP"
                        .into(),
                })
            }
            FleetBroker::External { .. } => Ok(()),
        }
    }

    /// Registers a device certificate ahead of its connection (embedded; `prepare`
    /// refused `preregistered` for an external endpoint).
    pub fn preregister(&self, certificate_pem: &str, thing: &str) -> Result<(), FleetError> {
        if let Some(broker) = self.embedded() {
            broker.preregister(certificate_pem, thing)?;
        }
        Ok(())
    }

    /// The next tap event the run cares about; never, for an external endpoint.
    pub async fn next_observation(&mut self) -> Option<BrokerObservation> {
        match self {
            FleetBroker::Embedded { tap, .. } => loop {
                let event = tap.next().await?;
                if let Some(observation) = observe(&event.kind) {
                    return Some(observation);
                }
            },
            FleetBroker::External { .. } => std::future::pending().await,
        }
    }

    /// Activates a certificate JITR registered when the rig has no zero-touch rule.
    pub fn on_registered(&self, certificate_id: &str) {
        if let FleetBroker::Embedded {
            broker,
            activate_on_registration: true,
            ..
        } = self
            && let Err(e) = broker.activate(certificate_id)
        {
            tracing::warn!(%e, certificate_id, "cannot activate a fleet certificate");
        }
    }

    /// Drops each of `things`' connections at once; how many were connected. `None` for
    /// an external endpoint, which the harness cannot make drop anyone.
    pub fn drop_all(&self, things: &[String]) -> Option<usize> {
        let faults = self.embedded()?.faults();
        Some(
            things
                .iter()
                .filter(|thing| faults.disconnect(thing))
                .count(),
        )
    }

    /// Of `certificate_ids`, those ACTIVE now (`None` when the registry is not seen).
    pub fn active(&self, certificate_ids: &[&str]) -> Option<usize> {
        let broker = self.embedded()?;
        Some(broker.control_plane().read(|reg| {
            certificate_ids
                .iter()
                .filter(|id| {
                    reg.certificate(id)
                        .is_ok_and(|c| c.status == CertificateStatus::Active)
                })
                .count()
        }))
    }

    /// Tap events lost by reading too slowly (0 for an external endpoint).
    pub fn tap_events_lost(&self) -> u64 {
        match self {
            FleetBroker::Embedded { tap, .. } => tap.dropped(),
            FleetBroker::External { .. } => 0,
        }
    }

    /// Stops the embedded broker; an external one is left as it is.
    pub async fn shutdown(self) {
        if let FleetBroker::Embedded { broker, .. } = self {
            broker.shutdown().await;
        }
    }
}

/// An external endpoint's PKI must be the one it was set up with, copied here: its signer
/// signs the boards' certificates, and its server certificate must name `host`, the name
/// the boards connect by. A missing PKI would be made afresh, and nothing signed by it
/// would be trusted there.
fn check_external_pki(dir: &std::path::Path, host: &str) -> Result<(), FleetError> {
    let start_error = |reason: String| FleetError::Start { reason };
    let names = std::fs::read_to_string(dir.join("server-names.txt")).map_err(|_| {
        start_error(format!(
            "no test PKI in {}: copy the PKI directory the endpoint was set up with (the one \
             `hil broker` used)",
            dir.display()
        ))
    })?;
    if !dir.join("signer.pem").is_file() {
        return Err(start_error(format!(
            "no signer CA in {}: copy the whole PKI directory the endpoint was set up with",
            dir.display()
        )));
    }
    let names: Vec<&str> = names.lines().collect();
    if !names.contains(&host) {
        return Err(start_error(format!(
            "the endpoint's server certificate names {}, not {host}: connect by one of those \
             names (e.g. map it to the endpoint's address in /etc/hosts), or set up the \
             endpoint for this name (`endpoint = \"{host}\"` in the serving rig's [broker])",
            names.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_external_endpoint_needs_its_pki_and_a_name_on_its_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = check_external_pki(dir.path(), "localhost").unwrap_err();
        assert!(missing.to_string().contains("no test PKI in"), "{missing}");
        std::fs::write(
            dir.path().join("server-names.txt"),
            "broker.hil.test\nlocalhost\n127.0.0.1",
        )
        .unwrap();
        let no_signer = check_external_pki(dir.path(), "localhost").unwrap_err();
        assert!(
            no_signer.to_string().contains("no signer CA"),
            "{no_signer}"
        );
        std::fs::write(dir.path().join("signer.pem"), "x").unwrap();
        assert!(check_external_pki(dir.path(), "localhost").is_ok());
        let other = check_external_pki(dir.path(), "vm").unwrap_err();
        assert!(
            other.to_string().contains(
                "the endpoint's server certificate names broker.hil.test, localhost, \
                 127.0.0.1, not vm"
            ),
            "{other}"
        );
    }
}
