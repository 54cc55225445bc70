//! The reference firmware as a Cortex-M3 image (`fut-mps2-an385`, built by
//! `ci/build-qemu-firmware`) under `qemu-system-arm -M mps2-an385`, driven the way the
//! harness's QEMU board kind will drive it: the console on QEMU's serial PTY (opened with
//! `serialport`, like any board's), LEDs read from their register through QMP
//! (`human-monitor-command` `xp`), resets through QMP (`system_reset`), the board's flash
//! and key in its state dir (QEMU's working directory, reached through semihosting).
//!
//! With a NIC (`-nic user,model=lan9118,id=net0`: QEMU's user network, no root) the board
//! gets a DHCP lease, resolves the endpoint through the `hosts` file in its state dir
//! (`10.0.2.2 broker.hil.test`: QEMU forwards 10.0.2.2 to the host's loopback, where the
//! mock broker listens) and connects with TLS and MQTT; QMP `set_link net0 off` is its
//! Wi-Fi going away. The ELF is `$HIL_QEMU_FIRMWARE`, or the path `ci/build-qemu-firmware` prints.

use crate::support::{Console, ENDPOINT, Pki, WAIT, provision};
use mock_broker::EventKind;
use rumqttc::QoS;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The four LEDs: bits 0-3 of the SCC's CFG_REG1 (the MCC LEDs), active high.
const LED_REGISTER: u32 = 0x4002_f004;
const BLUE: u32 = 1 << 0;
const GREEN: u32 = 1 << 1;
const YELLOW: u32 = 1 << 2;
const RED: u32 = 1 << 3;
/// The NIC's netdev id, for `set_link`.
const NETDEV: &str = "net0";

fn firmware() -> PathBuf {
    let path = std::env::var_os("HIL_QEMU_FIRMWARE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/qemu/thumbv7m-none-eabi/release/fut-mps2-an385")
        });
    assert!(
        path.is_file(),
        "no firmware image at {}: run ci/build-qemu-firmware or set HIL_QEMU_FIRMWARE",
        path.display()
    );
    path
}

/// A QMP connection.
struct Qmp {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
}

impl Qmp {
    /// Connects once QEMU has made the socket, and leaves capabilities negotiation.
    async fn connect(path: &Path) -> Qmp {
        let deadline = tokio::time::Instant::now() + WAIT;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(stream) => break stream,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "QEMU's QMP socket {} never answered: {e}",
                        path.display()
                    );
                    // QEMU creates the socket while it starts: poll for it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        let (read, write) = stream.into_split();
        let mut qmp = Qmp {
            lines: BufReader::new(read).lines(),
            write,
        };
        let greeting = qmp.next().await;
        assert!(greeting.get("QMP").is_some(), "{greeting}");
        qmp.execute("qmp_capabilities", json!({})).await;
        qmp
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("QMP answers")
            .expect("QMP is readable")
            .expect("QEMU closed QMP");
        serde_json::from_str(&line).unwrap()
    }

    /// Runs a command; returns its `return` value (events in between are skipped).
    async fn execute(&mut self, command: &str, arguments: Value) -> Value {
        let mut line = json!({"execute": command, "arguments": arguments}).to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes()).await.unwrap();
        loop {
            let reply = self.next().await;
            if let Some(value) = reply.get("return") {
                return value.clone();
            }
            assert!(reply.get("event").is_some(), "{command}: {reply}");
        }
    }

    /// Reads a word of guest physical memory with the monitor's `xp`.
    async fn read_word(&mut self, address: u32) -> u32 {
        let out = self
            .execute(
                "human-monitor-command",
                json!({"command-line": format!("xp /1wx {address:#x}")}),
            )
            .await;
        let text = out.as_str().expect("xp prints text");
        let value = text
            .split(": ")
            .nth(1)
            .and_then(|v| v.trim().strip_prefix("0x"))
            .unwrap_or_else(|| panic!("xp printed {text:?}"));
        u32::from_str_radix(value, 16).unwrap()
    }

    /// The serial port's PTY, from `query-chardev`.
    async fn serial_pty(&mut self) -> String {
        let chardevs = self.execute("query-chardev", json!({})).await;
        chardevs
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["label"] == "serial0")
            .and_then(|c| c["filename"].as_str())
            .and_then(|f| f.strip_prefix("pty:"))
            .unwrap_or_else(|| panic!("no serial0 PTY in {chardevs}"))
            .to_owned()
    }
}

/// QEMU running the image, killed on drop (also when a test panics).
struct QemuBoard {
    _child: tokio::process::Child,
    qmp: Qmp,
}

impl QemuBoard {
    /// Starts QEMU halted with its state in `state_dir`, opens the console, then lets the
    /// guest run, so the boot banner is seen; returns the banner too.
    async fn boot(state_dir: &Path) -> (QemuBoard, Console, String) {
        Self::boot_with(state_dir, &[]).await
    }

    /// As [`QemuBoard::boot`], with the LAN9118 on QEMU's user network.
    async fn boot_networked(state_dir: &Path) -> (QemuBoard, Console, String) {
        Self::boot_with(
            state_dir,
            &["-nic", &format!("user,model=lan9118,id={NETDEV}")],
        )
        .await
    }

    async fn boot_with(state_dir: &Path, extra: &[&str]) -> (QemuBoard, Console, String) {
        std::fs::create_dir_all(state_dir).unwrap();
        let qmp_path = state_dir.join("qmp.sock");
        let _ = std::fs::remove_file(&qmp_path);
        let child = tokio::process::Command::new("qemu-system-arm")
            .current_dir(state_dir)
            .args(["-M", "mps2-an385", "-display", "none", "-monitor", "none"])
            .args(["-serial", "pty", "-S"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp_path.display()))
            .arg("-kernel")
            .arg(firmware())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("qemu-system-arm starts (apt-get install qemu-system-arm)");
        let mut qmp = Qmp::connect(&qmp_path).await;
        let mut console = Console::open(&qmp.serial_pty().await);
        qmp.execute("cont", json!({})).await;
        let banner = console.expect("\u{4}").await;
        (QemuBoard { _child: child, qmp }, console, banner)
    }

    /// Sets the NIC's link up or down (QMP `set_link`).
    async fn set_link(&mut self, up: bool) {
        self.qmp
            .execute("set_link", json!({"name": NETDEV, "up": up}))
            .await;
    }

    /// Resets the machine as a reset button would (QMP `system_reset`).
    async fn reset(&mut self) {
        self.qmp.execute("system_reset", json!({})).await;
    }

    /// Polls the LED register until `done` holds for the values read so far; returns them.
    async fn watch_leds(&mut self, what: &str, mut done: impl FnMut(&[u32]) -> bool) -> Vec<u32> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            seen.push(self.qmp.read_word(LED_REGISTER).await);
            if done(&seen) {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "LEDs: {what} not seen within {WAIT:?}; register values {seen:x?}"
            );
            // Register reads are samples: a few per blink half-period is enough.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the LED register reads `value`.
    async fn wait_leds(&mut self, value: u32) {
        self.watch_leds(&format!("{value:#x}"), |seen| seen.last() == Some(&value))
            .await;
    }
}

/// Waits for the boot banner that follows a reset.
async fn banner_after_reset(console: &mut Console) -> String {
    let banner = console.expect("\u{4}").await;
    assert!(banner.contains("HIL reference firmware"), "{banner}");
    banner
}

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
    assert!(
        console
            .command(&"x".repeat(1000))
            .await
            .starts_with("ERROR: line too long")
    );
    console.send("\u{1b}\u{7}\u{1}\u{2}garbage\r\n");
    assert_eq!(console.reply().await, "ERROR: invalid characters in line");
    let not_base64 = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----";
    assert!(
        console
            .send_pem("cert", not_base64)
            .await
            .starts_with("ERROR: ")
    );
    assert_eq!(
        console.send_pem("rootca", "hello").await,
        "ERROR: not a PEM certificate"
    );
    let not_der = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----";
    assert_eq!(
        console.send_pem("cert", not_der).await,
        "ERROR: the certificate does not parse"
    );
    // A certificate for another key, from the right signer.
    let other = pki.certificate_for_another_key();
    assert_eq!(
        console.send_pem("cert", &other).await,
        "ERROR: the certificate does not match the device key"
    );
    assert_eq!(
        console.send_pem("signer", &other).await,
        "ERROR: not a CA certificate"
    );
    let too_long: String = std::iter::repeat_n("QUJDRA==", 400)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        console
            .send_pem(
                "rootca",
                &format!("-----BEGIN CERTIFICATE-----\n{too_long}\n-----END CERTIFICATE-----")
            )
            .await,
        "ERROR: the certificate is too long"
    );
    assert_eq!(
        console.command("endpoint :8883").await,
        "ERROR: usage: endpoint <host>[:<port>]"
    );
    assert_eq!(
        console.command("debug 9").await,
        "ERROR: usage: debug <0-4>"
    );
    // Bytes that are not ASCII at all.
    console.send("\u{ff}\u{fe}\u{80}\r\n");
    assert_eq!(console.reply().await, "ERROR: invalid characters in line");
    assert_eq!(console.command("cli_version").await, "2.0");
}

/// A networked board in `state`, provisioned against `broker`'s port, reset so it connects.
async fn networked_board(state: &Path, pki: &Pki, port: u16) -> (QemuBoard, Console, String) {
    std::fs::create_dir_all(state).unwrap();
    std::fs::write(
        state.join("hosts"),
        format!("# the rig's broker\n10.0.2.2 {ENDPOINT}\n"),
    )
    .unwrap();
    let (mut board, mut console, _) = QemuBoard::boot_networked(state).await;
    console.sync().await;
    let thing = provision(&mut console, pki, port).await;
    board.reset().await;
    banner_after_reset(&mut console).await;
    (board, console, thing)
}

async fn wait_connack(tap: &mut mock_broker::Tap, thing: &str) {
    let id = thing.to_owned();
    tap.wait_for(WAIT, |e| {
        matches!(e, EventKind::Connack { client_id, code, .. } if *client_id == id && code == "Success")
    })
    .await
    .expect("the board connects");
}

async fn next_publish(tap: &mut mock_broker::Tap, topic: &str) -> String {
    let topic = topic.to_owned();
    let event = tap
        .wait_for(
            WAIT,
            |e| matches!(e, EventKind::PublishIn { message, .. } if message.topic == topic),
        )
        .await
        .unwrap_or_else(|e| panic!("no publish on {topic}: {e}"));
    match &event.kind {
        EventKind::PublishIn { message, .. } => {
            String::from_utf8_lossy(&message.payload).into_owned()
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_connects_over_the_network_streams_telemetry_and_follows_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (broker, mut tap) = pki.broker().await;
    let (mut board, _console, thing) =
        networked_board(&dir.path().join("state"), &pki, broker.local_addr().port()).await;
    wait_connack(&mut tap, &thing).await;
    // The shadow delta subscription (the tap is read in order: before the telemetry).
    let id = thing.clone();
    tap.wait_for(
        WAIT,
        |e| matches!(e, EventKind::Suback { client_id, .. } if *client_id == id),
    )
    .await
    .expect("the board subscribes to its shadow delta");
    board
        .watch_leds("green", |seen| seen.last().is_some_and(|v| v & GREEN != 0))
        .await;

    // Telemetry on <thing>/sensors with the documented payload.
    let payload = next_publish(&mut tap, &format!("{thing}/sensors")).await;
    let value: Value = serde_json::from_str(&payload).unwrap();
    assert!(
        value["Light"].is_i64() && value["Temp"].is_f64(),
        "{payload}"
    );

    // A shadow delta holds yellow, and is reported.
    broker.publish(
        &format!("$aws/things/{thing}/shadow/update/delta"),
        r#"{"version":2,"timestamp":1,"state":{"toggle":1}}"#,
        QoS::AtLeastOnce,
        false,
    );
    let report = next_publish(&mut tap, &format!("$aws/things/{thing}/shadow/update")).await;
    assert_eq!(report, r#"{"state":{"reported":{"toggle":1}}}"#);
    // Held: on in every sample for a while (telemetry pulses would blink it).
    board
        .watch_leds("yellow held on", |seen| {
            seen.len() >= 40 && seen[seen.len() - 40..].iter().all(|v| v & YELLOW != 0)
        })
        .await;

    // The link goes down: the board loses its connection (blue stops being solid, green
    // goes out); back up, it connects again.
    board.set_link(false).await;
    board
        .watch_leds("green off after link down", |seen| {
            seen.last().is_some_and(|v| v & GREEN == 0)
        })
        .await;
    board.set_link(true).await;
    wait_connack(&mut tap, &thing).await;
    board
        .watch_leds("green again", |seen| {
            seen.last().is_some_and(|v| v & GREEN != 0)
        })
        .await;
}

/// Boots a board whose broker presents `server`; asserts it never connects and lights red.
async fn refused(pki: &Pki, broker: (mock_broker::MockBroker, mock_broker::Tap)) {
    let dir = tempfile::tempdir().unwrap();
    let (broker, mut tap) = broker;
    let (mut board, _console, thing) =
        networked_board(&dir.path().join("state"), pki, broker.local_addr().port()).await;
    // Red: the server certificate is fatal.
    board
        .watch_leds("red", |seen| seen.last().is_some_and(|v| v & RED != 0))
        .await;
    let id = thing.clone();
    let connected = tap
        .wait_for(
            Duration::from_secs(3),
            |e| matches!(e, EventKind::Connack { client_id, .. } if *client_id == id),
        )
        .await;
    assert!(connected.is_err(), "the board connected: {connected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_refuses_a_server_certificate_from_an_unknown_ca() {
    let pki = Pki::new();
    // The broker's certificate is from another PKI's root.
    let other = Pki::new();
    let config = mock_broker::BrokerConfig::new(
        other.server.server_identity(),
        mock_broker::ClientAuth::TrustRoots(vec![pki.signer.der().clone()]),
    );
    let broker = mock_broker::MockBroker::start(config).await.unwrap();
    let tap = broker.tap();
    refused(&pki, (broker, tap)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_refuses_an_expired_server_certificate() {
    let pki = Pki::new();
    let mut params = rcgen::CertificateParams::new(vec![ENDPOINT.to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ENDPOINT);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &pki.root).unwrap();
    let expired = mock_broker::dev_pki::Issued::from_parts(&cert, &key);
    let config = mock_broker::BrokerConfig::new(
        expired.server_identity(),
        mock_broker::ClientAuth::TrustRoots(vec![pki.signer.der().clone()]),
    );
    let broker = mock_broker::MockBroker::start(config).await.unwrap();
    let tap = broker.tap();
    refused(&pki, (broker, tap)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_registers_just_in_time_then_connects() {
    use mock_broker::aws::control_plane::{ControlPlane, ControlPlaneConfig};
    use mock_broker::aws::registry::CertificateMode;
    let pki = Pki::new();
    // AWS IoT Core's control plane: the signer registered for JITR, the zero-touch rule
    // activating what registers.
    let mut plane_config = ControlPlaneConfig::new(ENDPOINT);
    plane_config.zero_touch = Some(Duration::from_millis(200));
    let plane = ControlPlane::new(plane_config).unwrap();
    let code = plane.read(|reg| reg.account.registration_code.clone());
    let mut verification = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    verification
        .distinguished_name
        .push(rcgen::DnType::CommonName, code);
    let verification = verification
        .signed_by(&rcgen::KeyPair::generate().unwrap(), &pki.signer)
        .unwrap()
        .pem();
    let ca_id = plane
        .change(|reg, now| {
            reg.register_ca(
                &pki.signer.pem(),
                Some(&verification),
                true,
                true,
                CertificateMode::Default,
                None,
                now,
            )
            .map(|ca| ca.id.clone())
        })
        .unwrap();
    let mut config = mock_broker::BrokerConfig::new(
        pki.server.server_identity(),
        mock_broker::ClientAuth::TrustRoots(vec![]),
    );
    plane.install(&mut config);
    let broker = mock_broker::MockBroker::start(config).await.unwrap();
    let mut tap = broker.tap();
    let dir = tempfile::tempdir().unwrap();
    let (_board, _console, thing) =
        networked_board(&dir.path().join("state"), &pki, broker.local_addr().port()).await;
    // The first connection registers the certificate (PENDING_ACTIVATION) and is dropped;
    // the board backs off, comes back, and is let in.
    let registered = format!("$aws/events/certificates/registered/{ca_id}");
    let event = tap
        .wait_for(WAIT, |e| {
            matches!(e, EventKind::BrokerPublish { message, .. } if message.topic == registered)
        })
        .await;
    assert!(event.is_ok(), "no registration event: {event:?}");
    wait_connack(&mut tap, &thing).await;
    let payload = next_publish(&mut tap, &format!("{thing}/sensors")).await;
    assert!(payload.starts_with(r#"{"Light":"#), "{payload}");
}

/// A TLS server for the endpoint (the test PKI's server certificate, no client
/// authentication) that answers the CONNECT of each of the board's connections, in turn,
/// with one of `replies`, and waits for the board to hang up; returns how many it served.
async fn hostile_broker(listener: tokio::net::TcpListener, pki: &Pki, replies: &[&[u8]]) -> usize {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::AsyncReadExt;
    let cert = CertificateDer::from_pem_slice(pki.server.cert_pem.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let mut served = 0;
    for reply in replies {
        let (tcp, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the board comes back")
            .unwrap();
        let mut tls = acceptor.accept(tcp).await.expect("TLS with the board");
        let mut connect = [0u8; 256];
        let n = tls.read(&mut connect).await.unwrap();
        assert_eq!(
            connect.first(),
            Some(&0x10),
            "CONNECT first: {:x?}",
            &connect[..n]
        );
        tls.write_all(reply).await.unwrap();
        tls.flush().await.unwrap();
        // The board closes the connection on the bad packet.
        let mut rest = [0u8; 256];
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                match tls.read(&mut rest).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the board kept a connection after {reply:x?}"
        );
        served += 1;
    }
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_closes_on_malformed_packets_and_keeps_going() {
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (mut board, mut console, _) = networked_board(&dir.path().join("state"), &pki, port).await;
    let replies: [&[u8]; 4] = [
        // CONNACK one byte short.
        &[0x20, 0x01, 0x00],
        // PUBLISH whose topic runs past the packet.
        &[0x30, 0x03, 0x00, 0x10, b'a'],
        // A packet type a server never sends (SUBSCRIBE).
        &[0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00],
        // Remaining length over 4 bytes.
        &[0x20, 0xff, 0xff, 0xff, 0xff, 0x7f],
    ];
    assert_eq!(
        hostile_broker(listener, &pki, &replies).await,
        replies.len()
    );
    // Still alive: answers its console, red off.
    console.sync().await;
    assert_eq!(console.command("cli_version").await, "2.0");
    board
        .watch_leds("red off", |seen| seen.last().is_some_and(|v| v & RED == 0))
        .await;
}
