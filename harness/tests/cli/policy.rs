//! The `policy` step on the default rig: a policy attached twice with the same document is
//! one policy, and a second document under the same name is refused with both named.

use super::*;

#[test]
fn a_policy_is_reused_with_its_document_and_refused_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let scenario = dir.path().join("policy.toml");
    let document = r#"{ Version = 2012-10-17, Statement = [{ Effect = "Allow", Action = "iot:RetainPublish", Resource = "arn:aws:iot:*:*:topic/${iot:ClientId}/status" }] }"#;
    let other = r#"{ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "iot:RetainPublish", Resource = "arn:aws:iot:*:*:topic/other" }] }"#;
    std::fs::write(
        &scenario,
        format!(
            r#"name = "policy twice"

[[step]]
provision = {{ board = "dut", mode = "preregistered" }}

[[step]]
expect_message = {{ topic = "{{dut.thing}}/sensors", within = "30s" }}

[[step]]
policy = {{ board = "dut", name = "RetainStatus", document = {document} }}

[[step]]
policy = {{ board = "dut", name = "RetainStatus", document = {document} }}

[[step]]
command = {{ board = "dut", send = "status", reply = "connected: true" }}

[[step]]
expect_message = {{ topic = "{{dut.thing}}/status", within = "10s", retained = true }}

[[step]]
policy = {{ board = "dut", name = "RetainStatus", document = {other} }}
"#
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, stdout, stderr) = hil_run(&rig, &out, &scenario);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let words = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("step 7 (policy) failed"), "{stdout}");
    // The unquoted TOML date went to AWS as the string it was written as.
    assert!(
        words.contains(
            r#"policy RetainStatus already exists with another document: {"Statement":[{"Action":"iot:RetainPublish","Effect":"Allow","Resource":"arn:aws:iot:*:*:topic/${iot:ClientId}/status"}],"Version":"2012-10-17"}"#
        ),
        "{stdout}"
    );
}
