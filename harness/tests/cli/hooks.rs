//! Provisioning hooks: a board provisioned by its rig's hook streams; a failing hook fails
//! the step with its stderr; a bad placeholder is a located error.

use super::*;

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
