//! The control plane's registries: the account, CA certificates, device certificates,
//! things, policies and what is attached to what.
//!
//! [`Registry`] is plain data with AWS IoT's operations as methods. Every operation checks
//! its input first and changes nothing when it fails, answering an [`AwsError`] that carries
//! AWS's exception name and HTTP status (the admin API sends both). Times are passed in as
//! Unix milliseconds, so tests choose them. Authentication, JITR and policy decisions on
//! live connections are [`crate::control_plane`]'s; persistence is
//! [`Registry::save`]/[`Registry::load`].

use crate::certs::CertInfo;
use crate::policy::{PolicyDocument, PolicyError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// AWS IoT's exceptions, as the admin API reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// 400.
    InvalidRequest,
    /// 404.
    ResourceNotFound,
    /// 409, with the existing resource's id and ARN.
    ResourceAlreadyExists {
        /// Existing id (certificate id, thing name, ...).
        resource_id: String,
        /// Existing ARN.
        resource_arn: String,
    },
    /// 400: a certificate that does not validate.
    CertificateValidation,
    /// 406: an operation not allowed in the certificate's state.
    CertificateState,
    /// 409: still attached or in use.
    DeleteConflict,
    /// 400: a policy document that does not parse.
    MalformedPolicy,
}

/// An AWS-style error: exception name, HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.name())]
pub struct AwsError {
    /// Which exception.
    pub kind: AwsErrorKind,
    /// What went wrong.
    pub message: String,
}

impl AwsError {
    fn new(kind: AwsErrorKind, message: impl Into<String>) -> Self {
        AwsError {
            kind,
            message: message.into(),
        }
    }

    /// AWS's exception name.
    pub fn name(&self) -> &'static str {
        match self.kind {
            AwsErrorKind::InvalidRequest => "InvalidRequestException",
            AwsErrorKind::ResourceNotFound => "ResourceNotFoundException",
            AwsErrorKind::ResourceAlreadyExists { .. } => "ResourceAlreadyExistsException",
            AwsErrorKind::CertificateValidation => "CertificateValidationException",
            AwsErrorKind::CertificateState => "CertificateStateException",
            AwsErrorKind::DeleteConflict => "DeleteConflictException",
            AwsErrorKind::MalformedPolicy => "MalformedPolicyException",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            AwsErrorKind::InvalidRequest
            | AwsErrorKind::CertificateValidation
            | AwsErrorKind::MalformedPolicy => 400,
            AwsErrorKind::ResourceNotFound => 404,
            AwsErrorKind::ResourceAlreadyExists { .. } | AwsErrorKind::DeleteConflict => 409,
            AwsErrorKind::CertificateState => 406,
        }
    }
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::InvalidRequest, message)
}

fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::ResourceNotFound, message)
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new(AwsErrorKind::CertificateValidation, message)
}

/// Status of a device certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateStatus {
    /// May connect.
    Active,
    /// Refused.
    Inactive,
    /// Refused.
    Revoked,
    /// Refused.
    PendingTransfer,
    /// Refused.
    RegisterInactive,
    /// Registered by JITR, waiting for activation; refused.
    PendingActivation,
}

impl CertificateStatus {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Active => "ACTIVE",
            CertificateStatus::Inactive => "INACTIVE",
            CertificateStatus::Revoked => "REVOKED",
            CertificateStatus::PendingTransfer => "PENDING_TRANSFER",
            CertificateStatus::RegisterInactive => "REGISTER_INACTIVE",
            CertificateStatus::PendingActivation => "PENDING_ACTIVATION",
        }
    }

    /// Parses AWS's name.
    pub fn parse(text: &str) -> Result<Self, AwsError> {
        serde_json::from_value(serde_json::Value::String(text.to_owned()))
            .map_err(|_| invalid(format!("invalid certificate status {text:?}")))
    }
}

/// Status of a CA certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaStatus {
    /// Its certificates may connect and be registered.
    Active,
    /// Nothing it issued is admitted or registered.
    Inactive,
}

impl CaStatus {
    /// Parses AWS's name.
    pub fn parse(text: &str) -> Result<Self, AwsError> {
        match text {
            "ACTIVE" => Ok(CaStatus::Active),
            "INACTIVE" => Ok(CaStatus::Inactive),
            _ => Err(invalid(format!("invalid CA status {text:?}"))),
        }
    }

    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaStatus::Active => "ACTIVE",
            CaStatus::Inactive => "INACTIVE",
        }
    }
}

/// DEFAULT (verification certificate, one account) or SNI_ONLY (no verification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateMode {
    /// Registered with a verification certificate.
    Default,
    /// Registered without one; devices must send SNI.
    SniOnly,
}

impl CertificateMode {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateMode::Default => "DEFAULT",
            CertificateMode::SniOnly => "SNI_ONLY",
        }
    }
}

/// A registered CA certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaRecord {
    /// Certificate id.
    pub id: String,
    /// PEM.
    pub pem: String,
    /// Status.
    pub status: CaStatus,
    /// Just-in-time registration of the certificates it issued.
    pub auto_registration: bool,
    /// Registration mode.
    pub mode: CertificateMode,
    /// JITP template body, if one is attached.
    pub template_body: Option<String>,
    /// Registration time, Unix ms.
    pub created_ms: u64,
    /// Last change, Unix ms.
    pub modified_ms: u64,
}

/// A registered device certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertRecord {
    /// Certificate id.
    pub id: String,
    /// PEM.
    pub pem: String,
    /// Status.
    pub status: CertificateStatus,
    /// The registered CA that issued it, if registered with one.
    pub ca_id: Option<String>,
    /// Registration mode.
    pub mode: CertificateMode,
    /// Registration time, Unix ms.
    pub created_ms: u64,
    /// Last change, Unix ms.
    pub modified_ms: u64,
}

/// A thing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thing {
    /// Name.
    pub name: String,
    /// Generated id.
    pub id: String,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// Version, from 1.
    pub version: u64,
}

/// A policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// Name.
    pub name: String,
    /// The document as given.
    pub document: String,
    /// Creation time, Unix ms.
    pub created_ms: u64,
    /// The parsed document.
    #[serde(skip)]
    pub parsed: Option<PolicyDocument>,
}

/// The account's identity and endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    /// 12-digit account id.
    pub id: String,
    /// Region, e.g. `eu-west-1`.
    pub region: String,
    /// The registration code (the CN of verification certificates).
    pub registration_code: String,
    /// The data endpoint address.
    pub endpoint: String,
}

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
        }
    }

    /// An ARN of this account: `arn:aws:iot:<region>:<account>:<kind>/<name>`.
    pub fn arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:iot:{}:{}:{kind}/{name}",
            self.account.region, self.account.id
        )
    }

    // ---- CA certificates -------------------------------------------------------------

    /// RegisterCACertificate.
    #[allow(clippy::too_many_arguments)]
    pub fn register_ca(
        &mut self,
        ca_pem: &str,
        verification_pem: Option<&str>,
        set_as_active: bool,
        allow_auto_registration: bool,
        mode: CertificateMode,
        template_body: Option<String>,
        now_ms: u64,
    ) -> Result<&CaRecord, AwsError> {
        let ca =
            CertInfo::from_pem(ca_pem).map_err(|e| validation(format!("CA certificate: {e}")))?;
        if !ca.is_ca {
            return Err(validation(
                "the certificate is not a CA: basicConstraints CA:TRUE is missing",
            ));
        }
        if !ca.valid_at(now_secs(now_ms)) {
            return Err(validation("the CA certificate is expired or not yet valid"));
        }
        match (mode, verification_pem) {
            (CertificateMode::Default, None) => {
                return Err(invalid(
                    "verificationCertificate is required unless certificateMode is SNI_ONLY",
                ));
            }
            (CertificateMode::Default, Some(pem)) => {
                let verification = CertInfo::from_pem(pem)
                    .map_err(|e| validation(format!("verification certificate: {e}")))?;
                if verification.common_name.as_deref()
                    != Some(self.account.registration_code.as_str())
                {
                    return Err(validation(
                        "the verification certificate's common name is not the registration code",
                    ));
                }
                if !verification.is_signed_by(&ca) {
                    return Err(validation(
                        "the verification certificate is not signed by the CA",
                    ));
                }
            }
            (CertificateMode::SniOnly, _) => {}
        }
        if let Some(template) = &template_body {
            serde_json::from_str::<serde_json::Value>(template)
                .map_err(|e| invalid(format!("templateBody is not JSON: {e}")))?;
        }
        if self.cas.contains_key(&ca.id) {
            return Err(self.exists("cacert", &ca.id));
        }
        let record = CaRecord {
            id: ca.id.clone(),
            pem: ca.pem(),
            status: if set_as_active {
                CaStatus::Active
            } else {
                CaStatus::Inactive
            },
            auto_registration: allow_auto_registration,
            mode,
            template_body,
            created_ms: now_ms,
            modified_ms: now_ms,
        };
        Ok(self.cas.entry(ca.id).or_insert(record))
    }

    /// UpdateCACertificate.
    pub fn update_ca(
        &mut self,
        id: &str,
        status: Option<CaStatus>,
        auto_registration: Option<bool>,
        template_body: Option<Option<String>>,
        now_ms: u64,
    ) -> Result<(), AwsError> {
        let ca = self
            .cas
            .get_mut(id)
            .ok_or_else(|| not_found(format!("CA certificate {id} does not exist")))?;
        if let Some(status) = status {
            ca.status = status;
        }
        if let Some(auto) = auto_registration {
            ca.auto_registration = auto;
        }
        if let Some(template) = template_body {
            ca.template_body = template;
        }
        ca.modified_ms = now_ms;
        Ok(())
    }

    /// DescribeCACertificate.
    pub fn ca(&self, id: &str) -> Result<&CaRecord, AwsError> {
        self.cas
            .get(id)
            .ok_or_else(|| not_found(format!("CA certificate {id} does not exist")))
    }

    /// ListCACertificates.
    pub fn cas(&self) -> impl Iterator<Item = &CaRecord> {
        self.cas.values()
    }

    /// The registered CA that issued `cert`, if any.
    pub fn issuing_ca(&self, cert: &CertInfo) -> Option<&CaRecord> {
        self.cas
            .values()
            .find(|ca| CertInfo::from_pem(&ca.pem).is_ok_and(|ca_info| cert.is_signed_by(&ca_info)))
    }

    // ---- device certificates ---------------------------------------------------------

    /// RegisterCertificate: a certificate issued by a registered CA.
    pub fn register_certificate(
        &mut self,
        pem: &str,
        ca_pem: Option<&str>,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        let cert = CertInfo::from_pem(pem).map_err(|e| validation(format!("certificate: {e}")))?;
        let ca = match ca_pem {
            Some(ca_pem) => {
                let ca = CertInfo::from_pem(ca_pem)
                    .map_err(|e| validation(format!("CA certificate: {e}")))?;
                self.cas
                    .get(&ca.id)
                    .ok_or_else(|| not_found("the CA certificate is not registered"))?
            }
            None => self
                .issuing_ca(&cert)
                .ok_or_else(|| not_found("no registered CA issued this certificate"))?,
        };
        let ca_info = CertInfo::from_pem(&ca.pem).map_err(|e| validation(e.to_string()))?;
        if !cert.is_signed_by(&ca_info) {
            return Err(validation("the certificate is not signed by the CA"));
        }
        if ca.status != CaStatus::Active {
            return Err(AwsError::new(
                AwsErrorKind::CertificateState,
                "the CA certificate is not ACTIVE",
            ));
        }
        let (ca_id, mode) = (ca.id.clone(), ca.mode);
        self.add_certificate(&cert, Some(ca_id), mode, status, now_ms)
    }

    /// RegisterCertificateWithoutCA.
    pub fn register_certificate_without_ca(
        &mut self,
        pem: &str,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        let cert = CertInfo::from_pem(pem).map_err(|e| validation(format!("certificate: {e}")))?;
        self.add_certificate(&cert, None, CertificateMode::SniOnly, status, now_ms)
    }

    /// Registers a certificate presented on a connection (JITR, JITP).
    pub fn register_presented(
        &mut self,
        cert: &CertInfo,
        ca_id: &str,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        let mode = self.ca(ca_id)?.mode;
        self.add_certificate(cert, Some(ca_id.to_owned()), mode, status, now_ms)
    }

    fn add_certificate(
        &mut self,
        cert: &CertInfo,
        ca_id: Option<String>,
        mode: CertificateMode,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<&CertRecord, AwsError> {
        if !cert.valid_at(now_secs(now_ms)) {
            return Err(validation("the certificate is expired or not yet valid"));
        }
        if self.certificates.contains_key(&cert.id) {
            return Err(self.exists("cert", &cert.id));
        }
        let record = CertRecord {
            id: cert.id.clone(),
            pem: cert.pem(),
            status,
            ca_id,
            mode,
            created_ms: now_ms,
            modified_ms: now_ms,
        };
        Ok(self.certificates.entry(cert.id.clone()).or_insert(record))
    }

    /// UpdateCertificate.
    pub fn update_certificate(
        &mut self,
        id: &str,
        status: CertificateStatus,
        now_ms: u64,
    ) -> Result<(), AwsError> {
        let cert = self
            .certificates
            .get_mut(id)
            .ok_or_else(|| not_found(format!("certificate {id} does not exist")))?;
        if cert.status == CertificateStatus::Revoked && status != CertificateStatus::Revoked {
            return Err(AwsError::new(
                AwsErrorKind::CertificateState,
                "a REVOKED certificate cannot change status",
            ));
        }
        cert.status = status;
        cert.modified_ms = now_ms;
        Ok(())
    }

    /// DescribeCertificate.
    pub fn certificate(&self, id: &str) -> Result<&CertRecord, AwsError> {
        self.certificates
            .get(id)
            .ok_or_else(|| not_found(format!("certificate {id} does not exist")))
    }

    /// ListCertificates.
    pub fn certificates(&self) -> impl Iterator<Item = &CertRecord> {
        self.certificates.values()
    }

    /// DeleteCertificate: it must be INACTIVE or REVOKED, and with `force` its policies
    /// are detached; things must be detached first.
    pub fn delete_certificate(&mut self, id: &str, force: bool) -> Result<(), AwsError> {
        let cert = self.certificate(id)?;
        if !matches!(
            cert.status,
            CertificateStatus::Inactive | CertificateStatus::Revoked
        ) {
            return Err(AwsError::new(
                AwsErrorKind::CertificateState,
                "only INACTIVE or REVOKED certificates can be deleted",
            ));
        }
        let arn = self.arn("cert", id);
        if self.thing_principals.values().any(|p| p.contains(&arn)) {
            return Err(AwsError::new(
                AwsErrorKind::DeleteConflict,
                "things are still attached to the certificate",
            ));
        }
        let has_policies = self.policy_targets.values().any(|t| t.contains(&arn));
        if has_policies && !force {
            return Err(AwsError::new(
                AwsErrorKind::DeleteConflict,
                "policies are still attached to the certificate",
            ));
        }
        for targets in self.policy_targets.values_mut() {
            targets.remove(&arn);
        }
        self.certificates.remove(id);
        Ok(())
    }

    // ---- things ----------------------------------------------------------------------

    /// CreateThing (idempotent for the same attributes).
    pub fn create_thing(
        &mut self,
        name: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<&Thing, AwsError> {
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":_-".contains(c))
        {
            return Err(invalid(format!("invalid thing name {name:?}")));
        }
        if let Some(existing) = self.things.get(name) {
            if existing.attributes == attributes {
                return self.thing(name);
            }
            return Err(self.exists("thing", name));
        }
        let thing = Thing {
            name: name.to_owned(),
            id: hex::encode(&sha2_digest(name.as_bytes())[..16]),
            attributes,
            version: 1,
        };
        Ok(self.things.entry(name.to_owned()).or_insert(thing))
    }

    /// DescribeThing.
    pub fn thing(&self, name: &str) -> Result<&Thing, AwsError> {
        self.things
            .get(name)
            .ok_or_else(|| not_found(format!("thing {name} does not exist")))
    }

    /// ListThings.
    pub fn things(&self) -> impl Iterator<Item = &Thing> {
        self.things.values()
    }

    /// DeleteThing: principals must be detached first.
    pub fn delete_thing(&mut self, name: &str) -> Result<(), AwsError> {
        self.thing(name)?;
        if self
            .thing_principals
            .get(name)
            .is_some_and(|p| !p.is_empty())
        {
            return Err(invalid("detach the thing's principals before deleting it"));
        }
        self.things.remove(name);
        self.thing_principals.remove(name);
        Ok(())
    }

    /// AttachThingPrincipal.
    pub fn attach_thing_principal(&mut self, thing: &str, principal: &str) -> Result<(), AwsError> {
        self.thing(thing)?;
        self.principal_exists(principal)?;
        self.thing_principals
            .entry(thing.to_owned())
            .or_default()
            .insert(principal.to_owned());
        Ok(())
    }

    /// DetachThingPrincipal.
    pub fn detach_thing_principal(&mut self, thing: &str, principal: &str) -> Result<(), AwsError> {
        self.thing(thing)?;
        if let Some(principals) = self.thing_principals.get_mut(thing) {
            principals.remove(principal);
        }
        Ok(())
    }

    /// ListThingPrincipals.
    pub fn thing_principals(&self, thing: &str) -> Result<Vec<String>, AwsError> {
        self.thing(thing)?;
        Ok(self
            .thing_principals
            .get(thing)
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default())
    }

    /// Is `thing` attached to the certificate `certificate_id`?
    pub fn is_attached(&self, thing: &str, certificate_id: &str) -> bool {
        let arn = self.arn("cert", certificate_id);
        self.thing_principals
            .get(thing)
            .is_some_and(|p| p.contains(&arn))
    }

    // ---- policies --------------------------------------------------------------------

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

    fn principal_exists(&self, arn: &str) -> Result<(), AwsError> {
        let prefix = self.arn("cert", "");
        match arn.strip_prefix(&prefix) {
            Some(id) if self.certificates.contains_key(id) => Ok(()),
            Some(id) => Err(not_found(format!("certificate {id} does not exist"))),
            None => Err(invalid(format!(
                "{arn} is not a certificate ARN of this account"
            ))),
        }
    }

    fn exists(&self, kind: &str, id: &str) -> AwsError {
        AwsError::new(
            AwsErrorKind::ResourceAlreadyExists {
                resource_id: id.to_owned(),
                resource_arn: self.arn(kind, id),
            },
            format!("{kind} {id} already exists"),
        )
    }

    // ---- persistence -----------------------------------------------------------------

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
mod tests;
