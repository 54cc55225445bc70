//! The `container` backend: Mosquitto in a container, with the harness's configuration.

use harness::broker::Broker;
use harness::broker::container::ContainerBroker;
use harness::client::{ClientOptions, TestClient};
use harness::pki::TestPki;
use harness::timeline::{Timeline, What};
use rumqttc::QoS;
use std::sync::Arc;
use std::time::Duration;

const IMAGE: &str = "hil-mosquitto:2";
const WAIT: Duration = Duration::from_secs(10);

fn container_exists(id: &str) -> bool {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter", &format!("id={id}")])
        .output()
        .expect("the docker client runs");
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Docker engine and the hil-mosquitto:2 image (ci/build-mosquitto-image)"]
async fn a_device_talks_through_the_container_and_it_is_removed_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(
        TestPki::open(
            dir.path(),
            &["broker.hil.test", "localhost", "127.0.0.1"],
            false,
        )
        .unwrap(),
    );
    let timeline = Timeline::new();
    let broker = ContainerBroker::start(IMAGE, "broker.hil.test", &pki, timeline.clone())
        .await
        .unwrap();
    let id = broker.container_id().to_owned();
    assert!(container_exists(&id));

    let (device, identity) = pki.new_device().unwrap();
    let options = ClientOptions {
        host: broker.address().to_string(),
        port: broker.port(),
        client_id: device.thing.clone(),
        server_ca_pem: pki.server_ca.pem.clone(),
        identity,
    };
    let client = TestClient::connect("dev", options, timeline.clone(), WAIT)
        .await
        .unwrap();
    client
        .publish(
            &format!("{}/sensors", device.thing),
            b"{\"Light\":2}",
            QoS::AtMostOnce,
            false,
        )
        .await
        .unwrap();
    timeline
        .first(WAIT, |entry| {
            matches!(&entry.what, What::Broker { event }
                if event["event"] == "observed_publish" && event["payload"] == "{\"Light\":2}")
        })
        .await
        .expect("the observer sees the device's message");
    drop(client);
    drop(broker);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while container_exists(&id) {
        assert!(
            std::time::Instant::now() < deadline,
            "container {id} still exists after drop"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Docker engine"]
async fn a_missing_image_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::open(dir.path(), &["localhost"], false).unwrap();
    let error = ContainerBroker::start("hil-no-such-image:0", "localhost", &pki, Timeline::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("hil-no-such-image:0"), "{error}");
}
