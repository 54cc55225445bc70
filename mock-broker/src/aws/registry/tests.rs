//! Unit tests of the registries: every operation, and bad input that changes nothing.

use super::*;
use crate::dev_pki::{TestCa, Validity};

pub(super) const NOW: u64 = 1_800_000_000_000;

fn registry() -> Registry {
    Registry::new(Account {
        id: "123456789012".into(),
        region: "eu-west-1".into(),
        registration_code: "0123456789abcdef0123456789abcdef".into(),
        endpoint: "mock-ats.iot.eu-west-1.amazonaws.com".into(),
    })
}

fn verification(ca: &TestCa, reg: &Registry) -> String {
    ca.client(&reg.account.registration_code, Validity::Long)
        .unwrap()
        .cert_pem
}

pub(super) fn with_ca() -> (Registry, TestCa, String) {
    let mut reg = registry();
    let ca = TestCa::new("signer").unwrap();
    let v = verification(&ca, &reg);
    let id = reg
        .register_ca(
            &ca.pem(),
            Some(&v),
            true,
            true,
            CertificateMode::Default,
            None,
            NOW,
        )
        .unwrap()
        .id
        .clone();
    (reg, ca, id)
}

pub(super) fn kind(result: Result<impl std::fmt::Debug, AwsError>) -> AwsErrorKind {
    result.unwrap_err().kind
}

#[test]
fn a_ca_is_registered_with_a_verification_certificate() {
    let (reg, ca, id) = with_ca();
    let record = reg.ca(&id).unwrap();
    assert_eq!(record.status, CaStatus::Active);
    assert!(record.auto_registration);
    assert_eq!(id, crate::mqtt::hooks::certificate_id(&ca.der()));
    assert_eq!(reg.cas().count(), 1);
}

#[test]
fn a_duplicate_ca_carries_the_existing_id() {
    let (mut reg, ca, id) = with_ca();
    let v = verification(&ca, &reg);
    let err = reg
        .register_ca(
            &ca.pem(),
            Some(&v),
            true,
            true,
            CertificateMode::Default,
            None,
            NOW,
        )
        .unwrap_err();
    assert_eq!(err.name(), "ResourceAlreadyExistsException");
    assert_eq!(err.http_status(), 409);
    assert!(
        matches!(err.kind, AwsErrorKind::ResourceAlreadyExists { resource_id, .. } if resource_id == id)
    );
}

#[test]
fn bad_verification_certificates_are_refused_and_nothing_is_stored() {
    let mut reg = registry();
    let ca = TestCa::new("signer").unwrap();
    let wrong_cn = ca.client("not-the-code", Validity::Long).unwrap().cert_pem;
    let other = TestCa::new("other").unwrap();
    let wrong_signer = verification(&other, &reg);
    for pem in [wrong_cn, wrong_signer, "garbage".to_owned()] {
        let err = reg
            .register_ca(
                &ca.pem(),
                Some(&pem),
                true,
                true,
                CertificateMode::Default,
                None,
                NOW,
            )
            .unwrap_err();
        assert_eq!(err.name(), "CertificateValidationException", "{err}");
    }
    assert_eq!(
        kind(reg.register_ca(
            &ca.pem(),
            None,
            true,
            true,
            CertificateMode::Default,
            None,
            NOW
        )),
        AwsErrorKind::InvalidRequest
    );
    assert_eq!(reg.cas().count(), 0);
}

#[test]
fn a_leaf_is_not_a_ca_and_an_expired_ca_is_refused() {
    let mut reg = registry();
    let ca = TestCa::new("root").unwrap();
    let leaf = ca.client("leaf", Validity::Long).unwrap();
    assert_eq!(
        kind(reg.register_ca(
            &leaf.cert_pem,
            None,
            true,
            true,
            CertificateMode::SniOnly,
            None,
            NOW
        )),
        AwsErrorKind::CertificateValidation
    );
    // A CA valid only in 2020.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let expired = params.self_signed(&key).unwrap().pem();
    let err = reg
        .register_ca(
            &expired,
            None,
            true,
            true,
            CertificateMode::SniOnly,
            None,
            NOW,
        )
        .unwrap_err();
    assert!(err.message.contains("expired"), "{err}");
    assert_eq!(reg.cas().count(), 0);
}

#[test]
fn sni_only_needs_no_verification() {
    let mut reg = registry();
    let ca = TestCa::new("signer").unwrap();
    let record = reg
        .register_ca(
            &ca.pem(),
            None,
            false,
            false,
            CertificateMode::SniOnly,
            None,
            NOW,
        )
        .unwrap();
    assert_eq!(record.status, CaStatus::Inactive);
    assert_eq!(record.mode, CertificateMode::SniOnly);
}

#[test]
fn update_ca_changes_status_and_auto_registration() {
    let (mut reg, _, id) = with_ca();
    reg.update_ca(&id, Some(CaStatus::Inactive), Some(false), None, NOW + 1)
        .unwrap();
    let ca = reg.ca(&id).unwrap();
    assert_eq!(
        (ca.status, ca.auto_registration, ca.modified_ms),
        (CaStatus::Inactive, false, NOW + 1)
    );
    assert_eq!(
        kind(reg.update_ca("nope", None, None, None, NOW)),
        AwsErrorKind::ResourceNotFound
    );
}

#[test]
fn certificates_are_registered_under_their_ca_and_updated() {
    let (mut reg, ca, ca_id) = with_ca();
    let device = ca.client("sn0123", Validity::Long).unwrap();
    let record = reg
        .register_certificate(
            &device.cert_pem,
            Some(&ca.pem()),
            CertificateStatus::Active,
            NOW,
        )
        .unwrap();
    assert_eq!(record.ca_id.as_deref(), Some(ca_id.as_str()));
    let id = record.id.clone();
    assert_eq!(reg.certificates().count(), 1);
    reg.update_certificate(&id, CertificateStatus::Revoked, NOW)
        .unwrap();
    assert_eq!(
        kind(reg.update_certificate(&id, CertificateStatus::Active, NOW)),
        AwsErrorKind::CertificateState
    );
    // A certificate of an unregistered CA.
    let stranger = TestCa::new("stranger")
        .unwrap()
        .client("x", Validity::Long)
        .unwrap();
    assert_eq!(
        kind(reg.register_certificate(&stranger.cert_pem, None, CertificateStatus::Active, NOW)),
        AwsErrorKind::ResourceNotFound
    );
    // Without a CA, any certificate.
    let no_ca = reg
        .register_certificate_without_ca(&stranger.cert_pem, CertificateStatus::Active, NOW)
        .unwrap();
    assert_eq!(no_ca.ca_id, None);
}

#[test]
fn deleting_a_certificate_needs_it_inactive_and_detached() {
    let (mut reg, ca, _) = with_ca();
    let device = ca.client("d", Validity::Long).unwrap();
    let id = reg
        .register_certificate(&device.cert_pem, None, CertificateStatus::Active, NOW)
        .unwrap()
        .id
        .clone();
    assert_eq!(
        kind(reg.delete_certificate(&id, false)),
        AwsErrorKind::CertificateState
    );
    reg.update_certificate(&id, CertificateStatus::Inactive, NOW)
        .unwrap();
    let arn = reg.arn("cert", &id);
    reg.create_policy(
        "p",
        r#"{"Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}}"#,
        NOW,
    )
    .unwrap();
    reg.attach_policy("p", &arn).unwrap();
    assert_eq!(
        kind(reg.delete_certificate(&id, false)),
        AwsErrorKind::DeleteConflict
    );
    reg.delete_certificate(&id, true).unwrap();
    assert!(reg.certificate(&id).is_err());
    assert!(reg.attached_policies(&arn).is_empty());
}

#[test]
fn things_and_their_principals() {
    let (mut reg, ca, _) = with_ca();
    let device = ca.client("d", Validity::Long).unwrap();
    let id = reg
        .register_certificate(&device.cert_pem, None, CertificateStatus::Active, NOW)
        .unwrap()
        .id
        .clone();
    reg.create_thing("abc123", BTreeMap::new()).unwrap();
    // Idempotent with the same attributes, a conflict with others.
    reg.create_thing("abc123", BTreeMap::new()).unwrap();
    let attrs = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
    assert!(matches!(
        kind(reg.create_thing("abc123", attrs)),
        AwsErrorKind::ResourceAlreadyExists { .. }
    ));
    assert_eq!(
        kind(reg.create_thing("bad name!", BTreeMap::new())),
        AwsErrorKind::InvalidRequest
    );
    let arn = reg.arn("cert", &id);
    assert!(!reg.is_attached("abc123", &id));
    reg.attach_thing_principal("abc123", &arn).unwrap();
    assert!(reg.is_attached("abc123", &id));
    assert_eq!(reg.thing_principals("abc123").unwrap(), vec![arn.clone()]);
    assert_eq!(
        kind(reg.delete_thing("abc123")),
        AwsErrorKind::InvalidRequest
    );
    reg.detach_thing_principal("abc123", &arn).unwrap();
    reg.delete_thing("abc123").unwrap();
    assert_eq!(kind(reg.thing("abc123")), AwsErrorKind::ResourceNotFound);
}

#[test]
fn policies_are_checked_attached_and_listed() {
    let (mut reg, ca, _) = with_ca();
    assert_eq!(
        kind(reg.create_policy("bad", "{not json", NOW)),
        AwsErrorKind::MalformedPolicy
    );
    assert_eq!(
        kind(reg.create_policy(
            "bad",
            r#"{"Statement":{"Effect":"Allow","Action":"iot:Teleport","Resource":"*"}}"#,
            NOW
        )),
        AwsErrorKind::MalformedPolicy
    );
    assert!(reg.policy("bad").is_err(), "nothing stored");
    reg.create_policy(
        "p",
        &crate::aws::policy::microchip_jitr_policy("eu-west-1", "123456789012", "d"),
        NOW,
    )
    .unwrap();
    let device = ca.client("d", Validity::Long).unwrap();
    let id = reg
        .register_certificate(&device.cert_pem, None, CertificateStatus::Active, NOW)
        .unwrap()
        .id
        .clone();
    let arn = reg.arn("cert", &id);
    assert_eq!(
        kind(reg.attach_policy("p", &reg.arn("cert", "missing"))),
        AwsErrorKind::ResourceNotFound
    );
    reg.attach_policy("p", &arn).unwrap();
    assert_eq!(reg.policies_of_certificate(&id).len(), 1);
    reg.detach_policy("p", &arn).unwrap();
    assert!(reg.policies_of_certificate(&id).is_empty());
}

#[test]
fn the_registries_survive_save_and_load() {
    let (mut reg, ca, ca_id) = with_ca();
    let device = ca.client("d", Validity::Long).unwrap();
    let id = reg
        .register_certificate(&device.cert_pem, None, CertificateStatus::Active, NOW)
        .unwrap()
        .id
        .clone();
    reg.create_thing("t", BTreeMap::new()).unwrap();
    reg.create_policy(
        "p",
        r#"{"Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}}"#,
        NOW,
    )
    .unwrap();
    let arn = reg.arn("cert", &id);
    reg.attach_policy("p", &arn).unwrap();
    let dir = tempfile::tempdir().unwrap();
    reg.save(dir.path()).unwrap();
    let back = Registry::load(dir.path()).unwrap().unwrap();
    assert!(back.ca(&ca_id).is_ok());
    assert_eq!(
        back.certificate(&id).unwrap().status,
        CertificateStatus::Active
    );
    assert!(back.thing("t").is_ok());
    assert_eq!(
        back.policies_of_certificate(&id).len(),
        1,
        "parsed again on load"
    );
    assert!(
        Registry::load(tempfile::tempdir().unwrap().path())
            .unwrap()
            .is_none()
    );
}
