//! Flaws: switches that make the reference firmware break one AWS IoT Device Advisor rule on
//! purpose, so that each qualification case can be shown to fail (issue #13, "Proving the
//! cases can fail").
//!
//! A [`Flaw`] has a kebab-case name (`no-jitter`), used by `emulated-board --flaw` and by a
//! rig file's `flaws = [...]`. Most flaws change the application ([`crate::board::Board`]
//! reads them from [`crate::board::Config::flaws`]); the TLS ones change the platform's
//! TLS client, which reads them from the same set. The reference firmware has none.

/// One deliberate defect, named after the behaviour it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flaw {
    /// TLS: connects without presenting the device certificate (fails TLS Connect).
    NoClientCert,
    /// TLS: accepts a server certificate for another name (fails Incorrect Subject Name
    /// Server Cert).
    AcceptAnyServerName,
    /// TLS: accepts a server certificate from an untrusted issuer (fails Unsecure Server
    /// Cert).
    AcceptAnyIssuer,
    /// TLS: accepts an expired server certificate (fails Expired Server Cert).
    AcceptExpiredServerCert,
    /// TLS: a 4 KiB receive buffer: a TLS record longer than 4 KiB (plus the 256 bytes
    /// TLS allows for encryption) closes the connection (fails Receive Maximum Size
    /// Fragments).
    SmallTlsBuffer,
    /// TLS: refuses a server certificate chain over 4 KiB, as a device that keeps the
    /// chain in a 4 KiB buffer does (fails Large Size Server Cert).
    SmallCertBuffer,
    /// TLS: offers TLS 1.2 with the ChaCha20-Poly1305 suites only, none of which AWS IoT
    /// Core supports (fails Device Support for AWS IoT recommended Cipher Suites).
    Tls12ChachaOnly,
    /// MQTT: CONNECT with a client id that is not the thing name, which the policy refuses
    /// (fails MQTT Connect).
    WrongClientId,
    /// Retries after a fixed delay (the backoff base), never longer, never jittered (fails
    /// Connect Exponential Backoff Retries and Reconnect Backoff Retries).
    NoBackoff,
    /// Retries after exactly the exponential ceiling, without jitter (fails Connect Jitter
    /// Retries).
    NoJitter,
    /// Publishes no telemetry (fails MQTT Publish).
    NoTelemetry,
    /// Resends an unacknowledged QoS 1 PUBLISH without the DUP flag (fails Publish Retry On
    /// No Puback).
    NoDup,
    /// Publishes its status (the `status` command) without the RETAIN flag (fails Publish
    /// Retained Messages).
    NoRetain,
    /// Never subscribes, to its shadow delta or its jobs topics (fails MQTT Subscribe).
    NoSubscribe,
    /// Never resends an unacknowledged SUBSCRIBE (fails Subscribe Retry On No Suback).
    NoSubscribeRetry,
    /// Keeps a connection whose PINGRESP never came, and goes on pinging (fails Keep-Alive).
    IgnorePingrespLoss,
    /// CONNECT with clean session 1 every time: no persistent session (fails Persistent
    /// Session).
    CleanSessionAlways,
    /// Subscribes only on the first connection after boot and assumes the broker kept the
    /// session afterwards, whatever CONNACK says (fails Persistent Session Expiry).
    NeverResubscribe,
    /// Does not report the shadow's `toggle` back (fails Shadow Update Reported State).
    NoShadowReport,
    /// Platform: leaks 2 MiB of memory with every connection it opens (fails MQTT Long
    /// Duration, which watches the board's memory).
    LeakPerConnection,
    /// Starts jobs and applies them, but never reports their outcome: they stay
    /// IN_PROGRESS (fails Job Execution).
    JobsNeverComplete,
}

impl Flaw {
    /// Every flaw, in the order of the cases they break.
    pub const ALL: [Flaw; 21] = [
        Flaw::NoClientCert,
        Flaw::AcceptAnyServerName,
        Flaw::AcceptAnyIssuer,
        Flaw::AcceptExpiredServerCert,
        Flaw::SmallTlsBuffer,
        Flaw::SmallCertBuffer,
        Flaw::Tls12ChachaOnly,
        Flaw::WrongClientId,
        Flaw::NoBackoff,
        Flaw::NoJitter,
        Flaw::NoTelemetry,
        Flaw::NoDup,
        Flaw::NoRetain,
        Flaw::NoSubscribe,
        Flaw::NoSubscribeRetry,
        Flaw::IgnorePingrespLoss,
        Flaw::CleanSessionAlways,
        Flaw::NeverResubscribe,
        Flaw::NoShadowReport,
        Flaw::LeakPerConnection,
        Flaw::JobsNeverComplete,
    ];

    /// The kebab-case name, e.g. `no-jitter`.
    pub const fn name(self) -> &'static str {
        match self {
            Flaw::NoClientCert => "no-client-cert",
            Flaw::AcceptAnyServerName => "accept-any-server-name",
            Flaw::AcceptAnyIssuer => "accept-any-issuer",
            Flaw::AcceptExpiredServerCert => "accept-expired-server-cert",
            Flaw::SmallTlsBuffer => "small-tls-buffer",
            Flaw::SmallCertBuffer => "small-cert-buffer",
            Flaw::Tls12ChachaOnly => "tls12-chacha-only",
            Flaw::WrongClientId => "wrong-client-id",
            Flaw::NoBackoff => "no-backoff",
            Flaw::NoJitter => "no-jitter",
            Flaw::NoTelemetry => "no-telemetry",
            Flaw::NoDup => "no-dup",
            Flaw::NoRetain => "no-retain",
            Flaw::NoSubscribe => "no-subscribe",
            Flaw::NoSubscribeRetry => "no-subscribe-retry",
            Flaw::IgnorePingrespLoss => "ignore-pingresp-loss",
            Flaw::CleanSessionAlways => "clean-session-always",
            Flaw::NeverResubscribe => "never-resubscribe",
            Flaw::NoShadowReport => "no-shadow-report",
            Flaw::LeakPerConnection => "leak-per-connection",
            Flaw::JobsNeverComplete => "jobs-never-complete",
        }
    }

    /// The flaw named `name` (kebab-case), if there is one.
    pub fn from_name(name: &str) -> Option<Flaw> {
        Flaw::ALL.into_iter().find(|flaw| flaw.name() == name)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A name that is no flaw's; its message lists the flaws' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFlaw;

impl core::fmt::Display for UnknownFlaw {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("unknown flaw; the flaws are ")?;
        for (i, flaw) in Flaw::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(flaw.name())?;
        }
        Ok(())
    }
}

impl core::error::Error for UnknownFlaw {}

impl core::str::FromStr for Flaw {
    type Err = UnknownFlaw;

    /// The flaw named `name` (kebab-case), as `--flaw` takes it.
    fn from_str(name: &str) -> Result<Flaw, UnknownFlaw> {
        Flaw::from_name(name).ok_or(UnknownFlaw)
    }
}

/// A set of flaws; empty by default (the reference firmware).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flaws(u32);

impl Flaws {
    /// No flaw.
    pub const NONE: Flaws = Flaws(0);

    /// This set and `flaw`.
    #[must_use]
    pub const fn with(self, flaw: Flaw) -> Flaws {
        Flaws(self.0 | flaw.bit())
    }

    /// Is `flaw` in the set?
    pub const fn has(self, flaw: Flaw) -> bool {
        self.0 & flaw.bit() != 0
    }

    /// Is the set empty?
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flaws in the set, in [`Flaw::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Flaw> {
        Flaw::ALL.into_iter().filter(move |flaw| self.has(*flaw))
    }
}

impl FromIterator<Flaw> for Flaws {
    fn from_iter<I: IntoIterator<Item = Flaw>>(flaws: I) -> Self {
        flaws.into_iter().fold(Flaws::NONE, Flaws::with)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn every_flaw_has_its_own_name_and_bit() {
        for (i, flaw) in Flaw::ALL.into_iter().enumerate() {
            assert_eq!(Flaw::from_name(flaw.name()), Some(flaw));
            for other in &Flaw::ALL[i + 1..] {
                assert_ne!(flaw.name(), other.name());
                assert_ne!(flaw.bit(), other.bit());
            }
        }
        assert_eq!(Flaw::from_name("no_jitter"), None, "names are kebab-case");
        assert_eq!("no-retain".parse::<Flaw>(), Ok(Flaw::NoRetain));
        let unknown = std::format!("{}", "x".parse::<Flaw>().unwrap_err());
        assert!(
            unknown.starts_with("unknown flaw; the flaws are no-client-cert, ")
                && unknown.ends_with(", jobs-never-complete"),
            "{unknown}"
        );
    }

    #[test]
    fn a_set_holds_what_was_added() {
        let set: Flaws = [Flaw::NoDup, Flaw::NoJitter].into_iter().collect();
        assert!(set.has(Flaw::NoDup) && set.has(Flaw::NoJitter));
        assert!(!set.has(Flaw::NoBackoff));
        assert!(Flaws::NONE.is_empty() && !set.is_empty());
        let listed: heapless::Vec<Flaw, 21> = set.iter().collect();
        assert_eq!(listed.as_slice(), [Flaw::NoJitter, Flaw::NoDup]);
    }
}
