//! The application's settings ([`Config`]) and the MQTT QoS it publishes with.

use crate::flaws::Flaws;
use crate::time::Duration;

/// MQTT quality of service the board uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// At most once.
    AtMostOnce,
    /// At least once.
    AtLeastOnce,
}

/// Settings of the application.
#[derive(Debug, Clone)]
pub struct Config {
    /// Telemetry period.
    pub telemetry_interval: Duration,
    /// QoS of telemetry (shadow reports go at QoS 1).
    pub telemetry_qos: Qos,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// How long to wait for a PINGRESP before dropping the connection.
    pub ping_timeout: Duration,
    /// How long to wait for the transport (TCP and TLS) to open.
    pub open_timeout: Duration,
    /// How long to wait for CONNACK once CONNECT is sent.
    pub connect_timeout: Duration,
    /// How long to wait for PUBACK or SUBACK before resending with the same packet id.
    pub ack_timeout: Duration,
    /// First backoff ceiling.
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_cap: Duration,
    /// A connection that stays up this long resets the backoff.
    pub stable_after: Duration,
    /// Wait between failed Wi-Fi joins.
    pub wifi_retry: Duration,
    /// Seed of the jitter generator.
    pub seed: u64,
    /// Deliberate defects, for showing that qualification cases fail ([`Flaws::NONE`] for
    /// the reference firmware).
    pub flaws: Flaws,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            telemetry_interval: Duration::from_secs(1),
            telemetry_qos: Qos::AtMostOnce,
            keep_alive: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(10),
            open_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(32),
            stable_after: Duration::from_secs(30),
            wifi_retry: Duration::from_secs(2),
            seed: 0x5eed,
            flaws: Flaws::NONE,
        }
    }
}
