//! JITP and pre-registration, end to end with an emulated board (at speed 5: telemetry
//! every 200 ms, backoff ceilings from 200 ms).

use harness::board::Board;
use harness::board::emulated::{EmulatedBoard, EmulatedOptions};
use harness::broker::Broker;
use harness::broker::embedded::EmbeddedBroker;
use harness::pki::TestPki;
use harness::provision::{ProvisionMode, Provisioned, provision};
use harness::rig::AccessPoint;
use harness::timeline::{Entry, Timeline, What};
use std::sync::Arc;
use std::time::Duration;

const ENDPOINT: &str = "broker.hil.test";
const WAIT: Duration = Duration::from_secs(30);

struct World {
    live: tokio::sync::broadcast::Receiver<Entry>,
    broker: EmbeddedBroker,
    board: EmulatedBoard,
    provisioned: Provisioned,
    _pki_dir: tempfile::TempDir,
}

async fn provisioned(mode: ProvisionMode) -> World {
    let timeline = Timeline::new();
    let live = timeline.subscribe();
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(
        TestPki::open(pki_dir.path(), &[ENDPOINT, "localhost", "127.0.0.1"], false).unwrap(),
    );
    let broker = EmbeddedBroker::start(
        ENDPOINT,
        "127.0.0.1:0".parse().unwrap(),
        None,
        pki.clone(),
        timeline.clone(),
    )
    .await
    .unwrap();
    let ap = AccessPoint {
        ssid: "lab".into(),
        password: String::new(),
        auth: "open".into(),
    };
    let options = EmulatedOptions {
        speed: 5.0,
        access_points: vec![ap.clone()],
        hosts: vec![(ENDPOINT.to_owned(), broker.address())],
        ..EmulatedOptions::default()
    };
    let mut board = EmulatedBoard::start("dut", &options, timeline)
        .await
        .unwrap();
    let provisioned = provision(&mut board, &broker, &pki, &ap, mode)
        .await
        .unwrap();
    World {
        live,
        broker,
        board,
        provisioned,
        _pki_dir: pki_dir,
    }
}

/// Waits for telemetry from the board on the timeline; returns the TLS rejections seen
/// before it.
async fn telemetry(world: &mut World) -> Vec<String> {
    let topic = format!("{}/sensors", world.provisioned.thing);
    let mut rejections = Vec::new();
    let waiting = async {
        loop {
            if let Ok(Entry {
                what: What::Broker { event },
                ..
            }) = world.live.recv().await
            {
                if event["event"] == "tls_rejected" {
                    rejections.push(event["reason"].as_str().unwrap_or_default().to_owned());
                }
                if event["event"] == "publish_in" && event["topic"] == topic.as_str() {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(WAIT, waiting)
        .await
        .expect("telemetry arrives");
    rejections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitp_provisions_at_the_first_connection() {
    let mut world = provisioned(ProvisionMode::Jitp).await;
    let rejections = telemetry(&mut world).await;
    assert!(
        rejections.iter().any(|r| r.starts_with("JITP")),
        "{rejections:?}"
    );
    let id = world.provisioned.certificate_id.clone();
    world.broker.control_plane().read(|reg| {
        assert_eq!(reg.certificate(&id).unwrap().status.as_str(), "ACTIVE");
        let principals = reg.things().count();
        assert_eq!(principals, 1, "the template created the thing");
    });
    Box::new(world.board).shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preregistered_board_connects_at_once() {
    let mut world = provisioned(ProvisionMode::Preregistered).await;
    let rejections = telemetry(&mut world).await;
    assert!(rejections.is_empty(), "no JITR round trip: {rejections:?}");
    let thing = world.provisioned.thing.clone();
    let id = world.provisioned.certificate_id.clone();
    world
        .broker
        .control_plane()
        .read(|reg| assert!(reg.is_attached(&thing, &id)));
    Box::new(world.board).shutdown().await.unwrap();
}
