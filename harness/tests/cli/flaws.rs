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

#[rstest]
#[case::tls_connect("no-client-cert", "TLS Connect")]
#[case::incorrect_subject_name("accept-any-server-name", "TLS Incorrect Subject Name Server Cert")]
#[case::unsecure_server_cert("accept-any-issuer", "TLS Unsecure Server Cert")]
#[case::expired_server_cert("accept-expired-server-cert", "TLS Expired Server Cert")]
#[case::maximum_size_fragments("small-tls-buffer", "TLS Receive Maximum Size Fragments")]
#[case::large_server_cert("small-cert-buffer", "TLS Large Size Server Cert")]
#[case::cipher_suites(
    "tls12-chacha-only",
    "TLS Device Support for AWS IoT recommended Cipher Suites"
)]
#[case::mqtt_connect("wrong-client-id", "MQTT Connect")]
#[case::exponential_backoff("no-backoff", "MQTT Connect Exponential Backoff Retries")]
#[case::jitter("no-jitter", "MQTT Connect Jitter Retries")]
#[case::reconnect_backoff("no-backoff", "MQTT Reconnect Backoff Retries On Server Disconnect")]
#[case::unstable_connection("no-backoff", "MQTT Reconnect Backoff Retries On Unstable Connection")]
#[case::publish("no-telemetry", "MQTT Publish")]
#[case::publish_retry("no-dup", "MQTT Publish Retry On No Puback")]
#[case::publish_retained("no-retain", "MQTT Publish Retained Messages")]
#[case::subscribe("no-subscribe", "MQTT Subscribe")]
#[case::subscribe_retry("no-subscribe-retry", "MQTT Subscribe Retry On No Suback")]
#[case::keep_alive("ignore-pingresp-loss", "MQTT No Ack PingResp")]
#[case::persistent_session("clean-session-always", "MQTT Persistent Session")]
#[case::session_expiry("never-resubscribe", "MQTT Persistent Session Expiry")]
#[case::shadow_start_up("no-shadow-report", "Shadow Publish Reported State")]
#[case::shadow_update("no-shadow-report", "Shadow Update Reported State")]
#[case::long_duration_qos1("clean-session-always", "MQTT Long Duration")]
#[case::long_duration_memory("leak-per-connection", "MQTT Long Duration")]
#[case::job_execution("jobs-never-complete", "Job Execution")]
fn each_flaw_fails_its_case(#[case] flaw: &str, #[case] case: &str) {
    let (code, report) = qualify_with(flaw, case);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains(&format!("## {case}: Fail")), "{report}");
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
            tested.contains(&compact(&format!("\"{name}\")]"))),
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
