//! Each qualification case can fail: run against the emulated board with the flaw that
//! breaks its rule (`flaws = [...]` in the rig, `emulated-board --flaw`), `hil qualify`
//! says Fail and exits 1. And a flaw that Device Advisor only warns about (exponential
//! backoff without jitter, outside the jitter case) passes with a warning.

use super::*;
use rstest::rstest;

/// The default rig with `flaw` switched on for its board `dut`, its PKI in `dir`.
fn flawed_rig(dir: &std::path::Path, flaw: &str) -> std::path::PathBuf {
    let path = emulated_rig(dir);
    let text = std::fs::read_to_string(&path).unwrap();
    let board = "[boards.dut]\nkind = \"emulated\"\n";
    let flawed = text.replace(board, &format!("{board}flaws = [\"{flaw}\"]\n"));
    assert_ne!(flawed, text, "the default rig has a board dut");
    std::fs::write(&path, flawed).unwrap();
    path
}

/// Runs case `case` with `flaw`: the exit code and the Markdown report. The long-duration
/// case runs 40 minutes of board time (four disruptions).
fn qualify_with(flaw: &str, case: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let rig = flawed_rig(dir.path(), flaw);
    let out = dir.path().join("out");
    let (code, stdout, stderr) = hil(&[
        "qualify",
        "--rig",
        rig.to_str().unwrap(),
        "--case",
        case,
        "--output",
        out.to_str().unwrap(),
        "--long-duration",
        "40m",
    ]);
    let report = std::fs::read_to_string(out.join("qualification.md"))
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}{stderr}"));
    (code, report)
}

/// Each row: the flaw, the case it fails, and what the report's failure must say (the
/// failing step and its evidence), so that a case failing for another reason does not
/// pass the row.
#[rstest]
#[case::tls_connect("no-client-cert", "TLS Connect", "step 2 (expect_led) failed")]
#[case::incorrect_subject_name(
    "accept-any-server-name",
    "TLS Incorrect Subject Name Server Cert",
    "step 3 (expect_led) failed"
)]
#[case::unsecure_server_cert(
    "accept-any-issuer",
    "TLS Unsecure Server Cert",
    "step 3 (expect_led) failed"
)]
#[case::expired_server_cert(
    "accept-expired-server-cert",
    "TLS Expired Server Cert",
    "step 3 (expect_led) failed"
)]
#[case::maximum_size_fragments(
    "small-tls-buffer",
    "TLS Receive Maximum Size Fragments",
    "step 4 (expect_led) failed"
)]
#[case::large_server_cert(
    "small-cert-buffer",
    "TLS Large Size Server Cert",
    "step 3 (expect_led) failed"
)]
#[case::cipher_suites(
    "tls12-chacha-only",
    "TLS Device Support for AWS IoT recommended Cipher Suites",
    "it offers none of the cipher suites AWS IoT Core supports"
)]
#[case::mqtt_connect(
    "wrong-client-id",
    "MQTT Connect",
    "no message on $aws/events/presence/connected/"
)]
#[case::exponential_backoff(
    "no-backoff",
    "MQTT Connect Exponential Backoff Retries",
    "seen:     delays do not grow"
)]
#[case::jitter(
    "no-jitter",
    "MQTT Connect Jitter Retries",
    "seen:     delays grow without jitter"
)]
#[case::reconnect_backoff(
    "no-backoff",
    "MQTT Reconnect Backoff Retries On Server Disconnect",
    "seen:     delays do not grow"
)]
#[case::unstable_connection(
    "no-backoff",
    "MQTT Reconnect Backoff Retries On Unstable Connection",
    "seen:     delays do not grow"
)]
#[case::publish("no-telemetry", "MQTT Publish", "step 2 (expect_message) failed")]
#[case::publish_retry("no-dup", "MQTT Publish Retry On No Puback", "without the DUP flag")]
#[case::publish_retained(
    "no-retain",
    "MQTT Publish Retained Messages",
    "the last that did not match: the retain flag unset"
)]
#[case::subscribe("no-subscribe", "MQTT Subscribe", "seen:     no SUBSCRIBE")]
#[case::subscribe_retry(
    "no-subscribe-retry",
    "MQTT Subscribe Retry On No Suback",
    "not acknowledged, not resent yet"
)]
#[case::keep_alive(
    "ignore-pingresp-loss",
    "MQTT No Ack PingResp",
    "no message on $aws/events/presence/disconnected/"
)]
#[case::persistent_session(
    "clean-session-always",
    "MQTT Persistent Session",
    "step 8 (expect_led) failed"
)]
#[case::session_expiry(
    "never-resubscribe",
    "MQTT Persistent Session Expiry",
    "seen:     1 SUBSCRIBE"
)]
#[case::shadow_start_up(
    "no-shadow-report",
    "Shadow Publish Reported State",
    "step 2 (expect_message) failed"
)]
#[case::shadow_update(
    "no-shadow-report",
    "Shadow Update Reported State",
    "step 4 (expect_message) failed"
)]
#[case::long_duration_qos1(
    "clean-session-always",
    "MQTT Long Duration",
    "no report: a QoS 1 message was lost"
)]
#[case::long_duration_memory("leak-per-connection", "MQTT Long Duration", "grew by more than")]
#[case::job_execution("jobs-never-complete", "Job Execution", "seen:     IN_PROGRESS")]
fn each_flaw_fails_its_case(#[case] flaw: &str, #[case] case: &str, #[case] evidence: &str) {
    let (code, report) = qualify_with(flaw, case);
    assert_eq!(code, 1, "{report}");
    let failure = report
        .split(&format!("## {case}: Fail"))
        .nth(1)
        .unwrap_or_else(|| panic!("no failure section for {case}: {report}"));
    assert!(
        failure.contains(evidence),
        "the case failed, but not with {evidence:?}: {failure}"
    );
}

#[test]
fn every_case_has_a_flaw_that_fails_it() {
    // Without whitespace: rustfmt may break a long row across lines.
    let compact = |text: &str| text.split_whitespace().collect::<String>();
    let tested = compact(include_str!("flaws.rs"));
    for entry in std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/qualification"
    ))
    .unwrap()
    {
        let case = harness::scenario::Scenario::load(&entry.unwrap().path()).unwrap();
        let name = case.device_advisor.unwrap();
        assert!(
            tested.contains(&compact(&format!("\"{name}\","))),
            "no flaw test for {name}"
        );
    }
}

#[test]
fn exponential_backoff_without_jitter_passes_with_a_warning_outside_the_jitter_case() {
    let (code, report) = qualify_with("no-jitter", "MQTT Connect Exponential Backoff Retries");
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("## MQTT Connect Exponential Backoff Retries: Pass with warnings"),
        "{report}"
    );
    assert!(report.contains("delays grow without jitter"), "{report}");
}

#[test]
fn an_unknown_flaw_stops_the_board_with_the_list() {
    let (code, report) = qualify_with("no-such-flaw", "MQTT Connect");
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("unknown flaw; the flaws are"), "{report}");
}
