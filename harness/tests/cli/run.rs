//! `hil run`: exit codes, the failure report, located errors before anything starts, skips,
//! parallel blocks, the schema.

use super::*;

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

#[test]
fn what_a_scenario_file_already_says_wrong_exits_2_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let wildcard = dir.path().join("wildcard.toml");
    std::fs::write(
        &wildcard,
        "name = \"x\"\n[[step]]\npublish = { topic = \"a/+/b\", payload = \"x\" }\n",
    )
    .unwrap();
    let (code, stdout, stderr) = hil(&["run", wildcard.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("the publish topic \"a/+/b\" holds a wildcard"),
        "{stderr}"
    );
    assert!(stderr.contains("wildcard.toml:3:24"), "{stderr}");
    assert_eq!(stdout, "", "no rig was started");

    let latin1 = dir.path().join("latin1.toml");
    let mut bytes = b"name = \"caf".to_vec();
    bytes.extend([0xE9, b'"', b'\n']);
    std::fs::write(&latin1, bytes).unwrap();
    let (code, stdout, stderr) = hil(&["run", latin1.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    // miette wraps the message at 80 columns.
    let unwrapped = stderr.replace("\n  │ ", " ");
    assert!(
        unwrapped.contains("the file is not UTF-8: line 1, byte 12 of the line (0xE9)"),
        "{stderr}"
    );
    assert!(stderr.contains("latin1.toml:1:12"), "{stderr}");
    assert_eq!(stdout, "", "no rig was started");
}
