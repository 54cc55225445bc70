//! Policies and their targets: CreatePolicy, GetPolicy, AttachPolicy, DetachPolicy,
//! ListAttachedPolicies, and the policies that decide for a certificate.

use super::*;

impl Registry {
    /// CreatePolicy.
    pub fn create_policy(
        &mut self,
        name: &str,
        document: &str,
        now_ms: u64,
    ) -> Result<&PolicyRecord, AwsError> {
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
        {
            return Err(invalid(format!("invalid policy name {name:?}")));
        }
        let parsed = PolicyDocument::parse(document).map_err(|e: PolicyError| {
            AwsError::new(AwsErrorKind::MalformedPolicy, e.to_string())
        })?;
        if self.policies.contains_key(name) {
            return Err(self.exists("policy", name));
        }
        let record = PolicyRecord {
            name: name.to_owned(),
            document: document.to_owned(),
            created_ms: now_ms,
            parsed: Some(parsed),
        };
        Ok(self.policies.entry(name.to_owned()).or_insert(record))
    }

    /// GetPolicy.
    pub fn policy(&self, name: &str) -> Result<&PolicyRecord, AwsError> {
        self.policies
            .get(name)
            .ok_or_else(|| not_found(format!("policy {name} does not exist")))
    }

    /// AttachPolicy to a target ARN (a certificate).
    pub fn attach_policy(&mut self, policy: &str, target: &str) -> Result<(), AwsError> {
        self.policy(policy)?;
        self.principal_exists(target)?;
        self.policy_targets
            .entry(policy.to_owned())
            .or_default()
            .insert(target.to_owned());
        Ok(())
    }

    /// DetachPolicy.
    pub fn detach_policy(&mut self, policy: &str, target: &str) -> Result<(), AwsError> {
        self.policy(policy)?;
        if let Some(targets) = self.policy_targets.get_mut(policy) {
            targets.remove(target);
        }
        Ok(())
    }

    /// ListAttachedPolicies of a target ARN.
    pub fn attached_policies(&self, target: &str) -> Vec<&PolicyRecord> {
        self.policy_targets
            .iter()
            .filter(|(_, targets)| targets.contains(target))
            .filter_map(|(name, _)| self.policies.get(name))
            .collect()
    }

    /// The parsed policies attached to a certificate, for authorization.
    pub fn policies_of_certificate(&self, certificate_id: &str) -> Vec<(&str, &PolicyDocument)> {
        let arn = self.arn("cert", certificate_id);
        self.attached_policies(&arn)
            .into_iter()
            .filter_map(|p| p.parsed.as_ref().map(|doc| (p.name.as_str(), doc)))
            .collect()
    }

    pub(super) fn principal_exists(&self, arn: &str) -> Result<(), AwsError> {
        let prefix = self.arn("cert", "");
        match arn.strip_prefix(&prefix) {
            Some(id) if self.certificates.contains_key(id) => Ok(()),
            Some(id) => Err(not_found(format!("certificate {id} does not exist"))),
            None => Err(invalid(format!(
                "{arn} is not a certificate ARN of this account"
            ))),
        }
    }

    pub(super) fn exists(&self, kind: &str, id: &str) -> AwsError {
        // AWS's wording for certificates; the `ID:<id>` is where Microchip's pyawsutils
        // reads an already registered CA's id from (choice: AWS's exact text is unknown).
        let message = match kind {
            "cert" | "cacert" => {
                format!("The certificate is already provisioned or registered, ID:{id}")
            }
            _ => format!("{kind} {id} already exists"),
        };
        AwsError::new(
            AwsErrorKind::ResourceAlreadyExists {
                resource_id: id.to_owned(),
                resource_arn: self.arn(kind, id),
            },
            message,
        )
    }
}
