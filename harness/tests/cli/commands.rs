//! `hil broker`, `hil provision`, `hil leds` and `hil flash`.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hil_broker_serves_the_rig_pki_prints_events_and_stops_on_sigterm() {
    use harness::broker::Broker;
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("rig.toml");
    std::fs::write(
        &rig,
        "[broker]\nkind = \"embedded\"\nendpoint = \"broker.hil.test\"\n[pki]\ndir = \"pki\"\n[boards.dut]\nkind = \"emulated\"\n",
    )
    .unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_hil"))
            .args(["broker", "--rig", rig.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = lines_of(child.0.stdout.take().unwrap());
    let listening = wait_for_line(&lines, "listening on");
    let port: u16 = listening
        .split_whitespace()
        .find_map(|word| word.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
        .unwrap_or_else(|| panic!("a port in {listening:?}"));
    let registered = wait_for_line(&lines, "registered for JITR");
    assert!(registered.starts_with("signer CA "), "{registered}");
    let command = wait_for_line(&lines, "mosquitto_sub");
    assert!(command.contains(&format!("-p {port}")), "{command}");
    assert!(!command.contains("BEGIN"), "no key material is printed");

    // Connect with the operator certificate of the rig's PKI, as mosquitto_sub would.
    let pki = harness::runner::open_pki(
        &dir.path().join("pki"),
        &["broker.hil.test", "localhost", "127.0.0.1"],
        false,
    )
    .unwrap();
    let observer = harness::broker::external::ExternalBroker::start(
        "localhost",
        port,
        &pki.server_ca.pem,
        &pki.operator,
        harness::timeline::Timeline::new(),
    )
    .await
    .unwrap();
    observer
        .publish("bench/hello", b"hi", rumqttc::QoS::AtMostOnce, false)
        .await
        .unwrap();
    let event = wait_for_line(&lines, "bench/hello");
    assert!(event.contains("publish_in"), "{event}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for_line(&lines, "broker stopped");
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    Box::new(observer).shutdown().await;
}

#[test]
fn hil_broker_refuses_a_rig_without_an_embedded_broker() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("rig.toml");
    std::fs::write(
        &rig,
        "[broker]\nkind = \"external\"\nurl = \"mqtts://localhost:8883\"\n[boards.dut]\nkind = \"emulated\"\n",
    )
    .unwrap();
    let (code, _, stderr) = hil(&["broker", "--rig", rig.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("this needs the embedded broker"),
        "{stderr}"
    );
}

/// The default rig with its PKI in `dir` (so tests do not share or replace it).

#[test]
fn hil_provision_provisions_a_board_and_waits_for_its_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let (code, stdout, stderr) = hil(&["provision", "dut", "--rig", rig.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("dut provisioned (jitr)"), "{stdout}");
    let thing = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("thing"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("a thing line in {stdout}"));
    assert_eq!(thing.len(), 40, "a SHA-1 hex thing name: {thing}");
    assert!(
        stdout.contains(&format!("first telemetry on {thing}/sensors")),
        "{stdout}"
    );

    let (code, stdout, stderr) = hil(&[
        "provision",
        "dut",
        "--rig",
        rig.to_str().unwrap(),
        "--mode",
        "preregistered",
        "--within",
        "1ms",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("no telemetry on"), "{stdout}");
}

#[test]
fn hil_leds_shows_the_leds_of_a_provisioned_board_live() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let (code, stdout, stderr) = hil(&[
        "leds",
        "dut",
        "--rig",
        rig.to_str().unwrap(),
        "--provision",
        "jitr",
        // The summary judges the last 4 s; JITR's refused first connection and the
        // board's jittered retries (up to 1 s, 2 s, 4 s) may take it to 8 s to connect.
        "--for",
        "12s",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("blue = Wi-Fi"), "{stdout}");
    assert!(stdout.contains("provisioned: thing"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("green ●") && l.contains("yellow ●")),
        "a line with cloud and data lit: {stdout}"
    );
    let summary = stdout
        .split("over the last")
        .nth(1)
        .unwrap_or_else(|| panic!("a closing summary in {stdout}"));
    assert!(summary.contains("blue     on"), "{summary}");
    assert!(summary.contains("yellow   blinking at"), "{summary}");
    assert!(summary.contains("red      off"), "{summary}");
}

#[test]
fn hil_leds_names_a_board_the_rig_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let (code, _, stderr) = hil(&["leds", "nosuch", "--rig", rig.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the rig has no board \"nosuch\""),
        "{stderr}"
    );
}

#[test]
fn hil_flash_erases_an_emulated_board_and_refuses_an_elf_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let rig = rig.to_str().unwrap();
    let (code, stdout, stderr) = hil(&["flash", "dut", "--erase", "--rig", rig]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("dut (emulated) power-cycled and erased"),
        "{stdout}"
    );
    let (code, _, stderr) = hil(&["flash", "dut", "firmware.elf", "--rig", rig]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("board dut is emulated"), "{stderr}");
    assert!(stderr.contains("hil flash dut` without an ELF"), "{stderr}");
}

#[test]
fn hil_flash_checks_the_elf_before_looking_for_a_probe() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("rig.toml");
    std::fs::write(
        &rig,
        "[broker]\nkind = \"embedded\"\nendpoint = \"broker.hil.test\"\n[pki]\ndir = \"pki\"\n\
         [boards.dut]\nkind = \"probe-rs\"\nchip = \"STM32F411RETx\"\nprobe = \"0483:374b\"\n\
         firmware = \"missing.elf\"\nserial = { port = \"/dev/null\" }\n",
    )
    .unwrap();
    let (code, _, stderr) = hil(&["flash", "dut", "--rig", rig.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read firmware"), "{stderr}");
    assert!(stderr.contains("missing.elf"), "{stderr}");
}
