//! boto3 drives the admin API: the Python scripts `tests/boto3_admin.py` (the seed flow)
//! and `tests/boto3_admin_ops.py` (every operation added since, boto3's paginators over
//! several pages, and the SigV4 region checks against brokers in two regions).

use super::*;

#[tokio::test]
#[ignore = "needs python3 with boto3"]
async fn boto3_drives_the_admin_api() {
    let p = plane();
    let api = admin_api::AdminApi::start("127.0.0.1:0".parse().unwrap(), p.clone())
        .await
        .unwrap();
    let code = p.read(|reg| reg.account.registration_code.clone());
    let ca = TestCa::new("boto3 signer").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ca_pem = write("ca.pem", &ca.pem());
    let verification = write(
        "verification.pem",
        &ca.client(&code, Validity::Long).unwrap().cert_pem,
    );
    let wrong = write(
        "wrong.pem",
        &ca.client("wrong", Validity::Long).unwrap().cert_pem,
    );
    let device = write("device.pem", &ca.device("b0702").unwrap().cert_pem);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_admin.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(api.url())
        .arg(&code)
        .args([&ca_pem, &verification, &wrong, &device])
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "boto3 script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("all boto3 checks passed"), "{stdout}");
}

#[tokio::test]
#[ignore = "needs python3 with boto3"]
async fn boto3_drives_every_other_operation_and_its_paginators() {
    let east1 = plane();
    let east2 = plane_in("us-east-2", "210987654321");
    let start = |p: &Arc<ControlPlane>| {
        admin_api::AdminApi::start("127.0.0.1:0".parse().unwrap(), p.clone())
    };
    let (api1, api2) = (start(&east1).await.unwrap(), start(&east2).await.unwrap());
    let code = east1.read(|reg| reg.account.registration_code.clone());
    let ca = TestCa::new("boto3 ops signer").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("ca.pem", &ca.pem());
    write(
        "verification.pem",
        &ca.client(&code, Validity::Long).unwrap().cert_pem,
    );
    for n in 1..=4 {
        write(
            &format!("device-{n}.pem"),
            &ca.device(&format!("b0{n}")).unwrap().cert_pem,
        );
    }
    let csr_key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&csr_key)
        .unwrap()
        .pem()
        .unwrap();
    write("csr.pem", &csr);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_admin_ops.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args([api1.url(), api2.url(), "210987654321".to_owned()])
        .arg(dir.path())
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "boto3 script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("all boto3 ops checks passed"), "{stdout}");
    check_issued(dir.path());
    // What the script left behind, seen from the registries.
    east1.read(|reg| {
        assert_eq!(reg.cas().count(), 0);
        assert_eq!(reg.certificates().count(), 6);
        assert_eq!(reg.things().count(), 7);
    });
    east2.read(|reg| {
        let thing = reg.thing("east-thing").unwrap();
        assert_eq!(
            reg.arn("thing", &thing.name),
            "arn:aws:iot:us-east-2:210987654321:thing/east-thing"
        );
    });
}

/// Checks what boto3 got from CreateCertificateFromCsr and CreateKeysAndCertificate (the
/// script writes it out, so this holds with or without Python's `cryptography`).
fn check_issued(dir: &std::path::Path) {
    use mock_broker::aws::certs::CertInfo;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;
    use x509_parser::prelude::FromDer;
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let spki_of = |pem: &str| -> Vec<u8> {
        let info = CertInfo::from_pem(pem).unwrap();
        assert_eq!(info.common_name.as_deref(), Some("AWS IoT Certificate"));
        let (_, cert) = x509_parser::parse_x509_certificate(&info.der).unwrap();
        cert.public_key().raw.to_vec()
    };
    let csr = ::pem::parse(read("out-csr.pem")).unwrap();
    let (_, request) =
        x509_parser::certification_request::X509CertificationRequest::from_der(csr.contents())
            .unwrap();
    assert_eq!(
        spki_of(&read("out-from-csr.pem")),
        request.certification_request_info.subject_pki.raw
    );
    let keys: Value = serde_json::from_str(&read("out-keys.json")).unwrap();
    let private =
        rsa::RsaPrivateKey::from_pkcs1_pem(keys["keyPair"]["PrivateKey"].as_str().unwrap())
            .unwrap();
    let public = private.to_public_key().to_public_key_der().unwrap();
    assert_eq!(
        spki_of(keys["certificatePem"].as_str().unwrap()),
        public.as_bytes()
    );
    assert_eq!(
        ::pem::parse(keys["keyPair"]["PublicKey"].as_str().unwrap())
            .unwrap()
            .contents(),
        public.as_bytes()
    );
}
