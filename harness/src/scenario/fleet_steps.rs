//! A fleet scenario: the `[fleet]` section (many boards of the reference firmware's core
//! in one `fleet-board` process, as `hil fleet` runs them) and the steps that apply to the
//! whole fleet: `fleet_power_on`, `fleet_storm` and `expect_fleet`. Field docs become the
//! descriptions in the generated JSON Schema; running them is `runner::fleet_run`'s.

use super::Span;
use schemars::JsonSchema;
use serde::Deserialize;

/// `[fleet]`: instead of the rig's boards, `boards` instances of the reference firmware's
/// core, each with its own key, CSR, certificate, TLS connection and thing, provisioned
/// through their own consoles before the first step, against the rig's broker (the
/// embedded one, or an external endpoint). Only fleet steps and `wait` may follow.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    /// How many boards (1 to 100000).
    pub boards: Span<u32>,
    /// `jitr` (default), `jitp` or `preregistered`.
    pub mode: Option<Span<String>>,
    /// The fleet's clock speed (default 1: real time; the host's TLS handshakes do not
    /// speed up, so speed up small fleets only).
    pub speed: Option<Span<f64>>,
    /// Spread the power-ons over this long (board time; default: all at once).
    pub ramp: Option<Span<String>>,
    /// Flaws every board runs with, e.g. `["no-jitter"]` (see `emulated-board --help`).
    #[serde(default)]
    pub flaws: Vec<Span<String>>,
}

/// `fleet_power_on`: powers the fleet on (the first fleet step, once); passes when every
/// board has sent telemetry within `within` (board time, after the ramp). A failure lists
/// the boards without telemetry by cause.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetPowerOnStep {
    /// Deadline for every board's first telemetry (board time).
    pub within: Span<String>,
}

/// `fleet_storm`: the reconnect storm: once every board has stayed connected `after`
/// (default 35 s: the firmware resets its backoff after 30 s), the broker drops them all
/// at once; passes when every board streams telemetry again within `within` (default
/// 2 min) and their first retries were spread (jitter), fails on a herd. Embedded broker
/// only.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetStormStep {
    /// How long every board stays connected before the drop (board time).
    pub after: Option<Span<String>>,
    /// How long the boards may take to stream again (board time).
    pub within: Option<Span<String>>,
}

/// `expect_fleet`: the fleet's figures so far are within bounds.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectFleetStep {
    /// The 99th percentile of power-on → first telemetry is at most this (board time).
    pub first_telemetry_p99: Option<Span<String>>,
    /// No board made more connection attempts than this.
    pub max_attempts: Option<u32>,
}
