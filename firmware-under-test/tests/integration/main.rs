//! The emulated board end to end: its console over the pseudo-terminal, its control
//! socket, and its traffic against the mock broker with mutual TLS. `qemu` drives the
//! firmware's Cortex-M image under QEMU through its console and QMP.

mod mosquitto;
mod qemu;
mod support;
mod timing;

use firmware_under_test::backoff::Backoff;
use firmware_under_test::time::Duration as FwDuration;
use mock_broker::{CloseReason, EventKind};
use rumqttc::QoS;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Board, ENDPOINT, Pki, WAIT, provision};

/// Boots a provisioned board against a fresh broker; returns once MQTT is connected.
struct Connected {
    pki: Pki,
    broker: mock_broker::MockBroker,
    tap: mock_broker::Tap,
    board: Board,
    console: support::Console,
    thing: String,
}

async fn connected(speed: f64) -> Connected {
    let pki = Pki::new();
    let (broker, mut tap) = pki.broker().await;
    let board = Board::start(speed, &[]).await;
    let mut console = board.console().await;
    let thing = provision(&mut console, &pki, broker.local_addr().port()).await;
    assert_eq!(console.command("reset").await, "OK");
    let boot = console.expect("\u{4}").await;
    assert!(boot.contains("HIL reference firmware"), "{boot}");
    let id = thing.clone();
    tap.wait_for(WAIT, |e| matches!(e, EventKind::Connack { client_id, code, .. } if *client_id == id && code == "Success"))
        .await
        .expect("the board connects");
    Connected {
        pki,
        broker,
        tap,
        board,
        console,
        thing,
    }
}

async fn next_publish(tap: &mut mock_broker::Tap, topic: &str) -> (Duration, String) {
    let topic = topic.to_owned();
    let event = tap
        .wait_for(
            WAIT,
            |e| matches!(e, EventKind::PublishIn { message, .. } if message.topic == topic),
        )
        .await
        .unwrap_or_else(|e| panic!("no publish on {topic}: {e}"));
    match &event.kind {
        EventKind::PublishIn { message, .. } => (
            event.at,
            String::from_utf8_lossy(&message.payload).into_owned(),
        ),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boots_to_the_prompt_and_answers_on_the_console() {
    let board = Board::start(10.0, &[]).await;
    let mut console = board.console().await;
    let mut control = board.control().await;
    assert_eq!(control.request(json!({"cmd": "reset"})).await["ok"], true);
    let banner = console.expect("\u{4}").await;
    assert!(banner.starts_with("HIL reference firmware"), "{banner}");
    assert!(
        banner.contains("[W] missing credentials: cert, rootca, endpoint, wifi"),
        "{banner}"
    );
    assert_eq!(console.command("version").await, env!("CARGO_PKG_VERSION"));
    assert_eq!(console.command("cli_version").await, "2.0");
    let device = console.command("device").await;
    assert!(
        device.starts_with("0123") && device.ends_with("EE"),
        "{device}"
    );
    let help = console.command("help").await;
    assert!(
        help.starts_with("ERROR: unknown command; commands:"),
        "{help}"
    );
    // Unprovisioned: red.
    assert_eq!(control.leds().await["red"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_connection_streams_telemetry_with_the_documented_leds() {
    let pki = Pki::new();
    let (broker, mut tap) = pki.broker().await;
    let board = Board::start(10.0, &[]).await;
    let mut console = board.console().await;
    let thing = provision(&mut console, &pki, broker.local_addr().port()).await;
    let mut control = board.control().await;
    control.request(json!({"cmd": "subscribe_gpio"})).await;
    assert_eq!(console.command("reset").await, "OK");

    // Blue blinks while joining, then holds; green blinks while connecting, then holds.
    let edges = control.edges_until_lit("blue", 2).await;
    assert!(
        edges.iter().any(|e| e["led"] == "blue" && e["on"] == false),
        "blue blinks"
    );
    control
        .wait_led("blue", true, Duration::from_millis(300))
        .await;
    control
        .wait_led("green", true, Duration::from_millis(300))
        .await;
    assert_eq!(control.leds().await["red"], false);

    // TLS with SNI, the thing name as client id, the certificate signed from the CSR.
    let tls = tap
        .wait_for(WAIT, |e| matches!(e, EventKind::TlsAccepted { .. }))
        .await
        .unwrap();
    assert!(matches!(&tls.kind, EventKind::TlsAccepted { sni: Some(sni), .. } if sni == ENDPOINT));

    // Telemetry on <thing>/sensors with the documented payload, about every 100 ms.
    let topic = format!("{thing}/sensors");
    let mut times = Vec::new();
    for _ in 0..6 {
        let (at, payload) = next_publish(&mut tap, &topic).await;
        let json: Value = serde_json::from_str(&payload).unwrap();
        assert!(json["Light"].is_u64(), "{payload}");
        assert!(json["Temp"].is_f64(), "{payload}");
        let temp = payload
            .split("\"Temp\":")
            .nth(1)
            .unwrap()
            .trim_end_matches('}');
        assert_eq!(
            temp.split('.').nth(1).map(str::len),
            Some(2),
            "two decimals: {payload}"
        );
        times.push(at);
    }
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(
        (60.0..=250.0).contains(&mean),
        "1 s at speed 10 is 100 ms; mean gap {mean:.0} ms"
    );

    // Yellow pulses on each publish.
    let pulses = control.edges_until_lit("yellow", 3).await;
    assert!(
        pulses
            .iter()
            .any(|e| e["led"] == "yellow" && e["on"] == false)
    );
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_delta_holds_yellow_and_is_reported() {
    let mut c = connected(10.0).await;
    let mut control = c.board.control().await;
    let delta = format!("$aws/things/{}/shadow/update/delta", c.thing);
    let update = format!("$aws/things/{}/shadow/update", c.thing);
    // Wait for the board's subscription, and its start-up report (toggle 0, which the
    // broker may tap before or after the SUBACK), before publishing the delta.
    let id = c.thing.clone();
    let (mut subscribed, mut reported) = (false, false);
    c.tap
        .wait_for(WAIT, |e| {
            match e {
                EventKind::Suback { client_id, .. } if *client_id == id => subscribed = true,
                EventKind::PublishIn { message, .. } if message.topic == update => reported = true,
                _ => {}
            }
            subscribed && reported
        })
        .await
        .unwrap();
    // The board reports the state it starts in first.
    let (_, start_up) = next_publish(&mut c.tap, &update).await;
    assert_eq!(start_up, r#"{"state":{"reported":{"toggle":0}}}"#);
    c.broker.publish(
        &delta,
        r#"{"version":2,"timestamp":1,"state":{"toggle":1}}"#,
        QoS::AtLeastOnce,
        false,
    );
    let (_, report) = next_publish(&mut c.tap, &update).await;
    assert_eq!(report, r#"{"state":{"reported":{"toggle":1}}}"#);
    control
        .wait_led("yellow", true, Duration::from_millis(400))
        .await;
    c.broker.publish(
        &delta,
        r#"{"version":3,"timestamp":2,"state":{"toggle":0}}"#,
        QoS::AtMostOnce,
        false,
    );
    let (_, report) = next_publish(&mut c.tap, &update).await;
    assert_eq!(report, r#"{"state":{"reported":{"toggle":0}}}"#);
    control
        .wait_led("yellow", false, Duration::from_millis(400))
        .await;
    let _ = (&c.pki, &c.console);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_down_it_backs_off_with_full_jitter() {
    const SPEED: f64 = 20.0;
    const SEED: u64 = 1234;
    // A "broker" that accepts TCP and hangs up at once: every TLS handshake fails.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let pki = Pki::new();
    let board = Board::start(SPEED, &["--seed", &SEED.to_string()]).await;
    let mut console = board.console().await;
    provision(&mut console, &pki, port).await;
    let mut control = board.control().await;
    control.request(json!({"cmd": "subscribe_gpio"})).await;
    assert_eq!(console.command("reset").await, "OK");

    let mut accepts = Vec::new();
    while accepts.len() < 7 {
        let (socket, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .unwrap()
            .unwrap();
        accepts.push(tokio::time::Instant::now());
        drop(socket);
    }
    // Firmware milliseconds between attempts, against the same seeded backoff.
    let observed: Vec<f64> = accepts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0 * SPEED)
        .collect();
    // The first attempt follows the Wi-Fi join at once; each failure then draws a delay.
    let mut expected = Backoff::new(FwDuration::from_secs(1), FwDuration::from_secs(32), SEED);
    let tolerance = 80.0 * SPEED; // 80 ms of host scheduling, in firmware time
    for (i, seen) in observed.iter().enumerate() {
        let want = expected.next_delay().millis() as f64;
        assert!(
            (seen - want).abs() <= tolerance,
            "attempt {}: waited {seen:.0} ms, expected {want} ms; all {observed:?}",
            i + 2
        );
    }
    let distinct: std::collections::BTreeSet<u64> =
        observed.iter().map(|d| (*d / 100.0) as u64).collect();
    assert!(distinct.len() > 2, "jitter: {observed:?}");
    // Green blinks the whole time; red stays off.
    let leds = control.leds().await;
    assert_eq!(leds["red"], false);
    let green_edges = control.edges.iter().filter(|e| e["led"] == "green").count();
    assert!(
        green_edges >= 4,
        "green blinks while retrying ({green_edges} edges)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_root_ca_lights_red_without_a_retry_storm() {
    let pki = Pki::new();
    let (broker, mut tap) = pki.broker().await;
    let board = Board::start(10.0, &[]).await;
    let mut console = board.console().await;
    provision(&mut console, &pki, broker.local_addr().port()).await;
    let stranger = mock_broker::dev_pki::TestCa::new("not the broker's CA").unwrap();
    assert_eq!(console.send_pem("rootca", &stranger.pem()).await, "OK");
    let mut control = board.control().await;
    assert_eq!(console.command("reset").await, "OK");
    control
        .wait_led("red", true, Duration::from_millis(200))
        .await;
    assert_eq!(control.leds().await["green"], false);
    // 2 s of host time is 20 s of firmware time: many backoff periods, still one attempt.
    let mut attempts = 0;
    let window = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(event)) = tokio::time::timeout_at(window, tap.next()).await {
        if matches!(
            event.kind,
            EventKind::TlsRejected { .. } | EventKind::TlsAccepted { .. }
        ) {
            attempts += 1;
        }
    }
    assert_eq!(attempts, 1);
    assert!(
        console
            .expect("server certificate rejected")
            .await
            .contains("[E] tls:")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cycle_keeps_the_credentials_and_erase_forgets_them() {
    let mut c = connected(10.0).await;
    let mut control = c.board.control().await;
    assert_eq!(
        control.request(json!({"cmd": "power_off"})).await["ok"],
        true
    );
    assert_eq!(
        control.request(json!({"cmd": "state"})).await["powered"],
        false
    );
    assert_eq!(
        control.leds().await,
        json!({"blue": false, "green": false, "yellow": false, "red": false})
    );
    assert_eq!(
        control.request(json!({"cmd": "power_on"})).await["ok"],
        true
    );
    let id = c.thing.clone();
    c.tap
        .wait_for(
            WAIT,
            |e| matches!(e, EventKind::Connack { client_id, .. } if *client_id == id),
        )
        .await
        .expect("it reconnects after the power cycle");
    let boot = c.console.expect("\u{4}").await;
    assert!(boot.contains("HIL reference firmware"), "{boot}");
    assert_eq!(c.console.command("thing").await, c.thing);

    assert_eq!(c.console.command("erase").await, "OK");
    control.request(json!({"cmd": "reset"})).await;
    let boot = c.console.expect("\u{4}").await;
    assert!(
        boot.contains("missing credentials: cert, rootca, endpoint, wifi"),
        "{boot}"
    );
    control
        .wait_led("red", true, Duration::from_millis(100))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_console_input_is_refused_and_corrupts_nothing() {
    let pki = Pki::new();
    let board = Board::start(10.0, &[]).await;
    let mut console = board.console().await;
    let thing = provision(&mut console, &pki, 8883).await;
    let nvm = board.state_dir.join("nvm.json");
    let saved = std::fs::read(&nvm).unwrap();

    support::bad_input_is_refused(&mut console, &pki).await;

    assert_eq!(
        std::fs::read(&nvm).unwrap(),
        saved,
        "the stored credentials are untouched"
    );
    assert_eq!(console.command("thing").await, thing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wifi_loss_drops_the_connection_and_its_return_restores_it() {
    let mut c = connected(10.0).await;
    let mut control = c.board.control().await;
    control.request(json!({"cmd": "subscribe_gpio"})).await;
    assert_eq!(
        control
            .request(json!({"cmd": "wifi_down", "ssid": support::SSID}))
            .await["ok"],
        true
    );
    let id = c.thing.clone();
    let closed = c
        .tap
        .wait_for(
            WAIT,
            |e| matches!(e, EventKind::Closed { client_id: Some(cid), .. } if *cid == id),
        )
        .await
        .unwrap();
    assert!(matches!(
        &closed.kind,
        EventKind::Closed {
            reason: CloseReason::ConnectionLost | CloseReason::Io { .. },
            ..
        }
    ));
    control
        .wait_led("green", false, Duration::from_millis(200))
        .await;
    let edges = control.edges_until_lit("blue", 2).await;
    assert!(
        edges.iter().any(|e| e["led"] == "blue" && e["on"] == false),
        "blue blinks while rejoining"
    );

    assert_eq!(
        control
            .request(json!({"cmd": "wifi_up", "ssid": support::SSID}))
            .await["ok"],
        true
    );
    c.tap
        .wait_for(
            WAIT,
            |e| matches!(e, EventKind::Connack { client_id, .. } if *client_id == id),
        )
        .await
        .expect("it reconnects once the access point is back");
    control
        .wait_led("blue", true, Duration::from_millis(300))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_overrides_reach_the_payload() {
    let mut c = connected(10.0).await;
    let mut control = c.board.control().await;
    let reply = control
        .request(json!({"cmd": "set_sensors", "light": 7, "temp": -3.25}))
        .await;
    assert_eq!(reply["ok"], true);
    let topic = format!("{}/sensors", c.thing);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "override never seen"
        );
        let (_, payload) = next_publish(&mut c.tap, &topic).await;
        if payload == r#"{"Light":7,"Temp":-3.25}"# {
            break;
        }
    }
    let bad = control
        .request(json!({"cmd": "read_register", "address": "0x1"}))
        .await;
    assert_eq!(bad["ok"], false);
    let reg = control
        .request(json!({"cmd": "read_register", "address": "0x41004410"}))
        .await;
    // Green is lit: bit 20 low (active-low).
    assert_eq!(reg["value"].as_u64().unwrap() & (1 << 20), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_cleanly_and_removes_the_control_socket() {
    let board = Board::start(10.0, &[]).await;
    let control = board.control.clone();
    assert!(control.exists());
    let status = board.terminate().await;
    assert!(status.success(), "{status}");
    assert!(!control.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_exits_when_its_parent_dies() {
    let dir = tempfile::tempdir().unwrap();
    // sh starts the board in the background and reports its pid; then sh is killed.
    let mut sh = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$@" > /dev/null & echo $!; wait"#)
        .arg(env!("CARGO_BIN_EXE_emulated-board"))
        .arg("--state-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(sh.stdout.take().unwrap());
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line)
        .await
        .unwrap();
    let pid: i32 = line.trim().parse().unwrap();
    // Wait until the board runs (its state dir has the key), then kill its parent.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !dir.path().join("device-key.pem").exists() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sh.kill().await.unwrap();
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true)
    };
    while !gone() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the board outlived its parent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pty_link_points_at_the_console_and_buttons_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyDUT");
    let board = Board::start_in(dir.path(), 10.0, &["--pty-link", link.to_str().unwrap()]).await;
    assert_eq!(
        std::fs::read_link(&link).unwrap().to_str(),
        Some(board.serial.as_str())
    );
    let mut console = support::Console::open(link.to_str().unwrap());
    console.sync().await;
    let mut control = board.control().await;
    assert_eq!(
        control
            .request(json!({"cmd": "press", "button": "sw0"}))
            .await["ok"],
        true
    );
    console.expect("[I] button: sw0 pressed").await;
    assert_eq!(
        control
            .request(json!({"cmd": "press", "button": "sw9"}))
            .await["ok"],
        false
    );
    assert!(board.terminate().await.success());
    assert!(!link.exists(), "the symlink is removed on exit");
}
