//! The `mosquitto` backend: Mosquitto as a child process, configured from the test PKI.

use harness::broker::Broker;
use harness::broker::mosquitto::MosquittoBroker;
use harness::client::{ClientError, ClientOptions, TestClient};
use harness::pki::TestPki;
use harness::timeline::{Timeline, What};
use rumqttc::QoS;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn pki(dir: &Path) -> Arc<TestPki> {
    Arc::new(TestPki::open(dir, &["broker.hil.test", "localhost", "127.0.0.1"], false).unwrap())
}

fn options(
    broker: &MosquittoBroker,
    pki: &TestPki,
    id: &str,
    identity: harness::pki::KeyedCert,
) -> ClientOptions {
    ClientOptions {
        host: "127.0.0.1".into(),
        port: broker.port(),
        client_id: id.into(),
        server_ca_pem: pki.server_ca.pem.clone(),
        identity,
    }
}

/// Starts Debian's mosquitto with the test PKI.
async fn start(pki: &TestPki, timeline: Arc<Timeline>) -> MosquittoBroker {
    MosquittoBroker::start(Path::new("mosquitto"), "broker.hil.test", pki, timeline)
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs mosquitto (Debian package)"]
async fn devices_stay_under_their_own_id_and_the_observer_sees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let timeline = Timeline::new();
    let broker = start(&pki, timeline.clone()).await;
    assert_eq!(
        broker.capabilities(),
        harness::broker::BrokerCapabilities::OBSERVED
    );

    let (device, identity) = pki.new_device().unwrap();
    let client = TestClient::connect(
        "dev",
        options(&broker, &pki, &device.thing, identity),
        timeline.clone(),
        WAIT,
    )
    .await
    .unwrap();
    client
        .subscribe(&format!("{}/#", device.thing), QoS::AtMostOnce, WAIT)
        .await
        .unwrap();
    let mut live = timeline.subscribe();
    client
        .publish("someone-else/sensors", b"forged", QoS::AtMostOnce, false)
        .await
        .unwrap();
    client
        .publish(
            &format!("{}/sensors", device.thing),
            b"{\"Light\":1}",
            QoS::AtMostOnce,
            false,
        )
        .await
        .unwrap();
    broker
        .publish(
            &format!("{}/cmd", device.thing),
            b"go",
            QoS::AtMostOnce,
            false,
        )
        .await
        .unwrap();
    // The device receives the cloud's message; the observer sees the device's own topic,
    // never the forged one (the ACL drops it).
    let mut observed = Vec::new();
    let mut received = false;
    tokio::time::timeout(WAIT, async {
        while observed.len() < 2 || !received {
            let entry = live.recv().await.unwrap();
            match &entry.what {
                What::Broker { event } if event["event"] == "observed_publish" => {
                    observed.push(event["topic"].as_str().unwrap().to_owned());
                }
                What::Client { event, .. } if event["event"] == "received" => {
                    received |= event["topic"] == format!("{}/cmd", device.thing).as_str();
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "observed {observed:?}, received {received}; log {:?}",
            std::fs::read_to_string(broker.log())
        )
    });
    assert!(
        !observed.iter().any(|t| t.starts_with("someone-else")),
        "{observed:?}"
    );
    assert!(
        observed.contains(&format!("{}/sensors", device.thing)),
        "{observed:?}"
    );
    Box::new(broker).shutdown().await;
}

#[tokio::test]
#[ignore = "needs mosquitto (Debian package)"]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let timeline = Timeline::new();
    let broker = start(&pki, timeline.clone()).await;
    let other_dir = tempfile::tempdir().unwrap();
    let stranger = TestPki::open(other_dir.path(), &["localhost"], false).unwrap();
    let (device, identity) = stranger.new_device().unwrap();
    let error = TestClient::connect(
        "stranger",
        options(&broker, &pki, &device.thing, identity),
        timeline,
        WAIT,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ClientError::Refused { .. }), "{error}");
}

#[tokio::test]
#[ignore = "needs mosquitto (Debian package)"]
async fn the_process_is_killed_when_the_broker_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let broker = start(&pki, Timeline::new()).await;
    let pid = broker.pid().expect("mosquitto runs");
    assert!(!crate::support::process_gone(pid));
    drop(broker);
    crate::support::wait_gone(pid, WAIT).await;
}

#[tokio::test]
async fn a_missing_program_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let error = MosquittoBroker::start(
        Path::new("/nonexistent/mosquitto"),
        "broker.hil.test",
        &pki,
        Timeline::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("/nonexistent/mosquitto") && error.contains("install"),
        "{error}"
    );
}

#[tokio::test]
async fn a_program_that_exits_at_start_is_reported_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    // `false` stands in for a mosquitto that rejects its configuration.
    let script = dir.path().join("fake-mosquitto");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"Error: Unable to open config file $2.\" >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let error = MosquittoBroker::start(&script, "broker.hil.test", &pki, Timeline::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("exited at start") && error.contains("Unable to open config"),
        "{error}"
    );
}
