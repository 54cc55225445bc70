//! The `hil` command line: exit codes, the failure report, located errors, the schema.

use std::process::Command;

fn hil(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_committed_schema_is_current() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/scenario.schema.json"
    ))
    .unwrap();
    assert!(
        committed == harness::scenario::json_schema(),
        "scenarios/scenario.schema.json is stale: run `cargo run -p harness --bin hil -- schema > scenarios/scenario.schema.json`"
    );
    let (code, stdout, _) = hil(&["schema"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, committed);
}

#[test]
fn an_invalid_scenario_exits_2_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "name = \"bad\"\n[[step]]\nwait = { for = \"a while\" }\n",
    )
    .unwrap();
    let (code, _, stderr) = hil(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a duration"), "{stderr}");
    assert!(
        stderr.contains("bad.toml:3:"),
        "the location is shown: {stderr}"
    );
}

#[test]
fn a_failing_scenario_exits_1_with_expected_seen_and_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.toml");
    std::fs::write(
        &path,
        "name = \"nobody talks\"\n[[step]]\nexpect_message = { topic = \"nobody/home\", within = \"300ms\" }\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, stdout, stderr) = hil(&[
        "run",
        path.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("expected: 1 message(s) on nobody/home"),
        "{stdout}"
    );
    assert!(
        stdout.contains("seen:     no message on nobody/home"),
        "{stdout}"
    );
    assert!(stdout.contains("timeline around the failure"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed, 0 skipped"), "{stdout}");
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");
}

#[test]
fn a_tag_that_matches_nothing_is_an_error() {
    let (code, _, stderr) = hil(&["run", "--tag", "no-such-tag"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no scenario to run"), "{stderr}");
}

/// A `hil` child that is killed when the test ends, whatever happens.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's stdout lines on a thread, so tests can wait for one with a timeout.
fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the first line containing `needle`.
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line containing {needle:?} ({e}); other lines: {seen:#?}"),
        }
    }
}

// Multi-threaded: the line waits block their thread while the observer's event loop runs.
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
fn emulated_rig(dir: &std::path::Path) -> std::path::PathBuf {
    let default = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/rigs/emulated.toml"
    ))
    .unwrap();
    let rig = default.replace("dir = \"../../target/hil/pki\"", "dir = \"pki\"");
    assert_ne!(rig, default, "the default rig names its PKI directory");
    let path = dir.join("rig.toml");
    std::fs::write(&path, rig).unwrap();
    path
}

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
        "--for",
        "6s",
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

#[test]
fn a_container_rig_without_a_docker_engine_fails_with_the_reason() {
    let root = harness::rig::workspace_root();
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args([
            "run",
            "--rig",
            root.join("scenarios/rigs/emulated-container.toml")
                .to_str()
                .unwrap(),
            root.join("scenarios/unknown-ca.toml").to_str().unwrap(),
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("no Docker engine answers at unix:///nonexistent/docker.sock"),
        "{text}"
    );
}

#[test]
fn an_aws_only_scenario_is_skipped_on_mosquitto_with_the_reason() {
    let root = harness::rig::workspace_root();
    let (code, stdout, stderr) = hil(&[
        "run",
        "--rig",
        root.join("scenarios/rigs/emulated-mosquitto.toml")
            .to_str()
            .unwrap(),
        root.join("scenarios/revoked-certificate.toml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("skipped: step certificate needs AWS IoT's certificate registries, which the mosquitto broker does not have"),
        "{stdout}"
    );
}

#[test]
fn a_parallel_block_fails_as_soon_as_one_of_its_steps_fails() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("fail-fast.toml");
    std::fs::write(
        &scenario,
        r#"name = "fail fast"
[[step]]
parallel = [
    { wait = { for = "60s" } },
    { expect_message = { topic = "nobody/publishes/here", within = "1s" } },
]
"#,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = hil(&["run", scenario.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("(parallel step 2 expect_message) 1 message(s) on nobody/publishes/here"),
        "{stdout}"
    );
    // The 60 s wait beside it was stopped, not waited out.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
}

/// The default rig with its PKI in `dir` and `hook` as board dut's
/// `[boards.dut.provision]` table.
fn hook_rig(dir: &std::path::Path, hook: &str) -> std::path::PathBuf {
    let path = emulated_rig(dir);
    let rig = std::fs::read_to_string(&path).unwrap();
    let rig = rig.replace(
        "[boards.dut]\nkind = \"emulated\"\n",
        &format!("[boards.dut]\nkind = \"emulated\"\n[boards.dut.provision]\n{hook}\n"),
    );
    std::fs::write(&path, rig).unwrap();
    path
}

/// A hook script in `dir` that notes each call's first argument in `dir/calls`, then
/// runs the shipped example hook for the emulated board, which writes the credentials
/// over its console.
fn logging_hook(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let shipped = harness::rig::workspace_root().join("scenarios/rigs/hooks/emulated-console.sh");
    let script = dir.join("hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env bash\necho \"$1\" >> \"$(dirname \"$0\")/calls\"\nexec {} \"$@\"\n",
            shipped.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

const HOOK_TABLE: &str = "command = \"./hook.sh write {serial_port} {certificate} {signer} {server_ca} {endpoint}:{port} {wifi_ssid} {wifi_password} {wifi_auth}\"\n\
    csr_command = \"./hook.sh csr {serial_port}\"\ntimeout = \"30s\"";

#[test]
fn a_board_provisioned_by_its_hook_streams_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    logging_hook(dir.path());
    let rig = hook_rig(dir.path(), HOOK_TABLE);
    let scenario = dir.path().join("provision-hook-streams.toml");
    std::fs::write(
        &scenario,
        "name = \"a board provisioned by its hook\"\n\
         [[step]]\nprovision = { board = \"dut\", mode = \"jitr\" }\n\
         [[step]]\nexpect_message = { topic = \"{dut.thing}/sensors\", within = \"30s\" }\n",
    )
    .unwrap();
    let (code, stdout, stderr) = hil(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        scenario.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    // The CSR came from the CSR hook, the credentials from the hook: the console's own
    // provisioning commands were not used.
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(calls, "csr\nwrite\n");

    // `hil provision` uses the hook too.
    let (code, stdout, stderr) = hil(&[
        "provision",
        "dut",
        "--rig",
        rig.to_str().unwrap(),
        "--mode",
        "preregistered",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("dut provisioned (preregistered)"),
        "{stdout}"
    );
    assert!(stdout.contains("first telemetry on"), "{stdout}");
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(calls, "csr\nwrite\ncsr\nwrite\n");
}

#[test]
fn a_failing_hook_fails_the_provision_step_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let rig = hook_rig(
        dir.path(),
        "command = \"sh -c 'echo looking for the debugger; echo no debugger attached >&2; exit 3'\"",
    );
    let scenario = dir.path().join("provision-hook-fails.toml");
    std::fs::write(
        &scenario,
        "name = \"a failing hook\"\n[[step]]\nprovision = { board = \"dut\" }\n",
    )
    .unwrap();
    let (code, stdout, stderr) = hil(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        scenario.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("step 1 (provision) failed"), "{stdout}");
    assert!(
        stdout.contains("board dut: provisioning hook `command`: `sh -c 'echo looking for the debugger; echo no debugger attached >&2; exit 3'` exit status: 3; its stderr: no debugger attached"),
        "{stdout}"
    );
    // Its output is on the timeline around the failure.
    assert!(
        stdout.contains("dut provisioning hook [stdout] looking for the debugger"),
        "{stdout}"
    );
    assert!(
        stdout.contains("dut provisioning hook [stderr] no debugger attached"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_hook_placeholder_exits_2_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let rig = hook_rig(dir.path(), "command = \"prov --cert {cert}\"");
    let line = std::fs::read_to_string(&rig)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("command = "))
        .unwrap()
        + 1;
    let (code, _, stderr) = hil(&["provision", "dut", "--rig", rig.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown placeholder `{cert}`"), "{stderr}");
    assert!(stderr.contains("did you mean {certificate}?"), "{stderr}");
    assert!(
        stderr.contains(&format!("rig.toml:{line}:24")),
        "the location is shown: {stderr}"
    );
}
