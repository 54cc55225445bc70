//! AWS IoT Core's TLS security policy: which cipher suites it supports, which it
//! recommends, and the names the tap gives them.
//!
//! The broker negotiates only what AWS IoT Core's default security policy,
//! `IoTSecurityPolicy_TLS13_1_2_2022_10`, lists ([`aws_provider`]), so a device offering
//! nothing from that list is refused as AWS would refuse it. [`SUPPORTED`] is that list
//! ("Transport security in AWS IoT Core", table "Security policies"); rustls has no CBC or
//! static-RSA suites, so those are listed and judged but never negotiated here. The tap
//! names every suite a client offers ([`suite_name`]); the harness judges them with
//! [`support_of`], as AWS IoT Device Advisor's "TLS Device Support for AWS IoT recommended
//! Cipher Suites" case does. Building TLS configurations is left to [`crate::mqtt::tls`].

use rustls::CipherSuite;
use rustls::crypto::CryptoProvider;
use std::sync::Arc;

/// How AWS IoT Core regards a cipher suite a device offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Support {
    /// Supported and recommended.
    Recommended,
    /// Supported by the default security policy, not recommended.
    Supported,
    /// Not in the default security policy: AWS IoT Core never negotiates it.
    Unsupported,
    /// Not a cipher suite: a signalling value (`TLS_EMPTY_RENEGOTIATION_INFO_SCSV`,
    /// `TLS_FALLBACK_SCSV`) or a GREASE value (RFC 8701), which a judge ignores.
    Signalling,
}

/// One suite of the default security policy: its IANA code and name, its OpenSSL name
/// (the one AWS's table uses for TLS 1.2), and whether AWS recommends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicySuite {
    /// The IANA code point.
    pub code: u16,
    /// The IANA name, e.g. `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`.
    pub name: &'static str,
    /// The OpenSSL name AWS's table gives, e.g. `ECDHE-ECDSA-AES128-GCM-SHA256`.
    pub openssl: &'static str,
    /// Recommended or only supported.
    pub support: Support,
}

const fn suite(
    code: u16,
    name: &'static str,
    openssl: &'static str,
    support: Support,
) -> PolicySuite {
    PolicySuite {
        code,
        name,
        openssl,
        support,
    }
}

use Support::{Recommended, Supported};

/// The cipher suites of `IoTSecurityPolicy_TLS13_1_2_2022_10`, AWS IoT Core's default
/// security policy, in the order of AWS's table.
///
/// Recommended: `ECDHE-ECDSA-AES128-GCM-SHA256` and `ECDHE-RSA-AES128-GCM-SHA256`, the two
/// that AWS IoT's developer guide marked "(recommended)" in its cipher suite list, and
/// `TLS_AES_128_GCM_SHA256`, their TLS 1.3 counterpart (AWS's current table marks none;
/// counting the TLS 1.3 suite is this project's reading, so a TLS 1.3-only device can pass).
#[rustfmt::skip]
pub const SUPPORTED: [PolicySuite; 21] = [
    suite(0x1301, "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", Recommended),
    suite(0x1302, "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", Supported),
    suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", Supported),
    suite(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", Recommended),
    suite(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", Supported),
    suite(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", Supported),
    suite(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", Supported),
    suite(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384", Supported),
    suite(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", Supported),
    suite(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", Supported),
    suite(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256", Supported),
    suite(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", Supported),
    suite(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", Supported),
    suite(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256", Supported),
    suite(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", Supported),
    suite(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", Recommended),
    suite(0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256", Supported),
    suite(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", Supported),
    suite(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", Supported),
    suite(0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384", Supported),
    suite(0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", Supported),
];

/// Is `code` a signalling or GREASE value rather than a cipher suite?
fn signalling(code: u16) -> bool {
    let grease = code & 0x0F0F == 0x0A0A && code >> 8 == code & 0xFF;
    grease || code == 0x00FF || code == 0x5600
}

/// How AWS IoT Core regards the suite with IANA code `code`.
pub fn support_of(code: u16) -> Support {
    if signalling(code) {
        return Support::Signalling;
    }
    SUPPORTED
        .iter()
        .find(|s| s.code == code)
        .map_or(Support::Unsupported, |s| s.support)
}

/// The IANA name of the suite with code `code` (rustls's name for suites outside AWS's
/// list, `0x1234` for one neither knows).
pub fn suite_name(code: u16) -> String {
    if let Some(known) = SUPPORTED.iter().find(|s| s.code == code) {
        return known.name.to_owned();
    }
    match CipherSuite::from(code).as_str() {
        // rustls says `TLS13_...` where IANA says `TLS_...`.
        Some(name) => name.replacen("TLS13_", "TLS_", 1),
        None => format!("0x{code:04X}"),
    }
}

/// How AWS IoT Core regards the suite a tap event names ([`suite_name`]'s names).
pub fn support_of_name(name: &str) -> Support {
    if let Some(known) = SUPPORTED.iter().find(|s| s.name == name) {
        return known.support;
    }
    if let Some(code) = name
        .strip_prefix("0x")
        .and_then(|hex| u16::from_str_radix(hex, 16).ok())
    {
        return support_of(code);
    }
    if [0x00FF, 0x5600]
        .iter()
        .any(|code| suite_name(*code) == name)
    {
        return Support::Signalling;
    }
    Support::Unsupported
}

/// The ring provider with only the suites AWS IoT Core's default policy has (rustls's
/// TLS 1.2 ChaCha20-Poly1305 suites are dropped).
pub fn aws_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|s| support_of(u16::from(s.suite())) != Support::Unsupported);
    Arc::new(provider)
}

/// The suites of [`SUPPORTED`] the broker can negotiate with an ECDSA server certificate
/// (the test PKI's is P-256), in [`SUPPORTED`]'s order: the TLS 1.3 suites and the
/// ECDHE-ECDSA GCM ones. The ECDHE-RSA suites need an RSA certificate, and rustls has no
/// CBC or static-RSA suites.
pub fn negotiable_with_ecdsa() -> Vec<PolicySuite> {
    let provider = aws_provider();
    SUPPORTED
        .iter()
        .filter(|s| {
            provider
                .cipher_suites
                .iter()
                .any(|p| u16::from(p.suite()) == s.code)
        })
        .filter(|s| !s.name.contains("_RSA_"))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_are_judged_by_the_default_policy() {
        assert_eq!(support_of(0x1301), Support::Recommended);
        assert_eq!(support_of(0xC02B), Support::Recommended);
        assert_eq!(support_of(0xC02C), Support::Supported);
        // ECDHE-ECDSA-CHACHA20-POLY1305: not in AWS's table.
        assert_eq!(support_of(0xCCA9), Support::Unsupported);
        assert_eq!(support_of(0x00FF), Support::Signalling);
        assert_eq!(support_of(0x5A5A), Support::Signalling);
        assert_eq!(support_of(0x5A5B), Support::Unsupported);
    }

    #[test]
    fn names_are_iana_names_both_ways() {
        assert_eq!(suite_name(0x1303), "TLS_CHACHA20_POLY1305_SHA256");
        assert_eq!(
            suite_name(0xCCA9),
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        );
        assert_eq!(suite_name(0x1234), "0x1234");
        for code in [0x1301, 0xC02F, 0xCCA9, 0x1234, 0x00FF, 0x5600, 0x2A2A] {
            assert_eq!(support_of_name(&suite_name(code)), support_of(code));
        }
    }

    #[test]
    fn with_an_ecdsa_certificate_five_suites_can_be_negotiated() {
        let names: Vec<&str> = negotiable_with_ecdsa().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "TLS_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            ]
        );
    }

    #[test]
    fn the_broker_negotiates_only_what_aws_supports() {
        let provider = aws_provider();
        let codes: Vec<u16> = provider
            .cipher_suites
            .iter()
            .map(|s| u16::from(s.suite()))
            .collect();
        assert!(
            codes.contains(&0x1303) && codes.contains(&0xC02B),
            "{codes:x?}"
        );
        assert!(
            !codes.contains(&0xCCA9) && !codes.contains(&0xCCA8),
            "{codes:x?}"
        );
        assert!(codes.iter().all(|c| support_of(*c) != Support::Unsupported));
    }
}
