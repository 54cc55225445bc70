//! Unit tests of the certificate state machine as AWS IoT Core enforces it (measured on the
//! live service): statuses AWS keeps for itself, REVOKED as the end, what may be deleted,
//! and which changes close live connections.

use super::tests::{NOW, kind, with_ca};
use super::*;
use crate::dev_pki::Validity;

#[test]
fn registering_with_a_pending_status_is_a_certificate_state_exception() {
    let (mut reg, ca, _) = with_ca();
    let device = ca.client("d", Validity::Long).unwrap();
    for status in [
        CertificateStatus::PendingActivation,
        CertificateStatus::PendingTransfer,
    ] {
        let error = reg
            .register_certificate(&device.cert_pem, None, status, NOW)
            .unwrap_err();
        assert_eq!(error.kind, AwsErrorKind::CertificateState, "{status:?}");
        assert_eq!(error.http_status(), 406);
        assert_eq!(error.name(), "CertificateStateException");
        assert_eq!(
            kind(reg.register_certificate_without_ca(&device.cert_pem, status, NOW)),
            AwsErrorKind::CertificateState,
            "{status:?} without a CA"
        );
    }
    assert_eq!(reg.certificates().count(), 0, "nothing was registered");
    // A status of the developer's is fine.
    reg.register_certificate(&device.cert_pem, None, CertificateStatus::Inactive, NOW)
        .unwrap();
}

#[test]
fn update_certificate_cannot_set_a_pending_status_and_revoked_is_final() {
    let (mut reg, ca, _) = with_ca();
    let device = ca.client("d", Validity::Long).unwrap();
    let id = reg
        .register_certificate(&device.cert_pem, None, CertificateStatus::Active, NOW)
        .unwrap()
        .id
        .clone();
    for status in [
        CertificateStatus::PendingActivation,
        CertificateStatus::PendingTransfer,
    ] {
        let error = reg.update_certificate(&id, status, NOW).unwrap_err();
        assert_eq!(error.kind, AwsErrorKind::InvalidRequest, "{status:?}");
        assert_eq!(error.http_status(), 400);
    }
    assert_eq!(
        reg.certificate(&id).unwrap().status,
        CertificateStatus::Active
    );
    reg.update_certificate(&id, CertificateStatus::Revoked, NOW)
        .unwrap();
    for status in [CertificateStatus::Active, CertificateStatus::Inactive] {
        assert_eq!(
            kind(reg.update_certificate(&id, status, NOW)),
            AwsErrorKind::CertificateState
        );
    }
}

#[test]
fn delete_certificate_refuses_active_and_attached_things_but_takes_pending() {
    let (mut reg, ca, _) = with_ca();
    let device = ca.client("d", Validity::Long).unwrap();
    let id = reg
        .register_certificate(&device.cert_pem, None, CertificateStatus::Active, NOW)
        .unwrap()
        .id
        .clone();
    let error = reg.delete_certificate(&id, true).unwrap_err();
    assert_eq!(error.name(), "CertificateStateException");
    reg.update_certificate(&id, CertificateStatus::Inactive, NOW)
        .unwrap();
    reg.create_thing("t", Default::default()).unwrap();
    let arn = reg.arn("cert", &id);
    reg.attach_thing_principal("t", &arn).unwrap();
    let error = reg.delete_certificate(&id, true).unwrap_err();
    assert_eq!(error.name(), "DeleteConflictException");
    assert_eq!(error.http_status(), 409);
    reg.detach_thing_principal("t", &arn).unwrap();
    reg.delete_certificate(&id, false).unwrap();

    // A certificate JITR left PENDING_ACTIVATION is not ACTIVE: it may be deleted.
    let pending = ca.client("p", Validity::Long).unwrap();
    let info = CertInfo::from_pem(&pending.cert_pem).unwrap();
    let ca_id = reg.issuing_ca(&info).unwrap().id.clone();
    reg.register_presented(&info, &ca_id, CertificateStatus::PendingActivation, NOW)
        .unwrap();
    reg.delete_certificate(&info.id, false).unwrap();
}

#[test]
fn leaving_active_is_reported_once_and_a_deactivated_ca_reports_what_it_issued() {
    let (mut reg, ca, ca_id) = with_ca();
    let register = |reg: &mut Registry, name: &str, status| {
        let cert = ca.client(name, Validity::Long).unwrap();
        reg.register_certificate(&cert.cert_pem, None, status, NOW)
            .unwrap()
            .id
            .clone()
    };
    let a = register(&mut reg, "a", CertificateStatus::Active);
    let b = register(&mut reg, "b", CertificateStatus::Active);
    let c = register(&mut reg, "c", CertificateStatus::Inactive);
    assert!(reg.take_revoked().is_empty());

    reg.update_certificate(&a, CertificateStatus::Inactive, NOW)
        .unwrap();
    reg.update_certificate(&a, CertificateStatus::Revoked, NOW)
        .unwrap();
    reg.update_certificate(&c, CertificateStatus::Active, NOW)
        .unwrap();
    assert_eq!(
        reg.take_revoked(),
        std::slice::from_ref(&a),
        "only ACTIVE to not ACTIVE"
    );
    assert!(reg.take_revoked().is_empty(), "taken once");

    reg.update_ca(&ca_id, Some(CaStatus::Inactive), None, None, NOW)
        .unwrap();
    let mut issued = reg.take_revoked();
    issued.sort();
    let mut expected = vec![a, b, c];
    expected.sort();
    assert_eq!(issued, expected, "every certificate the CA issued");
    reg.update_ca(&ca_id, Some(CaStatus::Inactive), None, None, NOW)
        .unwrap();
    assert!(reg.take_revoked().is_empty(), "already INACTIVE");
}
