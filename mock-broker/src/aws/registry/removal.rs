//! Deleting CA certificates and policies: DeleteCACertificate and DeletePolicy.
//!
//! (DeleteCertificate and DeleteThing are with their resources in `certificates` and
//! `things`.) Each refuses, changing nothing, what AWS refuses: an ACTIVE CA
//! (`CertificateStateException`, 406) and a policy still attached to a target
//! (`DeleteConflictException`, 409).

use super::*;

impl Registry {
    /// DeleteCACertificate: the CA must not be ACTIVE. The device certificates registered
    /// with it stay registered (and keep its id as their `caCertificateId`).
    pub fn delete_ca(&mut self, id: &str) -> Result<(), AwsError> {
        if self.ca(id)?.status == CaStatus::Active {
            return Err(AwsError::new(
                AwsErrorKind::CertificateState,
                format!("the CA certificate {id} is ACTIVE: set it INACTIVE before deleting it"),
            ));
        }
        self.cas.remove(id);
        // Certificates registered under it lose their CA: their live connections close.
        self.revoke_issued_by(id);
        Ok(())
    }

    /// DeletePolicy: the policy must be detached from every target first.
    pub fn delete_policy(&mut self, name: &str) -> Result<(), AwsError> {
        self.policy(name)?;
        let attached = self.policy_targets.get(name).map_or(0, BTreeSet::len);
        if attached > 0 {
            return Err(AwsError::new(
                AwsErrorKind::DeleteConflict,
                format!("the policy {name} is attached to {attached} target(s): detach it first"),
            ));
        }
        self.policies.remove(name);
        self.policy_targets.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::registry::test_helpers::{NOW, registry, with_ca};

    const OPEN: &str = r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

    #[test]
    fn an_active_ca_is_not_deleted_an_inactive_one_is() {
        let (mut reg, _, id) = with_ca();
        let refused = reg.delete_ca(&id).unwrap_err();
        assert_eq!(refused.kind, AwsErrorKind::CertificateState);
        assert_eq!(refused.http_status(), 406);
        assert!(reg.ca(&id).is_ok());
        reg.update_ca(&id, Some(CaStatus::Inactive), None, None, NOW)
            .unwrap();
        reg.delete_ca(&id).unwrap();
        assert_eq!(
            reg.ca(&id).unwrap_err().kind,
            AwsErrorKind::ResourceNotFound
        );
        assert_eq!(
            reg.delete_ca(&id).unwrap_err().kind,
            AwsErrorKind::ResourceNotFound
        );
    }

    #[test]
    fn an_attached_policy_is_not_deleted() {
        let (mut reg, ca, _) = with_ca();
        let device = ca.device("05").unwrap();
        let id = reg
            .register_certificate(&device.cert_pem, None, CertificateStatus::Active, NOW)
            .unwrap()
            .id
            .clone();
        let arn = reg.arn("cert", &id);
        reg.create_policy("p", OPEN, NOW).unwrap();
        reg.attach_policy("p", &arn).unwrap();
        let refused = reg.delete_policy("p").unwrap_err();
        assert_eq!(refused.kind, AwsErrorKind::DeleteConflict);
        assert_eq!(refused.http_status(), 409);
        assert_eq!(reg.policies_of_certificate(&id).len(), 1);
        reg.detach_policy("p", &arn).unwrap();
        reg.delete_policy("p").unwrap();
        assert_eq!(
            reg.policy("p").unwrap_err().kind,
            AwsErrorKind::ResourceNotFound
        );
        // The name is free again.
        reg.create_policy("p", OPEN, NOW).unwrap();
        assert!(reg.attached_policies(&arn).is_empty());
    }

    #[test]
    fn deleting_a_missing_policy_is_not_found() {
        let mut reg = registry();
        assert_eq!(
            reg.delete_policy("nope").unwrap_err().kind,
            AwsErrorKind::ResourceNotFound
        );
    }
}
