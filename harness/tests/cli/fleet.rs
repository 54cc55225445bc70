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
