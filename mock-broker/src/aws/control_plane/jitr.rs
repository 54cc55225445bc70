//! Just-In-Time Registration and Provisioning at CONNECT, the registered event, and
//! Microchip's zero-touch activation rule (what its Lambda does on every registered event).

use super::*;

impl ControlPlane {
    /// What Microchip's zero-touch Lambda does for a registered certificate: create the
    /// thing named after its SKI, create `ZTPolicy_<certificateId>` keyed on
    /// `${iot:ClientId}`, attach it, and set the certificate ACTIVE.
    pub fn activate_zero_touch(&self, certificate_id: &str) -> Result<(), AwsError> {
        self.change(|reg, now| {
            let record = reg.certificate(certificate_id)?;
            if record.status != CertificateStatus::PendingActivation {
                return Ok(());
            }
            let info = CertInfo::from_pem(&record.pem).map_err(|e| AwsError {
                kind: crate::aws::registry::AwsErrorKind::InvalidRequest,
                message: e.to_string(),
            })?;
            let thing = info.ski.ok_or_else(|| AwsError {
                kind: crate::aws::registry::AwsErrorKind::InvalidRequest,
                message: "the certificate has no Subject Key Identifier to name its thing".into(),
            })?;
            reg.create_thing(&thing, Default::default())?;
            let policy_name = format!("ZTPolicy_{certificate_id}");
            if reg.policy(&policy_name).is_err() {
                let document =
                    policy::microchip_jitr_policy(&reg.account.region, &reg.account.id, &thing);
                reg.create_policy(&policy_name, &document, now)?;
            }
            let arn = reg.arn("cert", certificate_id);
            reg.attach_policy(&policy_name, &arn)?;
            reg.update_certificate(certificate_id, CertificateStatus::Active, now)
        })
    }

    pub(super) fn registration_event(
        reg: &Registry,
        certificate_id: &str,
        ca_id: &str,
    ) -> BrokerMessage {
        let payload = serde_json::json!({
            "certificateId": certificate_id,
            "caCertificateId": ca_id,
            "timestamp": now_ms(),
            "certificateStatus": "PENDING_ACTIVATION",
            "awsAccountId": reg.account.id,
            // Measured on AWS: null in the event.
            "certificateRegistrationTimestamp": null,
        });
        BrokerMessage {
            topic: format!("$aws/events/certificates/registered/{ca_id}"),
            payload: payload.to_string().into_bytes(),
        }
    }

    pub(super) fn jitr(
        self: &Arc<Self>,
        reg: &mut Registry,
        leaf: &CertInfo,
        ca_id: &str,
        now: u64,
    ) -> Admission {
        if let Err(e) =
            reg.register_presented(leaf, ca_id, CertificateStatus::PendingActivation, now)
        {
            return Admission::refuse(format!("JITR: {e}"));
        }
        self.save(reg);
        self.pending(
            reg,
            &leaf.id,
            ca_id,
            "JITR: certificate registered as PENDING_ACTIVATION",
        )
    }

    /// A CONNECT of a certificate that is (now) PENDING_ACTIVATION: refused, the registered
    /// event published (again at every attempt, as AWS does), and with the zero-touch rule
    /// its activation scheduled — the rule runs on every event, as AWS's rule and Lambda
    /// do, so a certificate whose first activation was lost (a restart, say) still gets in.
    pub(super) fn pending(
        self: &Arc<Self>,
        reg: &Registry,
        certificate_id: &str,
        ca_id: &str,
        reason: &str,
    ) -> Admission {
        let mut refused = Admission::refuse(reason);
        refused
            .publish
            .push(Self::registration_event(reg, certificate_id, ca_id));
        if let Some(after) = self.zero_touch {
            let plane = self.clone();
            let id = certificate_id.to_owned();
            refused.deferred.push(Deferred {
                after,
                run: Box::new(move || {
                    if let Err(error) = plane.activate_zero_touch(&id) {
                        tracing::warn!(%error, certificate = %id, "zero-touch activation failed");
                    }
                    Vec::new()
                }),
            });
        }
        refused
    }

    pub(super) fn jitp(
        &self,
        reg: &mut Registry,
        leaf: &CertInfo,
        ca_id: &str,
        template: &str,
        now: u64,
    ) -> Admission {
        let plan = match jitp::evaluate(template, leaf) {
            Ok(plan) => plan,
            Err(e) => return Admission::refuse(format!("JITP: {e}")),
        };
        // Apply on a copy, so a failing template leaves nothing half-done.
        let mut draft = reg.clone();
        let applied = (|| -> Result<(), AwsError> {
            draft.register_presented(leaf, ca_id, CertificateStatus::PendingActivation, now)?;
            let arn = draft.arn("cert", &leaf.id);
            if let Some((thing, attributes)) = &plan.thing {
                draft.create_thing(thing, attributes.clone())?;
                draft.attach_thing_principal(thing, &arn)?;
            }
            match &plan.policy {
                Some(PolicySpec::Existing(name)) => draft.attach_policy(name, &arn)?,
                Some(PolicySpec::Document(document)) => {
                    let name = format!("JITP_{}", &leaf.id[..16]);
                    if draft.policy(&name).is_err() {
                        draft.create_policy(&name, document, now)?;
                    }
                    draft.attach_policy(&name, &arn)?;
                }
                None => {}
            }
            let status = match &plan.certificate_status {
                Some(status) => CertificateStatus::parse(status)?,
                None => CertificateStatus::Active,
            };
            draft.update_certificate(&leaf.id, status, now)
        })();
        match applied {
            Ok(()) => {
                *reg = draft;
                self.save(reg);
                Admission::refuse("JITP: certificate provisioned; connect again")
            }
            Err(e) => Admission::refuse(format!("JITP: {e}")),
        }
    }
}
