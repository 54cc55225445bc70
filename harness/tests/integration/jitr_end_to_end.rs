//! The guide's flow end to end: an embedded broker with the AWS control plane and an
//! emulated board, provisioned for JITR over its console.

use crate::support::{self, WAIT, broker_event, process_gone, wait_gone};
use harness::board::emulated::{EmulatedBoard, EmulatedOptions};
use harness::board::{Board, DEFAULT_SETTLE_FOR_TESTS};
use harness::broker::Broker;
use harness::led::Pattern;
use harness::provision::{ProvisionMode, provision};
use harness::rig::AccessPoint;
use harness::timeline::Timeline;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_board_registers_just_in_time_and_streams_sensor_data() {
    let ap = AccessPoint {
        ssid: "hil-lab".into(),
        password: "hil-lab-password".into(),
        auth: "wpa2".into(),
    };
    let support::World {
        timeline,
        mut live,
        pki,
        broker,
        mut board,
        ap,
        ..
    } = support::start(1.0, ap).await;
    let pid = board.pid().unwrap();

    let provisioned = provision(&mut board, &broker, &pki, &ap, ProvisionMode::Jitr)
        .await
        .unwrap();
    assert_eq!(provisioned.thing.len(), 40);

    // Blue blinks while joining, then holds.
    board
        .leds()
        .wait_solid("blue", true, DEFAULT_SETTLE_FOR_TESTS, WAIT)
        .await
        .unwrap();

    // The first connection registers the certificate; the harness activates it, as
    // Microchip's Lambda would.
    let topic = format!("$aws/events/certificates/registered/{}", provisioned.ca_id);
    let event = broker_event(&mut live, "the JITR registration event", |e| {
        e["event"] == "broker_publish" && e["topic"] == topic.as_str()
    })
    .await;
    let payload: serde_json::Value =
        serde_json::from_str(event["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        payload["certificateId"],
        provisioned.certificate_id.as_str()
    );
    assert_eq!(payload["certificateStatus"], "PENDING_ACTIVATION");
    broker.activate(&provisioned.certificate_id).unwrap();

    // Telemetry on <thing>/sensors with the documented payload.
    let sensors = format!("{}/sensors", provisioned.thing);
    let telemetry = broker_event(&mut live, "telemetry", |e| {
        e["event"] == "publish_in" && e["topic"] == sensors.as_str()
    })
    .await;
    let data: serde_json::Value =
        serde_json::from_str(telemetry["payload"].as_str().unwrap()).unwrap();
    assert!(data["Light"].is_u64() && data["Temp"].is_f64(), "{data}");
    board
        .leds()
        .wait_solid("green", true, DEFAULT_SETTLE_FOR_TESTS, WAIT)
        .await
        .unwrap();

    // Yellow pulses once a second while data flows.
    match board.leds().observe("yellow", Duration::from_secs(4)).await {
        Pattern::Blinking { hz, duty } => {
            assert!((0.5..=3.0).contains(&hz), "{hz} Hz");
            assert!((0.2..=0.8).contains(&duty), "duty {duty}");
        }
        other => panic!("yellow should blink, it was {other}"),
    }
    assert!(!board.leds().is_on("red"));

    // Shut everything down: no child process is left.
    Box::new(board).shutdown().await.unwrap();
    Box::new(broker).shutdown().await;
    assert!(
        process_gone(pid),
        "the emulated board (pid {pid}) is still running"
    );
    assert!(timeline.to_json().contains("\"kind\": \"led\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_board_takes_its_process_with_it() {
    let timeline = Timeline::new();
    let board = EmulatedBoard::start("dut", &EmulatedOptions::default(), timeline)
        .await
        .unwrap();
    let pid = board.pid().unwrap();
    drop(board);
    wait_gone(pid, WAIT).await;
}
