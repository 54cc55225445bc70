//! CA certificates and certificates through the router: UpdateCACertificate's query and
//! body members, DeleteCACertificate, ListCertificatesByCA, CreateCertificateFromCsr and
//! CreateKeysAndCertificate (and that what they issue connects), DeleteRegistrationCode,
//! strict query booleans and certificate ids.

use super::*;
use crate::support::{TestBroker, WAIT};
use mock_broker::aws::certs::CertInfo;
use mock_broker::dev_pki::Issued;
use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData};

/// A PEM CSR for `key` with this common name.
fn csr(key: &KeyPair, cn: &str) -> String {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.serialize_request(key).unwrap().pem().unwrap()
}

#[tokio::test]
async fn update_ca_reads_status_from_the_query_and_the_template_from_the_body() {
    let p = plane();
    let (_, id) = register_ca(&p, "signer").await;
    let path = format!("/cacertificate/{id}");
    let updated = call(
        &p,
        "PUT",
        &format!("{path}?newStatus=INACTIVE&newAutoRegistrationStatus=DISABLE"),
        &[],
        json!({"registrationConfig": {"templateBody": "{\"Resources\":{}}"}}),
    )
    .await;
    assert_eq!(updated.ok(), &json!({}));
    let described = get(&p, &path).await;
    let description = &described.ok()["certificateDescription"];
    assert_eq!(description["status"], "INACTIVE");
    assert_eq!(description["autoRegistrationStatus"], "DISABLE");
    assert_eq!(
        described.json["registrationConfig"],
        json!({"templateBody": "{\"Resources\":{}}"})
    );

    let removed = call(
        &p,
        "PUT",
        &format!("{path}?newStatus=ACTIVE"),
        &[],
        json!({"removeAutoRegistration": true}),
    )
    .await;
    removed.ok();
    let described = get(&p, &path).await;
    assert_eq!(described.ok()["certificateDescription"]["status"], "ACTIVE");
    assert_eq!(described.json.get("registrationConfig"), None);

    for (uri, body) in [
        (format!("{path}?newStatus=REVOKED"), Value::Null),
        (
            format!("{path}?newAutoRegistrationStatus=MAYBE"),
            Value::Null,
        ),
        (
            path.clone(),
            json!({"registrationConfig": {"templateBody": "{not json"}}),
        ),
    ] {
        call(&p, "PUT", &uri, &[], body)
            .await
            .assert_error(400, "InvalidRequestException");
    }
    // Nothing changed by the refused updates.
    assert_eq!(
        get(&p, &path).await.json["certificateDescription"]["status"],
        "ACTIVE"
    );
    call(
        &p,
        "PUT",
        &format!("/cacertificate/{}?newStatus=ACTIVE", "a".repeat(64)),
        &[],
        Value::Null,
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
}

#[tokio::test]
async fn delete_ca_refuses_an_active_ca() {
    let p = plane();
    let (_, id) = register_ca(&p, "signer").await;
    let path = format!("/cacertificate/{id}");
    let refused = call(&p, "DELETE", &path, &[], Value::Null).await;
    refused.assert_error(406, "CertificateStateException");
    assert!(
        refused.json["message"].as_str().unwrap().contains("ACTIVE"),
        "{}",
        refused.json
    );
    get(&p, &path).await.ok();

    call(
        &p,
        "PUT",
        &format!("{path}?newStatus=INACTIVE"),
        &[],
        Value::Null,
    )
    .await
    .ok();
    assert_eq!(
        call(&p, "DELETE", &path, &[], Value::Null).await.ok(),
        &json!({})
    );
    get(&p, &path)
        .await
        .assert_error(404, "ResourceNotFoundException");
    call(&p, "DELETE", &path, &[], Value::Null)
        .await
        .assert_error(404, "ResourceNotFoundException");
    assert_eq!(
        get(&p, "/cacertificates").await.ok(),
        &json!({"certificates": []})
    );
    call(&p, "DELETE", "/cacertificate/not-an-id", &[], Value::Null)
        .await
        .assert_error(400, "InvalidRequestException");
}

#[tokio::test]
async fn list_certificates_by_ca_lists_only_that_cas_certificates() {
    let p = plane();
    let (ca1, id1) = register_ca(&p, "signer one").await;
    let (ca2, id2) = register_ca(&p, "signer two").await;
    let (a, _) = register_device(&p, &ca1, "0a").await;
    let (b, _) = register_device(&p, &ca1, "0b").await;
    let (c, _) = register_device(&p, &ca2, "0c").await;
    let ids = |reply: &Reply| -> Vec<String> {
        let mut ids: Vec<String> = reply.ok()["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["certificateId"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    let first = get(&p, &format!("/certificates-by-ca/{id1}")).await;
    assert_eq!(ids(&first), expected);
    let summary = &first.json["certificates"][0];
    let keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "certificateArn",
            "certificateId",
            "status",
            "certificateMode",
            "creationDate"
        ]
    );
    assert_eq!(summary["status"], "ACTIVE");
    assert_eq!(
        ids(&get(&p, &format!("/certificates-by-ca/{id2}")).await),
        [c]
    );
    let unknown = get(&p, &format!("/certificates-by-ca/{}", "b".repeat(64))).await;
    assert_eq!(unknown.ok(), &json!({"certificates": []}));
    get(&p, "/certificates-by-ca/short")
        .await
        .assert_error(400, "InvalidRequestException");
}

#[tokio::test]
async fn create_certificate_from_csr_issues_a_certificate_that_connects() {
    let p = plane();
    let key = KeyPair::generate().unwrap();
    let created = call(
        &p,
        "POST",
        "/certificates?setAsActive=true",
        &[],
        json!({"certificateSigningRequest": csr(&key, "ignored-cn")}),
    )
    .await;
    let json = created.ok().clone();
    let id = json["certificateId"].as_str().unwrap().to_owned();
    let arn = json["certificateArn"].as_str().unwrap().to_owned();
    assert_eq!(arn, format!("arn:aws:iot:us-east-1:123456789012:cert/{id}"));
    let pem = json["certificatePem"].as_str().unwrap().to_owned();
    let info = CertInfo::from_pem(&pem).unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.common_name.as_deref(), Some("AWS IoT Certificate"));
    let (_, parsed) = x509_parser::parse_x509_certificate(&info.der).unwrap();
    assert_eq!(parsed.public_key().raw, key.subject_public_key_info());

    let described = get(&p, &format!("/certificates/{id}")).await;
    let description = &described.ok()["certificateDescription"];
    assert_eq!(description["status"], "ACTIVE");
    assert_eq!(description["caCertificateId"], Value::Null);
    assert_eq!(description["certificateMode"], "DEFAULT");
    assert_eq!(description["certificatePem"], pem.as_str());

    // The TLS verifier admits it, and with a policy it connects.
    call(
        &p,
        "POST",
        "/policies/open",
        &[],
        json!({"policyDocument": open_policy()}),
    )
    .await
    .ok();
    call(
        &p,
        "PUT",
        "/target-policies/open",
        &[],
        json!({"target": arn}),
    )
    .await
    .ok();
    let issued = Issued::from_pem(&pem, &key.serialize_pem()).unwrap();
    let hook = p.clone();
    let t = TestBroker::start_with(move |c| hook.install(c)).await;
    let mut device = t.client_with_cert("csr-device", &issued, |_| {});
    assert!(!device.connected().await);

    // Without setAsActive: INACTIVE, and the same CSR again is another certificate.
    let inactive = call(
        &p,
        "POST",
        "/certificates",
        &[],
        json!({"certificateSigningRequest": csr(&key, "ignored-cn")}),
    )
    .await;
    let other = inactive.ok()["certificateId"].as_str().unwrap().to_owned();
    assert_ne!(other, id);
    assert_eq!(
        get(&p, &format!("/certificates/{other}")).await.json["certificateDescription"]["status"],
        "INACTIVE"
    );
}

#[tokio::test]
async fn bad_csrs_and_flags_are_invalid_requests() {
    let p = plane();
    let key = KeyPair::generate().unwrap();
    let ca = TestCa::new("not a csr").unwrap();
    for (uri, body) in [
        ("/certificates", json!({})),
        (
            "/certificates",
            json!({"certificateSigningRequest": "garbage"}),
        ),
        (
            "/certificates",
            json!({"certificateSigningRequest": ca.pem()}),
        ),
        (
            "/certificates?setAsActive=yes",
            json!({"certificateSigningRequest": csr(&key, "x")}),
        ),
        ("/keys-and-certificate?setAsActive=1", Value::Null),
    ] {
        call(&p, "POST", uri, &[], body)
            .await
            .assert_error(400, "InvalidRequestException");
    }
    assert_eq!(
        get(&p, "/certificates").await.ok(),
        &json!({"certificates": []})
    );
}

#[tokio::test]
async fn create_keys_and_certificate_returns_an_rsa_key_pair_that_connects() {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let p = plane();
    let created = call(
        &p,
        "POST",
        "/keys-and-certificate?setAsActive=true",
        &[],
        Value::Null,
    )
    .await;
    let json = created.ok().clone();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "certificateArn",
            "certificateId",
            "certificatePem",
            "keyPair"
        ]
    );
    let private = json["keyPair"]["PrivateKey"].as_str().unwrap();
    let public = json["keyPair"]["PublicKey"].as_str().unwrap();
    assert!(private.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let pem = json["certificatePem"].as_str().unwrap();
    let info = CertInfo::from_pem(pem).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&info.der).unwrap();
    assert_eq!(
        parsed.public_key().raw,
        ::pem::parse(public).unwrap().contents()
    );
    let rsa_key = rsa::RsaPrivateKey::from_pkcs1_pem(private).unwrap();
    assert_eq!(rsa::traits::PublicKeyParts::size(&rsa_key), 256);
    let id = json["certificateId"].as_str().unwrap();
    assert_eq!(
        get(&p, &format!("/certificates/{id}")).await.json["certificateDescription"]["status"],
        "ACTIVE"
    );

    let arn = json["certificateArn"].as_str().unwrap();
    call(
        &p,
        "POST",
        "/policies/open",
        &[],
        json!({"policyDocument": open_policy()}),
    )
    .await
    .ok();
    call(
        &p,
        "PUT",
        "/target-policies/open",
        &[],
        json!({"target": arn}),
    )
    .await
    .ok();
    let pkcs8 = rsa_key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let issued = Issued::from_pem(pem, &pkcs8).unwrap();
    let hook = p.clone();
    let t = TestBroker::start_with(move |c| hook.install(c)).await;
    let mut device = t.client_with_cert("rsa-device", &issued, |_| {});
    tokio::time::timeout(WAIT, device.connected())
        .await
        .expect("the RSA certificate connects");
}

#[tokio::test]
async fn delete_registration_code_makes_a_new_one() {
    let p = plane();
    let before = get(&p, "/registrationcode").await.ok()["registrationCode"].clone();
    assert_eq!(
        call(&p, "DELETE", "/registrationcode", &[], Value::Null)
            .await
            .ok(),
        &json!({})
    );
    let after = get(&p, "/registrationcode").await.ok()["registrationCode"].clone();
    assert_ne!(before, after);
    assert_eq!(after.as_str().unwrap().len(), 64);
    // A verification certificate must now carry the new code.
    let ca = TestCa::new("late signer").unwrap();
    let old = ca
        .client(before.as_str().unwrap(), Validity::Long)
        .unwrap()
        .cert_pem;
    call(
        &p,
        "POST",
        "/cacertificate",
        &[],
        json!({"caCertificate": ca.pem(), "verificationCertificate": old}),
    )
    .await
    .assert_error(400, "CertificateValidationException");
}
