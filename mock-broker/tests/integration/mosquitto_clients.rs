//! Conformance with Debian's `mosquitto_pub` and `mosquitto_sub`, clients written in C by
//! other people. These need the `mosquitto-clients` package; `ci/test-all` installs it.

use crate::support::{TestBroker, WAIT};
use mock_broker::EventKind;
use rumqttc::QoS;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::process::{Child, Command};

/// The server CA and a client certificate as files, for the mosquitto command line.
struct Files {
    _dir: tempfile::TempDir,
    args: Vec<String>,
}

fn files(t: &TestBroker) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let client = t.pki.client_cert("mosquitto");
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    std::fs::write(path("ca.pem"), t.pki.server_ca.pem()).unwrap();
    std::fs::write(path("client.pem"), &client.cert_pem).unwrap();
    let mut key = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path("client.key"))
        .unwrap();
    std::io::Write::write_all(&mut key, client.key_pem.as_bytes()).unwrap();
    let args = [
        "-h".to_owned(),
        "localhost".to_owned(),
        "-p".to_owned(),
        t.port().to_string(),
        "--cafile".to_owned(),
        path("ca.pem").display().to_string(),
        "--cert".to_owned(),
        path("client.pem").display().to_string(),
        "--key".to_owned(),
        path("client.key").display().to_string(),
    ]
    .to_vec();
    Files { _dir: dir, args }
}

fn command(program: &str, files: &Files, extra: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(&files.args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run(program: &str, files: &Files, extra: &[&str]) -> String {
    let output = tokio::time::timeout(WAIT, command(program, files, extra).output())
        .await
        .unwrap_or_else(|_| panic!("{program} did not finish within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {extra:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts `mosquitto_sub` and waits until the broker has acknowledged its subscription.
async fn subscriber(t: &mut TestBroker, files: &Files, id: &str, extra: &[&str]) -> Child {
    let mut args = vec!["-i", id, "-W", "10"];
    args.extend_from_slice(extra);
    let child = command("mosquitto_sub", files, &args)
        .spawn()
        .expect("cannot start mosquitto_sub");
    let id = id.to_owned();
    t.event(
        "mosquitto_sub subscribed",
        |e| matches!(e, EventKind::Suback { client_id, .. } if *client_id == id),
    )
    .await;
    child
}

async fn finish(child: Child) -> String {
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("mosquitto_sub did not finish")
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
#[ignore = "needs mosquitto-clients (mosquitto_pub, mosquitto_sub)"]
async fn qos0_and_qos1_through_a_wildcard() {
    let mut t = TestBroker::start().await;
    let f = files(&t);
    let sub = subscriber(
        &mut t,
        &f,
        "sub",
        &["-t", "dev/+/sensors", "-q", "1", "-C", "2", "-v"],
    )
    .await;
    run(
        "mosquitto_pub",
        &f,
        &["-i", "p0", "-t", "dev/a/sensors", "-q", "0", "-m", "zero"],
    )
    .await;
    run(
        "mosquitto_pub",
        &f,
        &["-i", "p1", "-t", "dev/b/sensors", "-q", "1", "-m", "one"],
    )
    .await;
    assert_eq!(finish(sub).await, "dev/a/sensors zero\ndev/b/sensors one\n");
}

#[tokio::test]
#[ignore = "needs mosquitto-clients (mosquitto_pub, mosquitto_sub)"]
async fn a_retained_message_reaches_a_later_exact_subscriber() {
    let t = TestBroker::start().await;
    let f = files(&t);
    run(
        "mosquitto_pub",
        &f,
        &["-i", "p", "-t", "dev/config", "-q", "1", "-r", "-m", "v1"],
    )
    .await;
    let out = run(
        "mosquitto_sub",
        &f,
        &["-i", "s", "-t", "dev/config", "-C", "1", "-W", "10"],
    )
    .await;
    assert_eq!(out, "v1\n");
}

#[tokio::test]
#[ignore = "needs mosquitto-clients (mosquitto_pub, mosquitto_sub)"]
async fn a_persistent_session_gets_what_was_queued() {
    let mut t = TestBroker::start().await;
    let f = files(&t);
    // -c: clean session off; -E: exit once subscribed.
    let first = subscriber(&mut t, &f, "dev", &["-c", "-q", "1", "-t", "dev/cmd", "-E"]).await;
    finish(first).await;
    run(
        "mosquitto_pub",
        &f,
        &["-i", "cloud", "-t", "dev/cmd", "-q", "1", "-m", "queued"],
    )
    .await;
    let out = run(
        "mosquitto_sub",
        &f,
        &[
            "-i", "dev", "-c", "-q", "1", "-t", "dev/cmd", "-C", "1", "-W", "10",
        ],
    )
    .await;
    assert_eq!(out, "queued\n");
}

#[tokio::test]
#[ignore = "needs mosquitto-clients (mosquitto_pub, mosquitto_sub)"]
async fn the_will_of_a_killed_client_is_published() {
    let mut t = TestBroker::start().await;
    let f = files(&t);
    let mut watcher = t.client("watcher");
    watcher.connected().await;
    watcher.subscribe("dev/status", QoS::AtMostOnce).await;
    let mut doomed = subscriber(
        &mut t,
        &f,
        "doomed",
        &[
            "-t",
            "dev/cmd",
            "--will-topic",
            "dev/status",
            "--will-payload",
            "offline",
        ],
    )
    .await;
    doomed.start_kill().unwrap();
    assert_eq!(&watcher.message().await.payload[..], b"offline");
}

#[tokio::test]
#[ignore = "needs mosquitto-clients (mosquitto_pub, mosquitto_sub)"]
async fn a_second_client_with_the_same_id_takes_over() {
    let mut t = TestBroker::start().await;
    let f = files(&t);
    let _first = subscriber(&mut t, &f, "twin", &["-t", "twin/cmd"]).await;
    run(
        "mosquitto_pub",
        &f,
        &["-i", "twin", "-t", "twin/status", "-m", "here"],
    )
    .await;
    assert_eq!(
        t.closed_reason("twin").await,
        mock_broker::CloseReason::DuplicateClientid
    );
}

#[tokio::test]
#[ignore = "needs mosquitto-clients (mosquitto_sub)"]
async fn a_frozen_client_is_dropped_at_keep_alive_expiry() {
    let mut t = TestBroker::start_with(|c| c.core.time_scale = 0.01).await;
    let f = files(&t);
    // Keep-alive 30 s, scaled to a 450 ms window; SIGSTOP stops its pings.
    let frozen = subscriber(&mut t, &f, "frozen", &["-t", "frozen/cmd", "-k", "30"]).await;
    let pid = nix::unistd::Pid::from_raw(frozen.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let reason = t.closed_reason("frozen").await;
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert_eq!(reason, mock_broker::CloseReason::MqttKeepAliveTimeout);
}
