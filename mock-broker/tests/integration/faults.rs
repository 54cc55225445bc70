//! The AWS IoT Device Advisor faults, armed through `MockBroker::faults`.

use crate::support::{RawClient, TestBroker, WAIT};
use mock_broker::dev_pki::{TestCa, Validity};
use mock_broker::{CloseReason, EventKind, Target, Withhold};
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet, Publish, Subscribe};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(300);

fn target(id: &str) -> Target {
    Target::Client(id.to_owned())
}

#[tokio::test]
async fn connack_is_withheld_for_the_next_n_connects() {
    let mut t = TestBroker::start().await;
    t.broker.faults().withhold_connack(target("dev"), 2);
    for _ in 0..2 {
        let mut raw = t.raw().await;
        raw.send(Packet::Connect(Connect::new("dev"))).await;
        raw.expect_silence(QUIET).await;
        t.event("withheld CONNACK", |e| {
            matches!(
                e,
                EventKind::Withheld {
                    packet: "CONNACK",
                    ..
                }
            )
        })
        .await;
    }
    t.raw_connected("dev").await;
}

#[tokio::test]
async fn puback_is_withheld_until_released() {
    let t = TestBroker::start().await;
    t.broker.faults().withhold(target("dev"), Withhold::Puback);
    let mut raw = t.raw_connected("dev").await;
    let mut publish = Publish::new("dev/x", QoS::AtLeastOnce, "1");
    publish.pkid = 1;
    raw.send(Packet::Publish(publish.clone())).await;
    raw.expect_silence(QUIET).await;
    t.broker.faults().release(&target("dev"), Withhold::Puback);
    publish.pkid = 2;
    raw.send(Packet::Publish(publish)).await;
    assert!(matches!(raw.read(WAIT).await, Some(Packet::PubAck(ack)) if ack.pkid == 2));
}

#[tokio::test]
async fn suback_and_pingresp_are_withheld() {
    let t = TestBroker::start().await;
    let faults = t.broker.faults();
    faults.withhold(Target::All, Withhold::Suback);
    faults.withhold(Target::All, Withhold::Pingresp);
    let mut raw = t.raw_connected("dev").await;
    let mut sub = Subscribe::new("dev/cmd", QoS::AtLeastOnce);
    sub.pkid = 5;
    raw.send(Packet::Subscribe(sub)).await;
    raw.send(Packet::PingReq).await;
    raw.expect_silence(QUIET).await;
    faults.clear();
    raw.send(Packet::PingReq).await;
    assert_eq!(raw.read(WAIT).await, Some(Packet::PingResp));
}

#[tokio::test]
async fn a_client_can_be_dropped_on_demand() {
    let mut t = TestBroker::start().await;
    let mut client = t.client("dev");
    client.connected().await;
    assert!(t.broker.faults().disconnect("dev"));
    assert_eq!(
        t.closed_reason("dev").await,
        CloseReason::ServerInitiatedDisconnect
    );
    client.error().await;
    assert!(!t.broker.faults().disconnect("nobody"));
}

#[tokio::test]
async fn outgoing_packets_can_be_delayed() {
    let t = TestBroker::start().await;
    let mut raw = t.raw_connected("dev").await;
    t.broker
        .faults()
        .delay_outgoing(target("dev"), Duration::from_millis(300));
    let sent = tokio::time::Instant::now();
    raw.send(Packet::PingReq).await;
    assert_eq!(raw.read(WAIT).await, Some(Packet::PingResp));
    assert!(sent.elapsed() >= Duration::from_millis(300));
}

/// Presents the server identity that `make` builds (given the server CA that clients
/// trust), checks that a client refuses it, then restores the good one and checks that it
/// is accepted again. Returns the client's error.
async fn refused_server_identity(
    make: impl FnOnce(&TestCa) -> mock_broker::dev_pki::Issued,
) -> String {
    let t = TestBroker::start().await;
    let bad = make(&t.pki.server_ca).server_identity();
    let faults = t.broker.faults();
    faults.present_server_identity(&bad).unwrap();
    let cert = t.pki.client_cert("dev");
    let error = RawClient::connect(t.port(), t.pki.tls_client(Some(&cert)))
        .await
        .err()
        .expect("the client must refuse the bad server certificate")
        .to_string();
    faults.restore_server_identity();
    RawClient::connect(t.port(), t.pki.tls_client(Some(&cert)))
        .await
        .expect("the restored certificate is accepted");
    error
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused_by_the_client() {
    let error =
        refused_server_identity(|ca| ca.server(&["localhost"], Validity::Expired).unwrap()).await;
    assert!(error.contains("expired"), "{error}");
}

#[tokio::test]
async fn a_server_certificate_for_another_name_is_refused_by_the_client() {
    let error =
        refused_server_identity(|ca| ca.server(&["wrong.example.com"], Validity::Long).unwrap())
            .await;
    assert!(error.contains("not valid for name"), "{error}");
}

#[tokio::test]
async fn a_server_certificate_from_an_untrusted_issuer_is_refused_by_the_client() {
    let error = refused_server_identity(|_trusted| {
        let stranger = TestCa::new("untrusted server CA").unwrap();
        stranger.server(&["localhost"], Validity::Long).unwrap()
    })
    .await;
    assert!(
        error.contains("UnknownIssuer") || error.contains("unknown issuer"),
        "{error}"
    );
}
