//! JITP and pre-registration, end to end with an emulated board (at speed 5: telemetry
//! every 200 ms, backoff ceilings from 200 ms).

use crate::support::{self, World, broker_event};
use harness::board::Board;
use harness::provision::{ProvisionMode, Provisioned, provision};
use harness::rig::AccessPoint;

async fn provisioned(mode: ProvisionMode) -> (World, Provisioned) {
    let ap = AccessPoint {
        ssid: "lab".into(),
        password: String::new(),
        auth: "open".into(),
    };
    let mut world = support::start(5.0, ap).await;
    let provisioned = provision(&mut world.board, &world.broker, &world.pki, &world.ap, mode)
        .await
        .unwrap();
    (world, provisioned)
}

/// Waits for telemetry from the board; returns why the broker refused it before (the
/// details of connections closed as `auth_error`: JITR and JITP happen at CONNECT).
async fn telemetry(world: &mut World, provisioned: &Provisioned) -> Vec<String> {
    let topic = format!("{}/sensors", provisioned.thing);
    let mut rejections = Vec::new();
    broker_event(&mut world.live, "telemetry", |event| {
        if event["event"] == "closed" && event["reason"] == "auth_error" {
            rejections.push(event["detail"].as_str().unwrap_or_default().to_owned());
        }
        event["event"] == "publish_in" && event["topic"] == topic.as_str()
    })
    .await;
    rejections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitp_provisions_at_the_first_connection() {
    let (mut world, provisioned) = provisioned(ProvisionMode::Jitp).await;
    let rejections = telemetry(&mut world, &provisioned).await;
    assert!(
        rejections.iter().any(|r| r.starts_with("JITP")),
        "{rejections:?}"
    );
    let id = provisioned.certificate_id.clone();
    world.broker.control_plane().read(|reg| {
        assert_eq!(reg.certificate(&id).unwrap().status.as_str(), "ACTIVE");
        assert_eq!(reg.things().count(), 1, "the template created the thing");
    });
    Box::new(world.board).shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preregistered_board_connects_at_once() {
    let (mut world, provisioned) = provisioned(ProvisionMode::Preregistered).await;
    let rejections = telemetry(&mut world, &provisioned).await;
    assert!(rejections.is_empty(), "no JITR round trip: {rejections:?}");
    let (thing, id) = (
        provisioned.thing.clone(),
        provisioned.certificate_id.clone(),
    );
    world
        .broker
        .control_plane()
        .read(|reg| assert!(reg.is_attached(&thing, &id)));
    Box::new(world.board).shutdown().await.unwrap();
}
