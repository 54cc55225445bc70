//! The image without a network: boot banner, console commands, the LED register, flash and
//! key across resets and power cycles, erase, and bad console input.

use super::rig::*;
use crate::support::{Pki, bad_input_is_refused, provision};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_boots_answers_the_console_and_lights_red_unprovisioned() {
    let dir = tempfile::tempdir().unwrap();
    let (mut board, mut console, banner) = QemuBoard::boot(&dir.path().join("state")).await;
    assert!(banner.starts_with("HIL reference firmware"), "{banner:?}");
    assert!(
        banner.contains("[W] missing credentials: cert, rootca, endpoint, wifi\r\n"),
        "{banner:?}"
    );
    console.sync().await;
    assert_eq!(console.command("version").await, env!("CARGO_PKG_VERSION"));
    assert_eq!(console.command("cli_version").await, "2.0");
    let device = console.command("device").await;
    assert!(
        device.len() == 16
            && device.starts_with("0123")
            && device.ends_with("EE")
            && device.chars().all(|c| c.is_ascii_hexdigit()),
        "{device}"
    );
    assert!(banner.contains(&format!("(device {device})")), "{banner:?}");
    let thing = console.command("thing").await;
    assert!(
        thing.len() == 40 && thing.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{thing}"
    );
    let help = console.command("help").await;
    assert!(
        help.starts_with("ERROR: unknown command; commands:\r\n  reset\r\n"),
        "{help}"
    );
    assert!(
        help.contains("  endpoint <host>[:<port>]\r\n  erase"),
        "{help}"
    );
    // Unprovisioned: red only.
    board.wait_leds(RED).await;

    // Typed faster than the firmware reads (2.7 KB in one write, more than its 1 KiB
    // queue): every command is answered.
    console.send(&"cli_version\r\n".repeat(200));
    for i in 0..200 {
        assert_eq!(console.reply().await, "2.0", "reply {i}");
    }

    // The CSR is for the key the thing name is derived from, signed by it.
    let csr = console.command("csr").await.replace("\r\n", "\n");
    let params = rcgen::CertificateSigningRequestParams::from_pem(&csr).unwrap();
    let ski =
        <sha1::Sha1 as sha1::Digest>::digest(rcgen::PublicKeyData::der_bytes(&params.public_key));
    assert_eq!(
        ski.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        thing
    );
    use x509_parser::prelude::FromDer;
    let (_, pem) = x509_parser::pem::parse_x509_pem(csr.as_bytes()).unwrap();
    let (_, parsed) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
            .unwrap();
    parsed.verify_signature().expect("the CSR is self-signed");
    assert_eq!(
        parsed.certification_request_info.subject.to_string(),
        format!("CN=sn{device}, O=Microchip Technology Inc")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn credentials_and_the_key_survive_resets_and_erase_forgets_the_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let pki = Pki::new();
    let (mut board, mut console, _) = QemuBoard::boot(&state).await;
    console.sync().await;
    let device = console.command("device").await;
    let thing = provision(&mut console, &pki, 8883).await;
    let nvm = std::fs::read_to_string(state.join("nvm.json")).unwrap();
    assert!(nvm.contains(&thing), "{nvm}");
    let key = std::fs::read_to_string(state.join("device-key.pem")).unwrap();
    // The emulated board's key format: PKCS#8 that rcgen (ring) loads, for this thing.
    let pair = rcgen::KeyPair::from_pem(&key).unwrap();
    let ski = <sha1::Sha1 as sha1::Digest>::digest(pair.public_key_raw());
    assert_eq!(
        ski.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        thing
    );

    // A reset through QMP: the board boots from flash, complete, and goes online. QEMU
    // gives the machine its default NIC on the user network, so the link comes up (blue
    // holds) but no broker answers for the endpoint: green blinks while it keeps trying,
    // red stays off.
    board.reset().await;
    let banner = banner_after_reset(&mut console).await;
    assert!(!banner.contains("missing credentials"), "{banner:?}");
    assert_eq!(console.command("thing").await, thing);
    board
        .watch_leds("blue held, green blinking, without red", |seen| {
            assert!(seen.iter().all(|v| v & RED == 0), "red: {seen:x?}");
            seen.last().is_some_and(|v| v & BLUE != 0)
                && seen.iter().any(|v| v & GREEN != 0)
                && seen.iter().any(|v| v & GREEN == 0)
        })
        .await;

    // The console's reset too.
    assert_eq!(console.command("reset").await, "OK");
    let banner = banner_after_reset(&mut console).await;
    assert!(!banner.contains("missing credentials"), "{banner:?}");

    // A power cycle: a new QEMU on the same state dir is the same board.
    drop(console);
    drop(board);
    let (mut board, mut console, banner) = QemuBoard::boot(&state).await;
    assert!(banner.contains(&format!("(device {device})")), "{banner:?}");
    assert!(!banner.contains("missing credentials"), "{banner:?}");
    console.sync().await;
    assert_eq!(console.command("thing").await, thing);
    assert_eq!(
        std::fs::read_to_string(state.join("device-key.pem")).unwrap(),
        key
    );

    // Erase forgets the credentials, not the key.
    assert_eq!(console.command("erase").await, "OK");
    board.reset().await;
    let banner = banner_after_reset(&mut console).await;
    assert!(
        banner.contains("[W] missing credentials: cert, rootca, endpoint, wifi"),
        "{banner:?}"
    );
    board.wait_leds(RED).await;
    assert_eq!(console.command("thing").await, thing);
    assert_eq!(console.command("device").await, device);
    let nvm: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("nvm.json")).unwrap()).unwrap();
    assert!(
        nvm.as_object().unwrap().values().all(Value::is_null),
        "{nvm}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn bad_console_input_is_refused_and_the_board_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (_board, mut console, _) = QemuBoard::boot(&dir.path().join("state")).await;
    console.sync().await;
    bad_input_is_refused(&mut console, &pki).await;
}
