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
