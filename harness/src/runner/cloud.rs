//! The steps that act on the broker as AWS would: faults, certificate and CA status,
//! policies.

use super::world::{Mismatch, World, mismatch};
use crate::broker::Broker;
use crate::scenario::{CaStep, CertificateStep, FaultStep, PolicyStep};
use mock_broker::aws::registry::{CaStatus, CertificateStatus};

impl World {
    pub(super) async fn fault(&self, s: &FaultStep) -> Result<(), Mismatch> {
        use mock_broker::{Target, Withhold};
        let broker = self.broker.read().await;
        let broker = Self::registry(broker.as_ref(), "inject faults")?;
        let faults = broker.faults();
        let target = match &s.board {
            Some(board) => Target::Client(self.provisioned(board)?.thing),
            None => Target::All,
        };
        if let Some(count) = s.withhold_connack {
            faults.withhold_connack(target, count);
        } else if let Some(packet) = &s.withhold {
            let packet = match packet.get().as_str() {
                "puback" => Withhold::Puback,
                "suback" => Withhold::Suback,
                _ => Withhold::Pingresp,
            };
            faults.withhold(target, packet);
        } else if s.disconnect {
            let Target::Client(thing) = target else {
                return Err(mismatch("a board to disconnect", "none named"));
            };
            if !faults.disconnect(&thing) {
                return Err(mismatch(
                    format!("{thing} connected, to be dropped"),
                    "it is not connected",
                ));
            }
        } else if let Some(count) = s.unstable {
            faults.unstable(target, count);
        } else if s.expire_session {
            let Target::Client(thing) = target else {
                return Err(mismatch("a board whose session to expire", "none named"));
            };
            if !faults.expire_session(&thing) {
                return Err(mismatch(
                    format!("{thing} offline with a persistent session, to be expired"),
                    "it is connected, or has no stored session",
                ));
            }
        } else if let Some(kind) = &s.server_cert {
            let kind = match kind.get().as_str() {
                "restore" => {
                    faults.restore_server_identity();
                    return Ok(());
                }
                "expired" => crate::pki::BadServerCert::Expired,
                "wrong_name" => crate::pki::BadServerCert::WrongName,
                "large" => crate::pki::BadServerCert::Large,
                _ => crate::pki::BadServerCert::Untrusted,
            };
            let names = [broker.endpoint(), "localhost", "127.0.0.1"];
            let identity = self
                .pki
                .bad_server(kind, &names)
                .and_then(|cert| cert.server_identity())
                .map_err(|e| mismatch("a bad server certificate", e.to_string()))?;
            faults
                .present_server_identity(&identity)
                .map_err(|e| mismatch("the broker presents it", e.to_string()))?;
        } else if s.clear {
            faults.clear();
        }
        Ok(())
    }

    pub(super) async fn certificate(&self, s: &CertificateStep) -> Result<(), Mismatch> {
        let provisioned = self.provisioned(&s.board)?;
        let status = match &s.status {
            Some(status) => CertificateStatus::parse(status.get())
                .map_err(|e| mismatch("a certificate status", e.to_string()))?,
            None => CertificateStatus::Active,
        };
        let broker = self.broker.read().await;
        let broker = Self::registry(broker.as_ref(), "change certificates")?;
        if s.register {
            broker
                .preregister(&provisioned.certificate_pem, &provisioned.thing)
                .and_then(|id| broker.set_certificate_status(&id, status))
                .map_err(|e| {
                    mismatch(
                        format!("{}'s certificate registered", s.board.get()),
                        e.to_string(),
                    )
                })
        } else {
            broker
                .set_certificate_status(&provisioned.certificate_id, status)
                .map_err(|e| mismatch(format!("certificate set {status:?}"), e.to_string()))
        }
    }

    pub(super) async fn ca(&self, s: &CaStep) -> Result<(), Mismatch> {
        let active = s.status.as_ref().map(|status| status.get() == "ACTIVE");
        let broker = self.broker.read().await;
        let broker = Self::registry(broker.as_ref(), "register CAs")?;
        let result = if s.register {
            broker
                .register_signer_as(
                    active.unwrap_or(true),
                    s.auto_registration.unwrap_or(true),
                    None,
                )
                .map(|id| self.set_variable("ca.id".into(), id))
        } else {
            let status = active.map(|on| {
                if on {
                    CaStatus::Active
                } else {
                    CaStatus::Inactive
                }
            });
            broker.update_signer(status, s.auto_registration)
        };
        result.map_err(|e| mismatch("the signer CA updated in the registry", e.to_string()))
    }

    pub(super) async fn policy(&self, s: &PolicyStep) -> Result<(), Mismatch> {
        let provisioned = self.provisioned(&s.board)?;
        let document = crate::scenario::json_of(s.document.get()).to_string();
        let broker = self.broker.read().await;
        let broker = Self::registry(broker.as_ref(), "attach policies")?;
        broker
            .attach_policy(s.name.get(), &document, &provisioned.certificate_id)
            .map_err(|e| {
                mismatch(
                    format!(
                        "policy {} attached to {}'s certificate",
                        s.name.get(),
                        s.board.get()
                    ),
                    e.to_string(),
                )
            })?;
        self.timeline.record(crate::timeline::What::Action {
            text: format!(
                "policy {} attached to {}'s certificate: {document}",
                s.name.get(),
                s.board.get()
            ),
        });
        Ok(())
    }
}
