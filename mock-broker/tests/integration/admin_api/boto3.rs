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
