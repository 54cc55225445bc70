//! The QEMU board kind with real QEMU and the reference image (`fut-mps2-an385`, built by
//! `ci/build-qemu-firmware`; `HIL_QEMU_FIRMWARE` names another): boot, console, LEDs from
//! the register through QMP, reset, Wi-Fi link, power cycle, erase, and QEMU gone after
//! the board is dropped; and a scenario through the runner that provisions the board,
//! which joins QEMU's user network and streams telemetry to the embedded broker.

use harness::board::Board;
use harness::board::qemu::{MPS2_AN385, QemuBoard, QemuOptions, default_firmware};
use harness::rig::{LedBit, workspace_root};
use harness::timeline::{Timeline, What};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const SETTLE: Duration = Duration::from_millis(500);

fn firmware() -> PathBuf {
    let path = std::env::var_os("HIL_QEMU_FIRMWARE")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_firmware(&workspace_root()));
    assert!(
        path.is_file(),
        "no image at {}: run ci/build-qemu-firmware or set HIL_QEMU_FIRMWARE",
        path.display()
    );
    path
}

fn options() -> QemuOptions {
    let leds: BTreeMap<String, LedBit> = ["blue", "green", "yellow", "red"]
        .into_iter()
        .zip(0u8..)
        .map(|(name, bit)| {
            let led = LedBit {
                register: 0x4002_f004,
                bit,
                active_low: false,
            };
            (name.to_owned(), led)
        })
        .collect();
    QemuOptions {
        machine: &MPS2_AN385,
        firmware: firmware(),
        program: PathBuf::from("qemu-system-arm"),
        leds,
        poll: Duration::from_millis(10),
        hosts: vec![("broker.hil.test".into(), "10.0.2.2".into())],
    }
}

/// Is process `pid` alive (and not a zombie)?
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')))
}

/// Waits until process `pid` is gone; the kill is asynchronous.
async fn gone(pid: u32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "QEMU {pid} still runs"
        );
        // Polling /proc: a process's end gives no event to an unrelated process.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn a_qemu_board_boots_answers_resets_power_cycles_and_goes() {
    let timeline = Timeline::new();
    let mut board = QemuBoard::start("dut", options(), timeline.clone())
        .await
        .unwrap();
    let first_pid = board.pid().unwrap();
    assert!(alive(first_pid));
    let hosts = std::fs::read_to_string(board.state_dir().join("hosts")).unwrap();
    assert_eq!(hosts, "10.0.2.2 broker.hil.test\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(board.state_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the state dir is private");

    // Console: the same Console as every board's, on QEMU's PTY.
    let version = board.console().command("version", WAIT).await.unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let thing = board.console().command("thing", WAIT).await.unwrap();
    assert_eq!(thing.len(), 40, "{thing}");

    // LEDs from the register: unprovisioned, red only.
    let leds = board.leds().clone();
    leds.wait_solid("red", true, SETTLE, WAIT).await.unwrap();
    leds.wait_held("blue", false, SETTLE).await.unwrap();

    // Reset through QMP: a new boot banner.
    board.reset().await.unwrap();
    let banner = board
        .console()
        .expect("HIL reference firmware[^\r]*\r\n", WAIT)
        .await
        .unwrap();
    assert!(banner.starts_with("HIL reference firmware"), "{banner}");

    // Wi-Fi down/up is the NIC's link.
    let wifi = board.environment().unwrap();
    wifi.set_wifi("hil-lab", false).await.unwrap();
    wifi.set_wifi("hil-lab", true).await.unwrap();
    assert!(wifi.set_sensors(Some(1), None).await.is_err());

    // Credentials survive a power cycle (a new QEMU on the same state dir).
    let reply = board
        .console()
        .command("endpoint broker.hil.test:8883", WAIT)
        .await
        .unwrap();
    assert!(!reply.starts_with("ERROR"), "{reply}");
    // The firmware carries out a command's actions (the save) before it replies.
    board.console().command("version", WAIT).await.unwrap();
    let nvm = board.state_dir().join("nvm.json");
    let saved = std::fs::read_to_string(&nvm).unwrap();
    assert!(saved.contains("broker.hil.test"), "{saved}");
    board.power_cycle().await.unwrap();
    let second_pid = board.pid().unwrap();
    assert_ne!(first_pid, second_pid);
    gone(first_pid).await;
    assert_eq!(std::fs::read_to_string(&nvm).unwrap(), saved);
    let again = board.console().command("thing", WAIT).await.unwrap();
    assert_eq!(again, thing, "the key survives");
    let booted_after_cycle = timeline.entries().iter().any(|e| {
        matches!(&e.what, What::Console { line, sent: false, .. } if line.contains("missing credentials: cert, rootca, wifi"))
    });
    assert!(booted_after_cycle, "the endpoint was read back at boot");
    leds.wait_solid("red", true, SETTLE, WAIT).await.unwrap();

    // Erase: the flash goes, the key stays.
    board.erase().await.unwrap();
    assert!(!nvm.exists());
    let thing_after_erase = board.console().command("thing", WAIT).await.unwrap();
    assert_eq!(thing_after_erase, thing);

    // Dropping the board ends QEMU.
    let last_pid = board.pid().unwrap();
    let state_dir = board.state_dir().to_owned();
    drop(board);
    gone(last_pid).await;
    assert!(!state_dir.exists(), "the state dir is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn a_missing_qemu_is_a_start_error() {
    let mut options = options();
    options.program = PathBuf::from("/nonexistent/qemu-system-arm");
    let err = QemuBoard::start("dut", options, Timeline::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/qemu-system-arm"),
        "{err}"
    );
}

/// On the QEMU rig, a step the board lacks (sensors) skips the scenario with the reason;
/// Wi-Fi down/up (the NIC's link) and power cycles run.
#[test]
fn the_qemu_rig_skips_only_what_its_boards_lack() {
    use harness::runner::Runner;
    use harness::scenario::Scenario;
    let rig = harness::rig::Rig::load(&workspace_root().join("scenarios/rigs/qemu.toml")).unwrap();
    let runner = Runner::new(rig);
    let scenario = |steps: &str| {
        let text = format!("name = \"x\"\n{steps}");
        Scenario::parse(std::path::Path::new("x.toml"), &text).unwrap()
    };
    let sensors = scenario("[[step]]\nset_sensor = { board = \"dut\", light = 5 }\n");
    assert_eq!(
        runner.unsupported(&sensors).as_deref(),
        Some(
            "step set_sensor needs sensor control, which board dut (qemu) on this rig does not offer"
        )
    );
    let link = scenario(
        "[[step]]\nwifi_down = { board = \"dut\" }\n[[step]]\nwifi_up = { board = \"dut\" }\n[[step]]\npower_cycle = { board = \"dut\" }\n",
    );
    assert_eq!(runner.unsupported(&link), None);
    let wifi_loss = Scenario::load(&workspace_root().join("scenarios/wifi-loss.toml")).unwrap();
    assert_eq!(runner.unsupported(&wifi_loss), None);
}

/// A panic with the board in hand ends QEMU, on a current-thread runtime too (dropping the
/// board there cannot wait on the runtime it blocks).
#[tokio::test]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn a_panic_ends_qemu_on_a_current_thread_runtime() {
    let (pid_tx, pid_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let board = QemuBoard::start("dut", options(), Timeline::new())
            .await
            .unwrap();
        board
            .leds()
            .wait_solid("red", true, SETTLE, WAIT)
            .await
            .unwrap();
        pid_tx.send(board.pid().unwrap()).unwrap();
        panic!("a failing test with the board in hand");
    });
    let pid = pid_rx.await.unwrap();
    assert!(task.await.unwrap_err().is_panic());
    gone(pid).await;
}

/// Through the runner on `scenarios/rigs/qemu.toml`: the board is erased and provisioned on
/// its console, joins (blue solid, read from the register) and streams telemetry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn a_scenario_provisions_a_qemu_board_and_reads_its_leds() {
    use harness::runner::{Outcome, Quiet, Runner};
    use harness::scenario::Scenario;
    firmware();
    let rig = harness::rig::Rig::load(&workspace_root().join("scenarios/rigs/qemu.toml")).unwrap();
    let text = r#"
name = "a QEMU board is provisioned, joins and streams"
[[step]]
erase = { board = "dut" }
[[step]]
provision = { board = "dut", mode = "jitr" }
[[step]]
expect_led = { board = "dut", led = "blue", is = "on", within = "10s" }
[[step]]
expect_message = { topic = "{dut.thing}/sensors", within = "30s" }
[[step]]
expect_led = { board = "dut", led = "red", holds = "off", for = "1s" }
"#;
    let scenario =
        Scenario::parse(std::path::Path::new("qemu-join-and-stream.toml"), text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let runner = Runner::new(rig).with_output_root(out.path().to_owned());
    let report = runner.run(&scenario, &Quiet).await;
    assert!(
        matches!(report.outcome, Outcome::Passed),
        "{:?}",
        report.outcome
    );
}
