//! What the registries hold: the account, statuses, and the records of CAs, certificates,
//! things and policies (plain data, saved as JSON).

use super::error::{AwsError, invalid};
use crate::aws::policy::PolicyDocument;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
