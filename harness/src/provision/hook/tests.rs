//! Hook command lines, and hooks run as `sh` scripts.

use super::*;

fn ap() -> AccessPoint {
    AccessPoint {
        ssid: "hil lab".into(),
        password: "secret pass".into(),
        auth: "wpa2".into(),
    }
}

fn device() -> DeviceCert {
    DeviceCert {
        pem: "-----BEGIN CERTIFICATE-----\ndevice\n-----END CERTIFICATE-----\n".into(),
        thing: "0123abcd".into(),
        id: "c0ffee".into(),
    }
}

fn values<'a>(ap: &'a AccessPoint, device: Option<&'a DeviceCert>) -> HookValues<'a> {
    HookValues {
        board: "dut",
        serial_port: "/dev/ttyACM0",
        endpoint: "broker.hil.test",
        port: 8883,
        ap,
        signer_pem: "signer pem\n",
        root_ca_pem: "root pem\n",
        server_ca_pem: "server pem\n",
        device,
    }
}

fn hook(line: &str, timeout: Duration) -> ProvisionHook {
    ProvisionHook {
        command: CommandLine::parse(line).unwrap(),
        csr_command: None,
        timeout,
        dir: std::env::temp_dir(),
    }
}

async fn run_hook(line: &str, timeout: Duration) -> (Result<String, HookError>, Arc<Timeline>) {
    let timeline = Timeline::new();
    let (ap, device) = (ap(), device());
    let hook = hook(line, timeout);
    let result = run(
        &hook.command,
        &values(&ap, Some(&device)),
        &hook,
        "dut provisioning hook",
        &timeline,
    )
    .await;
    (result, timeline)
}

use std::sync::Arc;

#[test]
fn arguments_are_split_like_a_shell_and_filled_in_one_by_one() {
    let line = CommandLine::parse(
        r#"tool --port {serial_port} "--wifi={wifi_ssid},{wifi_password}" {endpoint}:{port} '{{"board":"{board}"}}' {thing}"#,
    )
    .unwrap();
    let (ap, device) = (ap(), device());
    let values = values(&ap, Some(&device));
    let argv = line.argv(|p| values.value(p, Path::new("/files")));
    assert_eq!(
        argv,
        [
            "tool",
            "--port",
            "/dev/ttyACM0",
            "--wifi=hil lab,secret pass",
            "broker.hil.test:8883",
            r#"{"board":"dut"}"#,
            "0123abcd",
        ]
    );
    let files = CommandLine::parse("t {certificate} {signer} {root_ca} {server_ca}").unwrap();
    assert_eq!(
        files.argv(|p| values.value(p, Path::new("/files"))),
        [
            "t",
            "/files/certificate.pem",
            "/files/signer.pem",
            "/files/root-ca.pem",
            "/files/server-ca.pem"
        ]
    );
}

#[test]
fn bad_command_lines_say_what_is_wrong() {
    assert_eq!(
        CommandLine::parse("tool --cert {cert}"),
        Err(CommandLineError::UnknownPlaceholder {
            name: "cert".into()
        })
    );
    assert_eq!(
        CommandLine::parse("tool {certificate"),
        Err(CommandLineError::Unclosed {
            word: "{certificate".into()
        })
    );
    assert_eq!(
        CommandLine::parse("tool 'unclosed"),
        Err(CommandLineError::Quoting)
    );
    assert_eq!(CommandLine::parse("  "), Err(CommandLineError::Empty));
}

#[test]
fn the_csr_hook_may_use_only_what_is_known_before_the_certificate() {
    let known: Vec<&str> = Placeholder::ALL
        .into_iter()
        .filter(|p| !p.known_before_certificate())
        .map(Placeholder::name)
        .collect();
    assert_eq!(known, ["certificate", "thing", "certificate_id"]);
}

#[test]
fn the_csr_is_found_in_the_hook_output() {
    let line = CommandLine::parse("tool").unwrap();
    let output = "reading the secure element...\r\n-----BEGIN NEW CERTIFICATE REQUEST-----\r\nMIIB\r\n-----END NEW CERTIFICATE REQUEST-----\r\ndone";
    assert_eq!(
        csr_in(output, &line).unwrap(),
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
    );
    assert!(matches!(
        csr_in("no csr here", &line),
        Err(HookError::NoCsr { command }) if command == "tool"
    ));
}

/// The `text` of every `What::Program` line of `stream`.
fn lines(timeline: &Timeline, stream: &str) -> Vec<String> {
    timeline
        .entries()
        .into_iter()
        .filter_map(|e| match e.what {
            What::Program {
                program,
                stream: s,
                line,
            } if s == stream => {
                assert_eq!(program, "dut provisioning hook");
                Some(line)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_hook_gets_its_files_and_values_and_its_output_goes_on_the_timeline() {
    let (result, timeline) = run_hook(
        r#"sh -c 'stat -c %a "$1"; cat "$1" "$2"; echo "$3"; echo "$1"; echo warning >&2' hook {certificate} {server_ca} {wifi_password}"#,
        Duration::from_secs(20),
    )
    .await;
    let stdout = result.unwrap();
    let lines_out = lines(&timeline, "stdout");
    assert_eq!(
        lines_out[..6],
        [
            "644",
            "-----BEGIN CERTIFICATE-----",
            "device",
            "-----END CERTIFICATE-----",
            "server pem",
            "secret pass",
        ]
    );
    assert_eq!(stdout, lines_out.join("\n"));
    assert_eq!(lines(&timeline, "stderr"), ["warning"]);
    // The files are gone with the run.
    let certificate = Path::new(&lines_out[6]);
    assert!(certificate.ends_with("certificate.pem"), "{certificate:?}");
    assert!(!certificate.exists());
    // The command line is on the timeline with its placeholders, not their values.
    let actions: Vec<String> = timeline
        .entries()
        .into_iter()
        .filter_map(|e| match e.what {
            What::Action { text } => Some(text),
            _ => None,
        })
        .collect();
    assert!(actions[0].contains("{wifi_password}"), "{actions:?}");
    assert!(
        !actions.iter().any(|a| a.contains("secret pass")),
        "{actions:?}"
    );
    assert_eq!(actions[1], "dut provisioning hook: exit status: 0");
}

#[tokio::test]
async fn a_failing_hook_reports_its_status_and_stderr() {
    let (result, _) = run_hook(
        "sh -c 'echo working; echo no probe found >&2; echo giving up >&2; exit 3'",
        Duration::from_secs(20),
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(&error, HookError::Failed { status, stderr, .. }
            if status == "exit status: 3" && stderr == "no probe found\ngiving up"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "`sh -c 'echo working; echo no probe found >&2; echo giving up >&2; exit 3'` exit status: 3; its stderr:\n    no probe found\n    giving up"
    );
}

#[tokio::test]
async fn a_missing_program_is_named() {
    let (result, _) = run_hook("./no-such-tool {board}", Duration::from_secs(20)).await;
    assert!(
        matches!(&result, Err(HookError::Spawn { program, .. }) if program == "./no-such-tool"),
        "{result:?}"
    );
}

/// Waits until process `pid` is gone (or a zombie). Another process's end cannot be
/// awaited, so /proc is looked at every 10 ms, for 10 s at most.
async fn wait_gone(pid: &str) {
    for _ in 0..1000 {
        let gone = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true);
        if gone {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("process {pid} still runs");
}

#[tokio::test]
async fn a_hook_that_runs_too_long_is_killed_with_its_children() {
    let started = std::time::Instant::now();
    let (result, timeline) = run_hook(
        "sh -c 'sleep 60 & echo $!; echo stuck >&2; wait'",
        Duration::from_millis(500),
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(&error, HookError::TimedOut { timeout, stderr, .. }
            if *timeout == Duration::from_millis(500) && stderr == "stuck"),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let child = lines(&timeline, "stdout").remove(0);
    wait_gone(&child).await;
}

#[tokio::test]
async fn what_a_finished_hook_leaves_running_is_killed() {
    let started = std::time::Instant::now();
    // The background sleep keeps stdout open: without the group kill, reading it would
    // last until the timeout.
    let (result, _) = run_hook("sh -c 'sleep 60 & echo $!'", Duration::from_secs(30)).await;
    let child = result.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    wait_gone(&child).await;
}
