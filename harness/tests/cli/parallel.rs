//! `hil run --jobs N` and `--partition M/N`: scenarios at once that share nothing, blocks
//! printed whole, the summary in the order given, slices by file name, argument errors.

use super::*;
use std::path::{Path, PathBuf};

/// Writes a scenario that starts no board and waits `wait`, tagged `tags`.
fn quick_scenario(dir: &Path, id: &str, wait: &str, tags: &[&str]) -> PathBuf {
    let path = dir.join(format!("{id}.toml"));
    let tags: Vec<String> = tags.iter().map(|t| format!("{t:?}")).collect();
    std::fs::write(
        &path,
        format!(
            "name = \"{id} waits {wait}\"\ntags = [{}]\nboards = []\n[[step]]\nwait = {{ for = \"{wait}\" }}\n",
            tags.join(", ")
        ),
    )
    .unwrap();
    path
}

/// The ids of the scenarios whose blocks `stdout` shows, in the order shown.
fn blocks(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("  ")?.split_once(" — "))
        .map(|(id, _)| id.to_owned())
        .collect()
}

/// Checks that `header`'s block is whole in `stdout`: the header, then exactly `steps` (each
/// line starting so), then the ending starting with `ending`, with no other line between.
fn assert_block(stdout: &str, header: &str, steps: &[&str], ending: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    let Some(at) = lines.iter().position(|l| *l == header) else {
        panic!("no block {header:?} in\n{stdout}");
    };
    for (i, step) in steps.iter().enumerate() {
        let line = lines.get(at + 1 + i).copied().unwrap_or_default();
        assert!(
            line.starts_with(step),
            "line {} of block {header:?} is {line:?}, not {step:?}:\n{stdout}",
            i + 1
        );
    }
    let end = lines.get(at + 1 + steps.len()).copied().unwrap_or_default();
    assert!(
        end.starts_with(ending),
        "block {header:?} ends with {end:?}, not {ending:?}:\n{stdout}"
    );
}

/// Seconds in a `1.5s` string.
fn seconds(text: &str) -> f64 {
    text.trim()
        .trim_end_matches('s')
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a time"))
}

/// The broker address a timeline names (the runner's `<kind> broker for <endpoint> at
/// <address>` action).
fn broker_address(timeline: &Path) -> String {
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(timeline).unwrap()).unwrap();
    let texts: Vec<&str> = entries
        .iter()
        .filter(|e| e["kind"] == "action")
        .filter_map(|e| e["text"].as_str())
        .collect();
    texts
        .iter()
        .find_map(|t| t.strip_prefix("embedded broker for broker.hil.test at "))
        .unwrap_or_else(|| panic!("no broker in {}: {texts:#?}", timeline.display()))
        .to_owned()
}

/// The broker tap events (`event` field) of a timeline, as JSON.
fn broker_events(timeline: &Path) -> Vec<serde_json::Value> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(timeline).unwrap()).unwrap();
    entries
        .into_iter()
        .filter(|e| e["kind"] == "broker")
        .map(|e| e["event"].clone())
        .collect()
}

/// The JITR registrations a broker announced: its `registered` event publishes.
fn registrations(events: &[serde_json::Value]) -> usize {
    events
        .iter()
        .filter(|e| {
            e["event"] == "broker_publish"
                && e["topic"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("$aws/events/certificates/registered/"))
        })
        .count()
}

/// The certificates that completed a TLS handshake with a broker.
fn certificates(events: &[serde_json::Value]) -> std::collections::BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["event"] == "tls_accepted")
        .filter_map(|e| e["certificate_id"].as_str().map(ToOwned::to_owned))
        .collect()
}

#[test]
fn two_scenarios_at_once_share_nothing_a_ca_deactivated_in_one_leaves_the_other_registering() {
    let dir = tempfile::tempdir().unwrap();
    let rig = real_time_rig(dir.path());
    // The same signer CA (one PKI) in both: inactive on one broker, registering on the other.
    // On a shared broker, b would see nothing registered, or a would see b's registration.
    let a = dir.path().join("a-inactive-ca.toml");
    std::fs::write(
        &a,
        r#"name = "the CA is inactive on this broker"
[[step]]
ca = { register = true, status = "INACTIVE", auto_registration = true }
[[step]]
provision = { board = "dut", mode = "jitr" }
[[step]]
expect_no_message = { topic = "$aws/events/certificates/registered/{ca.id}", for = "4s" }
"#,
    )
    .unwrap();
    let b = dir.path().join("b-registers.toml");
    std::fs::write(
        &b,
        r#"name = "the same CA registers a board on this broker"
[[step]]
provision = { board = "dut", mode = "jitr" }
[[step]]
expect_message = { topic = "$aws/events/certificates/registered/{ca.id}", within = "15s", json = { certificateStatus = "PENDING_ACTIVATION" } }
[[step]]
expect_message = { topic = "{dut.thing}/sensors", within = "30s" }
"#,
    )
    .unwrap();
    let (out, junit) = (dir.path().join("out"), dir.path().join("junit.xml"));
    let (code, stdout, stderr) = hil(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--jobs",
        "2",
        "--timings",
        "--output",
        out.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().next(),
        Some(
            format!(
                "rig {} (embedded mock broker), 2 scenario(s), 2 at a time",
                rig.display()
            )
            .as_str()
        )
    );
    assert_block(
        &stdout,
        "  a-inactive-ca — the CA is inactive on this broker",
        &[
            "    [1/3] ca ... ok (",
            "    [2/3] provision ... ok (",
            "    [3/3] expect_no_message ... ok (",
        ],
        "  passed in ",
    );
    assert_block(
        &stdout,
        "  b-registers — the same CA registers a board on this broker",
        &[
            "    [1/3] provision ... ok (",
            "    [2/3] expect_message ... ok (",
            "    [3/3] expect_message ... ok (",
        ],
        "  passed in ",
    );

    // They ran at once: the suite took less than the two scenarios one after the other
    // (with --jobs 1 it takes as long or longer).
    for id in ["a-inactive-ca", "b-registers"] {
        let row = stdout.lines().find(|l| l.starts_with(&format!("{id}  ")));
        assert!(
            row.is_some_and(|r| r.contains(" passed ")),
            "{id}:\n{stdout}"
        );
    }
    let (wall, scenarios) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("suite wall time: "))
        .and_then(|rest| {
            let (wall, rest) = rest.split_once(" (")?;
            let (scenarios, rest) = rest.split_once(" of scenarios, ")?;
            (rest == "2 at a time)").then(|| (seconds(wall), seconds(scenarios)))
        })
        .unwrap_or_else(|| panic!("no suite wall time:\n{stdout}"));
    assert!(
        wall < scenarios,
        "the suite took {wall}s for {scenarios}s of scenarios:\n{stdout}"
    );

    // Each had its own output directory and its own broker, on its own port.
    let (timeline_a, timeline_b) = (
        out.join("a-inactive-ca/timeline.json"),
        out.join("b-registers/timeline.json"),
    );
    let (broker_a, broker_b) = (broker_address(&timeline_a), broker_address(&timeline_b));
    assert_ne!(broker_a, broker_b);
    assert!(broker_a.starts_with("127.0.0.1:"), "{broker_a}");
    // The registration was on b's broker only, and each broker saw its own board only.
    let (events_a, events_b) = (broker_events(&timeline_a), broker_events(&timeline_b));
    assert_eq!(registrations(&events_a), 0);
    // One, or two when the board retried before the zero-touch rule activated its
    // certificate (each CONNECT while pending announces it again; its backoff is random).
    assert!(
        (1..=2).contains(&registrations(&events_b)),
        "{}",
        registrations(&events_b)
    );
    let (boards_a, boards_b) = (certificates(&events_a), certificates(&events_b));
    assert_eq!(
        (boards_a.len(), boards_b.len()),
        (1, 1),
        "{boards_a:?} {boards_b:?}"
    );
    assert!(boards_a.is_disjoint(&boards_b), "{boards_a:?} {boards_b:?}");

    // The JUnit file lists them in the order given.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let (at_a, at_b) = (
        xml.find("testcase name=\"a-inactive-ca\"").unwrap(),
        xml.find("testcase name=\"b-registers\"").unwrap(),
    );
    assert!(at_a < at_b, "{xml}");
    assert!(
        xml.contains(r#"<testsuite name="hil" tests="2" skipped="0" errors="0" failures="0">"#),
        "{xml}"
    );
}

#[test]
fn blocks_come_whole_as_scenarios_end_and_the_summary_in_the_order_given() {
    let dir = tempfile::tempdir().unwrap();
    let rig = real_time_rig(dir.path());
    let slow = quick_scenario(dir.path(), "slow", "2s", &[]);
    let quick = quick_scenario(dir.path(), "quick", "10ms", &[]);
    let (code, stdout, stderr) = hil(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--jobs",
        "2",
        "--output",
        dir.path().join("out").to_str().unwrap(),
        slow.to_str().unwrap(),
        quick.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The quick one ends first, so its block comes first.
    assert_eq!(blocks(&stdout), ["quick", "slow"], "{stdout}");
    assert_block(
        &stdout,
        "  quick — quick waits 10ms",
        &["    [1/1] wait ... ok ("],
        "  passed in ",
    );
    assert_block(
        &stdout,
        "  slow — slow waits 2s",
        &["    [1/1] wait ... ok (2.0s)"],
        "  passed in ",
    );
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("scenario "))
        .skip(1)
        .take(2)
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(rows, ["slow", "quick"], "{stdout}");
}

#[test]
fn a_partition_runs_its_slice_of_what_the_tags_selected_by_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let suite = dir.path().join("suite");
    std::fs::create_dir(&suite).unwrap();
    for (id, tag) in [
        ("echo", "y"),
        ("delta", "x"),
        ("charlie", "y"),
        ("bravo", "x"),
        ("alpha", "x"),
    ] {
        quick_scenario(&suite, id, "10ms", &[tag]);
    }
    let out = dir.path().join("out");
    let run = |args: &[&str]| {
        let mut all = vec![
            "run",
            "--rig",
            rig.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ];
        all.extend(args);
        let (code, stdout, stderr) = hil(&all);
        assert_eq!(code, 0, "{args:?}: {stdout}{stderr}");
        let mut ran = blocks(&stdout);
        ran.sort();
        (ran, stdout)
    };
    let dir_arg = suite.to_str().unwrap();
    let (first, stdout) = run(&["--partition", "1/2", dir_arg]);
    assert_eq!(first, ["alpha", "charlie", "echo"]);
    assert!(
        stdout.starts_with(&format!(
            "rig {} (embedded mock broker), 3 scenario(s) (slice 1/2 of 5), ",
            rig.display()
        )),
        "{stdout}"
    );
    assert_eq!(run(&["--partition", "2/2", dir_arg]).0, ["bravo", "delta"]);
    // The files named in another order, one of them twice: the same slices.
    let named = |id: &str| {
        suite
            .join(format!("{id}.toml"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (echo, delta) = (named("echo"), named("delta"));
    assert_eq!(
        run(&["--partition", "2/2", &echo, &delta, dir_arg]).0,
        ["bravo", "delta"]
    );
    // After --tag: x selects alpha, bravo and delta; slice 2 of 2 is bravo.
    assert_eq!(
        run(&["--tag", "x", "--partition", "2/2", dir_arg]).0,
        ["bravo"]
    );
    // More slices than scenarios: an empty slice passes, saying so.
    let (none, stdout) = run(&["--tag", "y", "--partition", "3/3", dir_arg]);
    assert!(none.is_empty(), "{stdout}");
    assert!(
        stdout.contains("0 scenario(s) (slice 3/3 of 2)"),
        "{stdout}"
    );
    assert!(stdout.contains("nothing to run in this slice"), "{stdout}");
    assert!(stdout.contains("0 passed, 0 failed, 0 skipped"), "{stdout}");
}

#[test]
fn bad_jobs_and_partitions_exit_2_naming_the_value() {
    for (args, message) in [
        (
            ["--jobs", "0"],
            "invalid value '0' for '--jobs <N>': at least one scenario must run at a time (1 or more)",
        ),
        (
            ["--jobs", "two"],
            "invalid value 'two' for '--jobs <N>': expected a whole number of scenarios to run at once (1 or more)",
        ),
        (
            ["--partition", "4/3"],
            "invalid value '4/3' for '--partition <M/N>': there is no slice 4; slices are 1 to 3",
        ),
        (
            ["--partition", "0/3"],
            "invalid value '0/3' for '--partition <M/N>': there is no slice 0; slices are 1 to 3",
        ),
        (
            ["--partition", "1/0"],
            "invalid value '1/0' for '--partition <M/N>': there must be at least one slice (N ≥ 1)",
        ),
        (
            ["--partition", "2"],
            "invalid value '2' for '--partition <M/N>': expected M/N, slice M of N slices (e.g. 1/3)",
        ),
        (
            ["--partition", "one/3"],
            "invalid value 'one/3' for '--partition <M/N>': \"one\" is not a whole number",
        ),
    ] {
        let (code, stdout, stderr) = hil(&["run", args[0], args[1]]);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert_eq!(
            stderr.lines().next(),
            Some(format!("error: {message}").as_str()),
            "{args:?}"
        );
        assert_eq!(stdout, "", "{args:?}: nothing ran");
    }
}

#[test]
fn two_scenarios_with_one_id_exit_2_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    std::fs::create_dir(&one).unwrap();
    std::fs::create_dir(&two).unwrap();
    quick_scenario(&one, "same", "10ms", &[]);
    quick_scenario(&two, "same", "10ms", &[]);
    let out = dir.path().join("out");
    let (code, stdout, stderr) = hil(&[
        "run",
        "--output",
        out.to_str().unwrap(),
        one.to_str().unwrap(),
        two.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(stdout, "", "nothing ran");
    // miette wraps the message; its words are what matter.
    let words = stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let expected = format!(
        "{} and {} are both scenario same: their timelines would both go to {}",
        one.join("same.toml").display(),
        two.join("same.toml").display(),
        out.join("same").display()
    );
    assert!(words.contains(&expected), "{stderr}");
}

#[test]
fn a_lab_rig_runs_one_scenario_at_a_time_whatever_jobs_says() {
    let dir = tempfile::tempdir().unwrap();
    let first = quick_scenario(dir.path(), "first", "10ms", &[]);
    let second = quick_scenario(dir.path(), "second", "10ms", &[]);
    let lab = harness::rig::workspace_root().join("scenarios/rigs/sam-iot-wg.toml");
    // The scenarios use no board, so they run without the lab board being there.
    let (code, stdout, stderr) = hil(&[
        "run",
        "--rig",
        lab.to_str().unwrap(),
        "--jobs",
        "2",
        "--output",
        dir.path().join("out").to_str().unwrap(),
        first.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().take(2).collect();
    assert_eq!(
        lines,
        [
            format!(
                "rig {} (embedded mock broker), 2 scenario(s), 1 at a time",
                lab.display()
            )
            .as_str(),
            "note: board dut is a probe-rs board (one physical board): one scenario at a time (--jobs 2 does not apply)"
        ]
    );
    assert_eq!(blocks(&stdout), ["first", "second"]);
}
