//! Helpers shared by the registry's unit tests in the files added for the admin API
//! (`lists`, `issuance`, `removal`, `thing_update`): a fresh registry and one with a CA.

use super::*;
use crate::dev_pki::{TestCa, Validity};

/// The time of every test operation, Unix ms (2027).
pub(crate) const NOW: u64 = 1_800_000_000_000;

/// Empty registries of account 123456789012 in eu-west-1.
pub(crate) fn registry() -> Registry {
    Registry::new(Account {
        id: "123456789012".into(),
        region: "eu-west-1".into(),
        registration_code: "0123456789abcdef0123456789abcdef".into(),
        endpoint: "mock-ats.iot.eu-west-1.amazonaws.com".into(),
    })
}

/// Registries with an ACTIVE CA (auto-registration on); the CA and its id.
pub(crate) fn with_ca() -> (Registry, TestCa, String) {
    let mut reg = registry();
    let ca = TestCa::new("signer").expect("a test CA");
    let verification = ca
        .client(&reg.account.registration_code, Validity::Long)
        .expect("a verification certificate")
        .cert_pem;
    let id = reg
        .register_ca(
            &ca.pem(),
            Some(&verification),
            true,
            true,
            CertificateMode::Default,
            None,
            NOW,
        )
        .expect("the CA registers")
        .id
        .clone();
    (reg, ca, id)
}
