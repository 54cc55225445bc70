//! Fleet mode's accounting on a small fleet: `fleet-board` with 10 boards against the
//! default rig's embedded broker, counted to their first telemetry; a board whose
//! certificate was revoked, counted as failed with the broker's reason; a reconnect storm
//! judged spread with jitter and a herd without; and the
//! `fleet-board` process itself: provisioning on each board's console, and its end with
//! its owner.

use crate::support::{WAIT, process_gone, wait_gone};
use harness::board::emulated::find_workspace_binary;
use harness::fleet::{
    BoardEvent, BoardEventKind, Fleet, FleetOptions, PROGRAM, PROGRAM_ENV, StormOptions,
    StormVerdict,
};
use harness::pki::TestPki;
use harness::provision::ProvisionMode;
use harness::rig::{Rig, workspace_root};
use mock_broker::aws::registry::CertificateStatus;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The default rig (speed 500, zero-touch activation), whatever `HIL_RIG` says: the fleet
/// needs its embedded broker.
fn default_rig() -> Rig {
    Rig::load(&workspace_root().join("scenarios/rigs/emulated.toml")).unwrap()
}

/// Wall time a whole test may take: a safety net, the run ends when the fleet is done.
const SAFETY_NET: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_boards_through_jitr_are_counted_to_their_first_telemetry() {
    let rig = default_rig();
    let options = FleetOptions {
        // Board time at the rig's speed (500): 2 h is 14 s of wall time at most; the run
        // ends as soon as every board has sent telemetry.
        within: Duration::from_secs(7200),
        ..FleetOptions::new(10)
    };
    let report = tokio::time::timeout(SAFETY_NET, async {
        let mut fleet = Fleet::start(&rig, options).await.unwrap();
        let boards = fleet.provision().await.unwrap();
        assert_eq!(boards.len(), 10);
        fleet.run().await.unwrap()
    })
    .await
    .expect("the fleet run ended");
    let tally = &report.tally;
    assert_eq!(report.mode, "jitr");
    assert_eq!(report.speed, 500.0);
    assert_eq!(
        (tally.boards, tally.provisioned, tally.powered_on),
        (10, 10, 10)
    );
    assert_eq!(tally.reached_telemetry, 10, "{}", report.summary());
    assert_eq!(tally.failed, 0, "{}", report.summary());
    assert!(tally.failures_by_cause.is_empty());
    assert_eq!(tally.certificates_registered, 10, "{}", report.summary());
    assert!(tally.registration_events >= 10);
    assert_eq!(report.activations, Some(10));
    assert!(tally.telemetry_messages >= 10);
    // Every board's first CONNECT is refused by JITR, which the broker says.
    assert_eq!(
        tally.attempt_failures_by_cause["JITR: certificate registered as PENDING_ACTIVATION"],
        10,
        "{}",
        report.summary()
    );
    assert!(tally.attempts >= 20);
    let times = tally.time_to_first_telemetry.as_ref().unwrap();
    assert_eq!(times.count, 10);
    // The Wi-Fi join alone takes 1.5 s of board time.
    assert!(times.min_ms >= 1500, "{times:?}");
    assert!(times.p50_ms <= times.p90_ms && times.p90_ms <= times.max_ms);
    assert_eq!(times.histogram.iter().map(|b| b.count).sum::<usize>(), 10);
    assert_eq!(report.tap_events_lost, 0);
    assert!(report.fleet_process.peak_rss_per_board_bytes > 0);
    assert!(report.wall.all_first_telemetry_ms.is_some());
    assert_eq!(report.per_board.len(), 10);
    assert!(
        report
            .per_board
            .iter()
            .all(|b| b.registered && b.thing.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_whose_certificate_was_revoked_is_a_failure_with_the_brokers_reason() {
    let rig = default_rig();
    let options = FleetOptions {
        mode: ProvisionMode::Preregistered,
        // 20 times real time: the revoked board backs off and retries for 30 s of board
        // time (1.5 s of wall time), the others connect in about 2 s of board time.
        speed: Some(20.0),
        within: Duration::from_secs(30),
        ..FleetOptions::new(4)
    };
    let report = tokio::time::timeout(SAFETY_NET, async {
        let mut fleet = Fleet::start(&rig, options).await.unwrap();
        let revoked = fleet.provision().await.unwrap()[0].certificate_id.clone();
        fleet
            .broker()
            .expect("the embedded broker")
            .set_certificate_status(&revoked, CertificateStatus::Revoked)
            .unwrap();
        fleet.run().await.unwrap()
    })
    .await
    .expect("the fleet run ended");
    let tally = &report.tally;
    assert_eq!(
        (tally.reached_telemetry, tally.failed),
        (3, 1),
        "{}",
        report.summary()
    );
    assert_eq!(
        tally.failures_by_cause.iter().collect::<Vec<_>>(),
        [(&"certificate is REVOKED".to_owned(), &1)],
        "{}",
        report.summary()
    );
    assert!(report.per_board[0].first_telemetry_ms.is_none());
    assert!(report.per_board[0].attempts >= 2, "it retried");
    assert!(
        tally.attempt_failures_by_cause["certificate is REVOKED"] >= 2,
        "{}",
        report.summary()
    );
    // Pre-registered: nothing for JITR to do.
    assert_eq!(
        (tally.registration_events, report.activations),
        (0, Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_fleet_takes_its_process_with_it() {
    let fleet = Fleet::start(&default_rig(), FleetOptions::new(3))
        .await
        .unwrap();
    let pid = fleet.process_id().unwrap();
    assert!(!process_gone(pid));
    drop(fleet);
    wait_gone(pid, Duration::from_secs(10)).await;
}

/// `fleet-board` started by hand, its stdin and stdout piped.
struct Program {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Program {
    fn start(boards: usize) -> Program {
        let path = find_workspace_binary(PROGRAM, PROGRAM_ENV).unwrap();
        let mut child = tokio::process::Command::new(path)
            .args(["--boards", &boards.to_string(), "--seed", "7"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Program {
            child,
            stdin,
            stdout,
        }
    }

    async fn send(&mut self, command: serde_json::Value) {
        let line = format!("{command}\n");
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).await.unwrap();
    }

    async fn next(&mut self) -> BoardEvent {
        let line = tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .expect("a line from fleet-board")
            .unwrap()
            .expect("fleet-board is still running");
        BoardEvent::parse(&line).unwrap()
    }

    /// The CSRs up to `ready`.
    async fn csrs(&mut self) -> Vec<String> {
        let mut csrs = Vec::new();
        loop {
            match self.next().await.kind {
                BoardEventKind::Csr { csr, serial } => {
                    assert!(serial.starts_with("0123") && serial.ends_with("EE"));
                    csrs.push(csr);
                }
                BoardEventKind::Ready { boards } => {
                    assert_eq!(boards, csrs.len());
                    return csrs;
                }
                other => panic!("unexpected before ready: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn each_board_takes_only_a_certificate_for_its_own_key_on_its_console() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = TestPki::open(pki_dir.path(), &["broker.hil.test"], false).unwrap();
    let mut program = Program::start(2);
    let csrs = program.csrs().await;
    assert_ne!(csrs[0], csrs[1], "each board has its own key");
    let device = pki.sign_csr(&csrs[0]).unwrap();
    program
        .send(json!({"cmd": "certificate", "board": 0, "pem": device.pem}))
        .await;
    assert!(
        matches!(program.next().await.kind, BoardEventKind::BadCommand { .. }),
        "certificates come after the common credentials"
    );
    program
        .send(json!({
            "cmd": "common",
            "signer": pki.signer.pem,
            "root_ca": pki.server_ca.pem,
            "endpoint": "broker.hil.test:8883",
            "wifi": "hil-lab,hil-lab-password,wpa2",
        }))
        .await;
    program
        .send(json!({"cmd": "certificate", "board": 1, "pem": device.pem}))
        .await;
    let refused = program.next().await;
    assert_eq!(refused.board, Some(1));
    assert_eq!(
        refused.kind,
        BoardEventKind::ProvisionFailed {
            command: "cert".into(),
            reply: "ERROR: the certificate does not match the device key".into(),
        }
    );
    program
        .send(json!({"cmd": "certificate", "board": 0, "pem": device.pem}))
        .await;
    let taken = program.next().await;
    assert_eq!(taken.board, Some(0));
    assert_eq!(
        taken.kind,
        BoardEventKind::Provisioned {
            thing: device.thing.clone()
        }
    );
    program.send(json!({"cmd": "no such thing"})).await;
    assert!(matches!(
        program.next().await.kind,
        BoardEventKind::BadCommand { .. }
    ));
    // The end of stdin ends the process.
    drop(program.stdin.take());
    let status = tokio::time::timeout(WAIT, program.child.wait())
        .await
        .expect("fleet-board exits when its stdin ends")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn fleet_board_exits_when_its_parent_dies() {
    let program = find_workspace_binary(PROGRAM, PROGRAM_ENV).unwrap();
    // The shell is fleet-board's parent. fleet-board reads the shell's stdin, a pipe this
    // test keeps open, so only its parent's death can end it; nothing else is started.
    let mut shell = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3<&0; "$0" --boards 1 <&3 >/dev/null 2>&1 & echo $!; wait"#)
        .arg(&program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let _keep_stdin_open = shell.stdin.take();
    let mut lines = BufReader::new(shell.stdout.take().unwrap()).lines();
    let pid: u32 = lines
        .next_line()
        .await
        .unwrap()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Running (and watching its parent) before the parent goes.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| cmdline.contains("--boards"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fleet-board did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shell.kill().await.unwrap();
    wait_gone(pid, WAIT).await;
}

/// Ten boards at speed 20 through a reconnect storm, with `flaws`.
async fn storm_with(flaws: &[&str]) -> harness::fleet::FleetReport {
    let options = FleetOptions {
        speed: Some(20.0),
        flaws: flaws.iter().map(|flaw| (*flaw).to_owned()).collect(),
        storm: Some(StormOptions::default()),
        ..FleetOptions::new(10)
    };
    tokio::time::timeout(SAFETY_NET, async {
        let mut fleet = Fleet::start(&default_rig(), options).await.unwrap();
        fleet.provision().await.unwrap();
        fleet.run().await.unwrap()
    })
    .await
    .expect("the fleet run ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_is_spread_by_jitter_and_a_herd_without_it() {
    let jittered = storm_with(&[]).await;
    let storm = jittered.storm.as_ref().unwrap();
    assert_eq!(
        (storm.dropped, storm.reconnected),
        (10, 10),
        "{}",
        jittered.summary()
    );
    assert_eq!(
        storm.verdict,
        StormVerdict::Spread,
        "{}",
        jittered.summary()
    );
    // Full jitter under the first ceiling (1 s): every first retry within it.
    assert!(storm.first_retry_delay.as_ref().unwrap().max_ms <= 1000);
    // Every board streams again, after its CONNACK; the broker saw them all come back.
    assert_eq!(storm.streaming, 10, "{}", jittered.summary());
    let all = storm.all_streaming_ms.expect("every board streaming again");
    assert!(
        all >= storm.time_to_reconnect.as_ref().unwrap().max_ms,
        "{}",
        jittered.summary()
    );
    assert!(
        (1..=10).contains(&storm.peak_attempts_per_s),
        "{}",
        jittered.summary()
    );
    assert_eq!(
        jittered.tally.attempt_failures_by_cause["SERVER_INITIATED_DISCONNECT"],
        10,
        "the broker's reason for the drop: {}",
        jittered.summary()
    );
    assert!(jittered.passed());

    let herd = storm_with(&["no-jitter"]).await;
    let storm = herd.storm.as_ref().unwrap();
    assert_eq!(
        (storm.dropped, storm.reconnected),
        (10, 10),
        "{}",
        herd.summary()
    );
    assert_eq!(storm.verdict, StormVerdict::Herd, "{}", herd.summary());
    // Exactly the first ceiling, every board.
    let delays = storm.first_retry_delay.as_ref().unwrap();
    assert_eq!(
        (delays.min_ms, delays.max_ms),
        (1000, 1000),
        "{}",
        herd.summary()
    );
    assert_eq!(storm.peak_retries_in_100ms, 10);
    assert_eq!(
        storm.peak_attempts_per_s,
        10,
        "the herd at once: {}",
        herd.summary()
    );
    assert_eq!(herd.flaws, ["no-jitter"]);
    assert!(!herd.passed(), "a herd fails the run");
}

/// A rig in `dir` with the broker section `broker` and the PKI in `dir/pki`.
fn rig_with(dir: &std::path::Path, name: &str, broker: &str) -> Rig {
    let text = format!(
        "speed = 20\n\n{broker}\n\n[pki]\ndir = \"pki\"\n\n[wifi.lab]\nssid = \"hil-lab\"\npassword = \"hil-lab-password\"\n\n[boards.dut]\nkind = \"emulated\"\n"
    );
    let path = dir.join(name);
    std::fs::write(&path, &text).unwrap();
    Rig::parse(&path, &text).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_slices_of_a_fleet_come_up_through_jitr_against_one_external_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    // The endpoint every slice connects to, as `hil broker` runs it: the embedded broker
    // with the zero-touch rule and the signer CA registered for JITR.
    let serving = rig_with(
        dir.path(),
        "serving.toml",
        "[broker]\nkind = \"embedded\"\nendpoint = \"broker.hil.test\"\nzero_touch_ms = 200",
    );
    let timeline = harness::timeline::Timeline::with_clock(serving.clock);
    let (_pki, broker) = harness::runner::start_embedded_broker(&serving, None, timeline)
        .await
        .unwrap();
    broker.detach_timeline();
    broker
        .prepare_signer(harness::broker::embedded::SignerNeeds::AutoRegistration)
        .unwrap();
    let port = harness::broker::Broker::port(&broker);
    let external = rig_with(
        dir.path(),
        "external.toml",
        &format!("[broker]\nkind = \"external\"\nurl = \"mqtts://localhost:{port}\""),
    );
    let slice = |text: &str| {
        let partition = harness::fleet::Partition::parse(text, 7).unwrap();
        FleetOptions {
            speed: Some(20.0),
            partition: Some(partition),
            ..FleetOptions::new(partition.slice())
        }
    };
    let run = |options: FleetOptions| {
        let rig = external.clone();
        async move {
            let mut fleet = Fleet::start(&rig, options).await.unwrap();
            fleet.provision().await.unwrap();
            fleet.run().await.unwrap()
        }
    };
    let (first, second) = tokio::time::timeout(
        SAFETY_NET,
        futures::future::join(run(slice("0/2")), run(slice("1/2"))),
    )
    .await
    .expect("both slices ended");
    for (report, boards, first_board) in [(&first, 3, 0), (&second, 4, 3)] {
        let tally = &report.tally;
        assert_eq!(tally.boards, boards, "{}", report.summary());
        assert_eq!(tally.reached_telemetry, boards, "{}", report.summary());
        assert!(!report.broker_observed);
        assert_eq!(
            report.activations, None,
            "not seen from an external endpoint"
        );
        assert_eq!(report.partition.unwrap().first_board, first_board);
        assert!(
            report.summary().contains(&format!(
                "fleet: {boards} boards (slice {}/2 of 7: boards {first_board}..{})",
                first_board / 3,
                first_board + boards
            )),
            "{}",
            report.summary()
        );
    }
    // The endpoint registered and activated every board of both slices.
    let things: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|r| r.per_board.iter().filter_map(|b| b.certificate_id.clone()))
        .collect();
    assert_eq!(things.len(), 7);
    let active = broker.control_plane().read(|reg| {
        things
            .iter()
            .filter(|id| {
                reg.certificate(id)
                    .is_ok_and(|c| c.status == CertificateStatus::Active)
            })
            .count()
    });
    assert_eq!(active, 7);
    harness::broker::Broker::shutdown(Box::new(broker)).await;
}
