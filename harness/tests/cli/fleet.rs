//! `hil fleet`: a small fleet end to end (the summary, `fleet.json`, `fleet.html`, exit 0), and the
//! input it refuses (exit 2).

use super::*;
use harness::rig::workspace_root;

#[test]
fn hil_fleet_brings_three_boards_to_telemetry_and_writes_its_report() {
    let output = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = hil(&[
        "fleet",
        "--boards",
        "3",
        "--speed",
        "20",
        "--output",
        output.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("fleet: 3 boards, jitr, speed 20"),
        "{stdout}"
    );
    assert!(
        stdout.contains("first telemetry    3/3 (0 failed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 certificates registered, 3 activated"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(output.path().join("fleet.json")).unwrap())
            .unwrap();
    assert_eq!(report["boards"], 3);
    assert_eq!(report["reached_telemetry"], 3);
    assert_eq!(report["time_to_first_telemetry"]["count"], 3);
    assert_eq!(report["per_board"].as_array().unwrap().len(), 3);
    // The boards connected over time: the last change leaves all three connected.
    let connections = report["connections"].as_array().unwrap();
    assert_eq!(
        connections.last().unwrap()["connected"],
        3,
        "{connections:?}"
    );
    let page = std::fs::read_to_string(output.path().join("fleet.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 2, "{page}");
    assert!(
        page.contains("PASS: 3 of 3 boards sent telemetry"),
        "{page}"
    );
    assert!(
        report["fleet_process"]["peak_rss_per_board_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn hil_fleet_refuses_no_boards_and_a_rig_without_the_embedded_broker() {
    // miette wraps long lines.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (code, _, stderr) = hil(&["fleet", "--boards", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(words(&stderr).contains("at least one board"), "{stderr}");
    let mosquitto = workspace_root().join("scenarios/rigs/emulated-mosquitto.toml");
    let (code, _, stderr) = hil(&["fleet", "--rig", mosquitto.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        words(&stderr).contains("a fleet needs the embedded broker"),
        "{stderr}"
    );
}

#[test]
fn a_fleet_scenario_passes_its_storm_with_jitter_and_fails_it_as_a_herd() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let case = workspace_root().join("scenarios/fleet/jitr-and-storm.toml");
    let out = dir.path().join("out");
    let (code, stdout, stderr) = hil_run(&rig, &out, &case);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let timeline = std::fs::read_to_string(out.join("jitr-and-storm/timeline.json")).unwrap();
    assert!(
        timeline.contains("fleet_power_on: 20 boards sent telemetry"),
        "{timeline}"
    );
    assert!(
        timeline.contains("fleet_storm: 20 dropped, every one streaming again"),
        "{timeline}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("jitr-and-storm/fleet.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["storm"]["verdict"], "spread");
    assert!(out.join("jitr-and-storm/fleet.html").is_file());

    // The same fleet without jitter fails at the storm, with the herd's reason.
    let herd = dir.path().join("herd.toml");
    let text = std::fs::read_to_string(&case)
        .unwrap()
        .replace("speed = 20\n", "speed = 20\nflaws = [\"no-jitter\"]\n")
        .replace("#:schema ../scenario.schema.json\n", "");
    std::fs::write(&herd, text).unwrap();
    let (code, stdout, stderr) = hil_run(&rig, &out, &herd);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let words = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("step 3 (fleet_storm) failed"), "{stdout}");
    assert!(words.contains("boards came back as a herd"), "{stdout}");
}
