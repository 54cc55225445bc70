//! The control plane's registries: the account, CA certificates, device certificates,
//! things, policies and what is attached to what.
//!
//! [`Registry`] is plain data with AWS IoT's operations as methods. Every operation checks
//! its input first and changes nothing when it fails, answering an [`AwsError`] that carries
//! AWS's exception name and HTTP status (the admin API sends both). Times are passed in as
//! Unix milliseconds, so tests choose them. Authentication, JITR and policy decisions on
//! live connections are [`crate::aws::control_plane`]'s; persistence is
//! [`Registry::save`]/[`Registry::load`].
//!
//! The operations are split by resource: `cas`, `certificates`, `things` and `policies`;
//! `records` holds the data and `error` AWS's exceptions. The admin API's further
//! operations have files of their own: `lists` (the paged list operations, over the one
//! paging function in `listing`), `issuance` (certificates AWS issues itself), `removal`
//! (DeleteCACertificate, DeletePolicy), `thing_update` (UpdateThing) and `account` (the
//! checks of an account id and region).

use crate::aws::certs::CertInfo;
use crate::aws::policy::{PolicyDocument, PolicyError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod account;
mod cas;
mod certificates;
mod error;
mod issuance;
mod listing;
mod lists;
mod policies;
mod records;
mod removal;
#[cfg(test)]
mod test_helpers;
mod thing_update;
mod things;

pub use account::AccountError;

pub use error::{AwsError, AwsErrorKind};
use error::{invalid, not_found, validation};
pub use issuance::{AwsIssuer, GeneratedKeyPair, ISSUED_SUBJECT_CN, ISSUER_OU, generate_key_pair};
pub use listing::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest, paginate};
pub use lists::ThingFilter;
pub use records::{
    Account, CaRecord, CaStatus, CertRecord, CertificateMode, CertificateStatus, PolicyRecord,
    Thing,
};
pub use thing_update::AttributeUpdate;

/// Every registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registry {
    /// The account.
    pub account: Account,
    cas: BTreeMap<String, CaRecord>,
    certificates: BTreeMap<String, CertRecord>,
    things: BTreeMap<String, Thing>,
    policies: BTreeMap<String, PolicyRecord>,
    /// Policy name to target ARNs.
    policy_targets: BTreeMap<String, BTreeSet<String>>,
    /// Thing name to principal ARNs.
    thing_principals: BTreeMap<String, BTreeSet<String>>,
    /// Certificates that stopped being ACTIVE, or whose CA did, since the last
    /// [`Registry::take_revoked`].
    #[serde(skip)]
    revoked: Vec<String>,
    /// The "AWS IoT" CA that signs the certificates AWS issues (in memory only).
    #[serde(skip)]
    issuer: AwsIssuer,
}

/// Name of the registry file in the state dir.
pub const REGISTRY_FILE: &str = "registry.json";

impl Registry {
    /// Empty registries for an account.
    pub fn new(account: Account) -> Self {
        Registry {
            account,
            cas: BTreeMap::new(),
            certificates: BTreeMap::new(),
            things: BTreeMap::new(),
            policies: BTreeMap::new(),
            policy_targets: BTreeMap::new(),
            thing_principals: BTreeMap::new(),
            revoked: Vec::new(),
            issuer: AwsIssuer::default(),
        }
    }

    /// Queues every certificate registered under the CA `ca_id` for [`Registry::take_revoked`]
    /// (its CA was set INACTIVE or deleted).
    fn revoke_issued_by(&mut self, ca_id: &str) {
        let issued: Vec<String> = self
            .certificates
            .values()
            .filter(|c| c.ca_id.as_deref() == Some(ca_id))
            .map(|c| c.id.clone())
            .collect();
        self.revoked.extend(issued);
    }

    /// The certificates that stopped being ACTIVE (set INACTIVE or REVOKED, or their CA
    /// set INACTIVE) since the last call, oldest first: their live connections must close.
    pub fn take_revoked(&mut self) -> Vec<String> {
        std::mem::take(&mut self.revoked)
    }

    /// An ARN of this account: `arn:aws:iot:<region>:<account>:<kind>/<name>`.
    pub fn arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:iot:{}:{}:{kind}/{name}",
            self.account.region, self.account.id
        )
    }

    /// Reads the registries from `dir`; `None` when nothing was saved.
    pub fn load(dir: &Path) -> std::io::Result<Option<Self>> {
        let path = dir.join(REGISTRY_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut registry: Registry = serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        for policy in registry.policies.values_mut() {
            policy.parsed = PolicyDocument::parse(&policy.document).ok();
        }
        Ok(Some(registry))
    }

    /// Writes the registries to `dir`, atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let path = dir.join(REGISTRY_FILE);
        let tmp = dir.join(format!("{REGISTRY_FILE}.tmp"));
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, path)
    }
}

fn now_secs(now_ms: u64) -> i64 {
    i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod tests;
