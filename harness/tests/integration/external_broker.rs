//! The external backend observes a broker it does not run: here a mock broker without
//! the control plane, reached like a lab Mosquitto.

use harness::broker::Broker;
use harness::broker::external::ExternalBroker;
use harness::pki::TestPki;
use harness::timeline::{Entry, Timeline, What};
use mock_broker::{BrokerConfig, ClientAuth, MockBroker};
use rumqttc::QoS;
use std::time::Duration;

#[tokio::test]
async fn the_observer_sees_messages_and_publishes_as_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::open(dir.path(), &["localhost", "127.0.0.1"], false).unwrap();
    let config = BrokerConfig::new(
        pki.server.server_identity().unwrap(),
        ClientAuth::TrustRoots(vec![pki.operator_ca_der().unwrap()]),
    );
    let mock = MockBroker::start(config).await.unwrap();
    let timeline = Timeline::new();
    let mut live = timeline.subscribe();
    let broker = ExternalBroker::start(
        "localhost",
        mock.local_addr().port(),
        &pki.server_ca.pem,
        &pki.operator,
        timeline.clone(),
    )
    .await
    .unwrap();
    assert!(!broker.capabilities().tap);
    assert!(!broker.capabilities().control_plane);

    mock.publish("dev/sensors", r#"{"Light":1}"#, QoS::AtMostOnce, false);
    broker
        .publish("dev/cmd", b"go", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let waiting = async {
        while seen.len() < 2 {
            if let Ok(Entry {
                what: What::Broker { event },
                ..
            }) = live.recv().await
                && event["event"] == "observed_publish"
            {
                seen.push(event["topic"].as_str().unwrap_or_default().to_owned());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("both messages observed");
    seen.sort();
    assert_eq!(seen, ["dev/cmd", "dev/sensors"]);
    Box::new(broker).shutdown().await;
}

#[tokio::test]
async fn an_unreachable_broker_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::open(dir.path(), &["localhost"], false).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = ExternalBroker::start(
        "localhost",
        closed,
        &pki.server_ca.pem,
        &pki.operator,
        Timeline::new(),
    )
    .await
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cannot start the external broker"),
        "{error}"
    );
}
