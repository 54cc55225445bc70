//! `hil qualify`: the Device Advisor cases on the default emulated rig (each in the Markdown
//! and the HTML report, its timeline picture inlined), `--case` by name, an unknown case
//! name (exit 2 with the list), and a case that fails (exit 1, evidence in the reports).

use super::*;

/// The default rig at a fifth of its speed (100, not 500), with its own PKI in `dir`: the
/// whole suite runs while the other CLI tests run too, and the backoff cases judge gaps
/// between attempts, which a loaded machine squeezes at the default speed.
fn steady_rig(dir: &std::path::Path) -> std::path::PathBuf {
    let path = emulated_rig(dir);
    let text = std::fs::read_to_string(&path).unwrap();
    let slower = text.replace("speed = 500", "speed = 100");
    assert_ne!(slower, text, "the default rig runs at speed 500");
    std::fs::write(&path, slower).unwrap();
    path
}

#[test]
fn every_case_passes_on_the_emulated_rig_and_the_report_names_each() {
    let dir = tempfile::tempdir().unwrap();
    let rig = steady_rig(dir.path());
    let out = dir.path().join("out");
    let (code, stdout, stderr) = hil(&[
        "qualify",
        "--rig",
        rig.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--long-duration",
        "20m",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report = std::fs::read_to_string(out.join("qualification.md")).unwrap();
    let cases = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/qualification"
    ))
    .unwrap()
    .map(|entry| harness::scenario::Scenario::load(&entry.unwrap().path()).unwrap())
    .collect::<Vec<_>>();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    let junit = std::fs::read_to_string(out.join("qualification.junit.xml")).unwrap();
    for case in &cases {
        let name = case.device_advisor.as_deref().unwrap();
        assert!(
            junit.contains(&format!(r#"<testcase name="{name}""#)),
            "the JUnit case is named {name}: {junit}"
        );
    }
    assert!(
        junit.contains(r#"<property name="scenario" value="mqtt-publish-retained-messages"/>"#),
        "{junit}"
    );
    let html = std::fs::read_to_string(out.join("qualification.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains(r#"<p class="banner pass">PASS: all "#)
            || html.contains(r#"<p class="banner warn">PASS with warnings: all "#),
        "{html}"
    );
    assert_eq!(
        html.matches("<svg").count(),
        cases.len(),
        "one inlined timeline picture per case"
    );
    for case in &cases {
        let id = case.id();
        let section = html
            .split(&format!(r#"<section class="case" id="case-{id}">"#))
            .nth(1)
            .unwrap_or_else(|| panic!("no section for {id} in {html}"));
        let section = section.split("</section>").next().unwrap();
        let name = case.device_advisor.as_deref().unwrap();
        assert!(
            section.contains(&format!("<h2>{name} <span class=\"verdict ")),
            "{section}"
        );
        assert!(section.contains("<figure><svg "), "{section}");
        if case.tags.iter().any(|t| t == "backoff") {
            assert!(
                section.contains("<li><code>expect_backoff dut: passed on "),
                "{section}"
            );
        }
    }
    for case in &cases {
        assert!(
            case.tags.iter().any(|t| t == "qualification"),
            "{}",
            case.id()
        );
        let name = case.device_advisor.as_deref().unwrap();
        assert!(
            report.contains(&format!("## {name}: Pass")),
            "{name} in {report}"
        );
        assert!(report.contains(case.description.trim()), "{report}");
        if case.tags.iter().any(|t| t == "backoff") {
            // The judged delays are the evidence of a passed backoff case.
            let section = report.split(&format!("## {name}: Pass")).nth(1).unwrap();
            let section = section.split("\n## ").next().unwrap();
            assert!(
                section.contains("- expect_backoff dut: passed on "),
                "{section}"
            );
        }
    }
    let xml = std::fs::read_to_string(out.join("qualification.junit.xml")).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

#[test]
fn one_case_runs_by_its_device_advisor_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = hil(&["qualify", "--case", "tls connect", "--output", out]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report = std::fs::read_to_string(dir.path().join("qualification.md")).unwrap();
    assert!(report.contains("1 of 1 case(s) passed"), "{report}");
    assert!(report.contains("## TLS Connect: Pass"), "{report}");
}

#[test]
fn an_unknown_case_exits_2_with_the_cases_and_the_nearest() {
    let (code, _, stderr) = hil(&["qualify", "--case", "TLS Expird Server Cert"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no qualification case is named"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean \"TLS Expired Server Cert\"?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("MQTT Connect"),
        "the cases are listed: {stderr}"
    );
}

#[test]
fn a_failing_case_exits_1_with_its_evidence_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases");
    std::fs::create_dir(&cases).unwrap();
    std::fs::write(
        cases.join("silent.toml"),
        "name = \"nobody talks\"\ndescription = \"Validates that someone talks.\"\n\
         tags = [\"qualification\"]\ndevice_advisor = \"MQTT Publish\"\n\
         [[step]]\nexpect_message = { topic = \"nobody/home\", within = \"300ms\" }\n",
    )
    .unwrap();
    // Not a case: no qualification tag.
    std::fs::write(
        cases.join("other.toml"),
        "name = \"other\"\n[[step]]\nwait = { for = \"1ms\" }\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, stdout, stderr) = hil(&[
        "qualify",
        "--cases",
        cases.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let report = std::fs::read_to_string(out.join("qualification.md")).unwrap();
    assert!(report.contains("0 of 1 case(s) passed"), "{report}");
    assert!(report.contains("## MQTT Publish: Fail"), "{report}");
    assert!(report.contains("Validates that someone talks."), "{report}");
    assert!(
        report.contains("expected: 1 message(s) on nobody/home"),
        "{report}"
    );
    let xml = std::fs::read_to_string(out.join("qualification.junit.xml")).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");
    let html = std::fs::read_to_string(out.join("qualification.html")).unwrap();
    assert!(
        html.contains(r#"<p class="banner fail">FAIL: 1 of 1 case(s) did not pass</p>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<h2>MQTT Publish <span class="verdict fail">Fail</span></h2>"#),
        "{html}"
    );
    assert!(
        html.contains("<dt>Expected</dt><dd>1 message(s) on nobody/home"),
        "{html}"
    );
    assert!(html.contains("<figure><svg "), "{html}");
    assert!(html.contains("Timeline excerpt"), "{html}");
}

#[test]
fn a_case_without_a_device_advisor_name_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("nameless.toml"),
        "name = \"nameless\"\ntags = [\"qualification\"]\n[[step]]\nwait = { for = \"1ms\" }\n",
    )
    .unwrap();
    let (code, _, stderr) = hil(&["qualify", "--cases", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("device_advisor = "), "{stderr}");
}

#[test]
fn the_cases_run_on_the_board_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = hil(&[
        "qualify",
        "--board",
        "dut2",
        "--case",
        "MQTT Connect",
        "--output",
        out,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report = std::fs::read_to_string(dir.path().join("qualification.md")).unwrap();
    assert!(
        report.contains("board `dut2`: 1 of 1 case(s) passed"),
        "{report}"
    );
}

#[test]
fn an_unknown_board_exits_2_with_the_rig_boards() {
    let (code, _, stderr) = hil(&["qualify", "--board", "nope", "--case", "MQTT Connect"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no board \"nope\""), "{stderr}");
    assert!(
        stderr.contains("dut2"),
        "the rig's boards are listed: {stderr}"
    );
}
