//! The step types that act on AWS IoT's control plane for a board or the signer CA:
//! `certificate` (its status, RegisterCertificate), `ca` (RegisterCACertificate,
//! UpdateCACertificate) and `policy` (CreatePolicy and AttachPolicy). Field docs become
//! the descriptions in the generated JSON Schema; running them is `runner::cloud`'s.

use super::{BoardName, Span};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `certificate`: change the status of a board's certificate (revoke, deactivate,
/// activate), or `register` it (RegisterCertificate, with its thing and Microchip's
/// policy, as `provision` does for `preregistered`; needs the signer CA registered).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateStep {
    /// Board.
    pub board: BoardName,
    /// `ACTIVE`, `INACTIVE` or `REVOKED` (with `register`: the status it registers with,
    /// default `ACTIVE`).
    pub status: Option<Span<String>>,
    /// Register the board's certificate.
    #[serde(default)]
    pub register: bool,
}

/// `ca`: the signer CA in the broker's registry: `register` it (RegisterCACertificate
/// with a verification certificate), or change its `status` (`ACTIVE`, `INACTIVE`) and
/// `auto_registration` (UpdateCACertificate). A later `provision` keeps what was set here,
/// except auto-registration, which `jitr` turns on.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaStep {
    /// Register the CA (it must not be registered yet).
    #[serde(default)]
    pub register: bool,
    /// `ACTIVE` or `INACTIVE` (with `register`, default `ACTIVE`).
    pub status: Option<Span<String>>,
    /// Allow auto-registration, for JITR (with `register`, default true).
    pub auto_registration: Option<bool>,
}

/// `policy`: attaches policy `name` to the board's certificate (AttachPolicy), creating it
/// from `document` first (CreatePolicy) when the account has no policy of that name. It
/// grants what the board's own policy (Microchip's, which JITR and `preregistered`
/// attach) does not, e.g. `iot:RetainPublish` for Device Advisor's Publish Retained
/// Messages; AWS allows what any attached policy allows, unless one denies it. AWS policy
/// variables stay as written: `${iot:ClientId}` is not a scenario variable. The board's
/// certificate must be registered (after its first connection for JITR). Embedded broker
/// only.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyStep {
    /// Board (its certificate is the target).
    pub board: BoardName,
    /// Policy name: 1 to 128 of letters, digits and `+=,.@-_`.
    pub name: Span<String>,
    /// The policy document, e.g. `{ Version = "2012-10-17", Statement = [{ Effect =
    /// "Allow", Action = "iot:RetainPublish", Resource = "arn:aws:iot:*:*:topic/${iot:ClientId}/status" }] }`.
    /// A policy that exists already must have the same document.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub document: Span<toml::Table>,
}
