use super::*;
use crate::broker::Broker;
use crate::broker::embedded::{EmbeddedBroker, EmbeddedOptions};
use crate::pki::TestPki;

const WAIT: Duration = Duration::from_secs(10);

struct Bench {
    timeline: Arc<Timeline>,
    pki: Arc<TestPki>,
    broker: EmbeddedBroker,
    _dir: tempfile::TempDir,
}

async fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(TestPki::open(dir.path(), &["broker.test", "127.0.0.1"], false).unwrap());
    let timeline = Timeline::new();
    let listen = "127.0.0.1:0".parse().unwrap();
    let options = EmbeddedOptions::new("broker.test", listen);
    let broker = EmbeddedBroker::start(&options, pki.clone(), timeline.clone())
        .await
        .unwrap();
    Bench {
        timeline,
        pki,
        broker,
        _dir: dir,
    }
}

impl Bench {
    fn options(&self, client_id: &str, identity: KeyedCert) -> ClientOptions {
        ClientOptions {
            host: "127.0.0.1".into(),
            port: self.broker.port(),
            client_id: client_id.into(),
            server_ca_pem: self.pki.server_ca.pem.clone(),
            identity,
        }
    }

    fn received(&self, client: &str) -> Vec<String> {
        self.timeline
            .entries()
            .into_iter()
            .filter_map(|e| match e.what {
                What::Client { client: c, event }
                    if c == client && event["event"] == "received" =>
                {
                    event["topic"].as_str().map(str::to_owned)
                }
                _ => None,
            })
            .collect()
    }
}

#[tokio::test]
async fn topics_are_case_sensitive_for_a_cloud_client() {
    let bench = bench().await;
    let operator = bench.options("console", bench.pki.operator.clone());
    let lower = TestClient::connect("lower", operator.clone(), bench.timeline.clone(), WAIT)
        .await
        .unwrap();
    let upper = TestClient::connect(
        "upper",
        ClientOptions {
            client_id: "console-upper".into(),
            ..operator
        },
        bench.timeline.clone(),
        WAIT,
    )
    .await
    .unwrap();
    lower
        .subscribe("abc/sensors", QoS::AtMostOnce, WAIT)
        .await
        .unwrap();
    upper
        .subscribe("ABC/sensors", QoS::AtMostOnce, WAIT)
        .await
        .unwrap();
    bench
        .broker
        .publish("abc/sensors", b"{}", QoS::AtMostOnce, false)
        .await
        .unwrap();
    // The lower-case client gets it; after that, the upper-case one had its chance (one
    // broker, one delivery order) and a marker shows it is still listening.
    upper
        .subscribe("ABC/marker", QoS::AtMostOnce, WAIT)
        .await
        .unwrap();
    bench
        .broker
        .publish("ABC/marker", b"{}", QoS::AtMostOnce, false)
        .await
        .unwrap();
    bench
        .timeline
        .first(WAIT, |entry| {
            matches!(&entry.what, What::Client { client, event }
                if client == "upper" && event["topic"] == "ABC/marker")
        })
        .await
        .expect("the marker reaches the upper-case client");
    assert_eq!(bench.received("lower"), ["abc/sensors"]);
    assert_eq!(bench.received("upper"), ["ABC/marker"]);
}

#[tokio::test]
async fn a_device_publishing_to_another_things_topic_is_disconnected() {
    let bench = bench().await;
    let (device, identity) = bench.pki.new_device().unwrap();
    bench.broker.ensure_signer().unwrap();
    bench
        .broker
        .preregister(&device.pem, &device.thing)
        .unwrap();
    let rogue = TestClient::connect(
        "rogue",
        bench.options(&device.thing, identity),
        bench.timeline.clone(),
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(rogue.state(), ClientState::Connected);
    rogue
        .publish(
            &format!("{}/sensors", device.thing),
            b"{}",
            QoS::AtMostOnce,
            false,
        )
        .await
        .unwrap();
    rogue
        .publish("someone-else/sensors", b"{}", QoS::AtMostOnce, false)
        .await
        .unwrap();
    let reason = rogue.closed(WAIT).await.unwrap();
    assert!(!reason.is_empty());
    let error = rogue
        .publish("x", b"", QoS::AtMostOnce, false)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Closed { .. }), "{error}");
    let denied = bench.timeline.entries().into_iter().any(|e| {
        matches!(&e.what, What::Broker { event }
            if event["event"] == "denied" && event["client_id"] == device.thing.as_str())
    });
    assert!(denied, "the broker says why");
}

#[tokio::test]
async fn an_unregistered_device_is_refused() {
    let bench = bench().await;
    let (device, identity) = bench.pki.new_device().unwrap();
    let error = TestClient::connect(
        "stranger",
        bench.options(&device.thing, identity),
        bench.timeline.clone(),
        WAIT,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ClientError::Refused { .. }), "{error}");
}
