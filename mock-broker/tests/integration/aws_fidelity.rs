//! AWS IoT Core's behaviour as public bug reports and measurements show it, over real
//! connections: JITR at CONNECT (not at the handshake), the certificate state machine, a
//! status change reaching live connections, and a missing `iot:Receive` as a silent drop.

use crate::aws_fixture::Aws;
use crate::support::{RawClient, WAIT};
use mock_broker::aws::registry::{AwsErrorKind, CaStatus, CertificateStatus};
use mock_broker::dev_pki::Issued;
use mock_broker::{CloseReason, EventKind};
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet};
use std::time::Duration;

/// A raw TLS connection presenting `cert`.
async fn raw(aws: &Aws, cert: &Issued) -> RawClient {
    RawClient::connect(aws.t.port(), aws.t.pki.tls_client(Some(cert)))
        .await
        .unwrap()
}

/// The tap's events up to and including the first that satisfies `last`.
async fn events_until(aws: &mut Aws, mut last: impl FnMut(&EventKind) -> bool) -> Vec<EventKind> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, aws.t.tap.next())
            .await
            .expect("a tap event in time")
            .expect("the tap is open");
        let done = last(&event.kind);
        seen.push(event.kind.clone());
        if done {
            return seen;
        }
    }
}

fn is_registered_event(event: &EventKind) -> bool {
    matches!(event, EventKind::BrokerPublish { message }
        if message.topic.starts_with("$aws/events/certificates/registered/"))
}

fn closed_conn(event: &EventKind) -> Option<u64> {
    match event {
        EventKind::Closed { conn, .. } => Some(*conn),
        _ => None,
    }
}

#[tokio::test]
async fn jitr_registers_at_connect_not_at_the_handshake() {
    let mut aws = Aws::start(None, None).await;
    let (cert, thing) = aws.device("0F1");
    let id = mock_broker::mqtt::hooks::certificate_id(&cert.der);

    // A handshake held open for 2 s without a byte, then closed: nothing is registered.
    let mut idle = raw(&aws, &cert).await;
    idle.expect_silence(Duration::from_secs(2)).await;
    idle.drop_connection().await;
    let events = events_until(&mut aws, |e| closed_conn(e).is_some()).await;
    assert!(
        !events.iter().any(is_registered_event),
        "no event: {events:?}"
    );
    let unknown = aws.plane.read(|reg| reg.certificate(&id).map(|c| c.status));
    assert_eq!(
        unknown.map_err(|e| e.kind),
        Err(AwsErrorKind::ResourceNotFound),
        "DescribeCertificate says ResourceNotFoundException"
    );

    // The same certificate sends CONNECT: closed without CONNACK, registered
    // PENDING_ACTIVATION, one event; the tap shows handshake, CONNECT, event, close.
    let mut device = raw(&aws, &cert).await;
    device.send(Packet::Connect(Connect::new(&thing))).await;
    assert!(device.read(WAIT).await.is_none(), "closed without CONNACK");
    let events = events_until(&mut aws, |e| closed_conn(e).is_some()).await;
    let order: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::TlsAccepted { .. } => Some("handshake"),
            EventKind::Connect { .. } => Some("CONNECT"),
            e if is_registered_event(e) => Some("registered"),
            EventKind::Connack { .. } => Some("CONNACK"),
            EventKind::Closed { .. } => Some("closed"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["handshake", "CONNECT", "registered", "closed"]);
    assert_eq!(
        aws.plane
            .read(|reg| reg.certificate(&id).map(|c| c.status).ok()),
        Some(CertificateStatus::PendingActivation)
    );
    let (_, first) = aws.event_on("$aws/events/certificates/registered/").await;
    assert_eq!(first["certificateId"], id.as_str());

    // A second CONNECT: a second event.
    let mut again = raw(&aws, &cert).await;
    again.send(Packet::Connect(Connect::new(&thing))).await;
    assert!(again.read(WAIT).await.is_none());
    let (_, second) = aws.event_on("$aws/events/certificates/registered/").await;
    assert_eq!(second["certificateId"], id.as_str());
    assert_eq!(second["certificateStatus"], "PENDING_ACTIVATION");
}

#[tokio::test]
async fn register_certificate_publishes_no_registered_event() {
    let mut aws = Aws::start(None, None).await;
    let (cert, thing) = aws.device("0F2");
    let id = aws
        .plane
        .change(|reg, now| {
            reg.register_certificate(&cert.cert_pem, None, CertificateStatus::Active, now)
                .map(|c| c.id.clone())
        })
        .unwrap();
    aws.plane
        .change(|reg, now| {
            reg.create_thing(&thing, Default::default())?;
            let document = mock_broker::aws::policy::microchip_jitr_policy(
                &reg.account.region,
                &reg.account.id,
                &thing,
            );
            reg.create_policy("device", &document, now)?;
            let arn = reg.arn("cert", &id);
            reg.attach_policy("device", &arn)
        })
        .unwrap();
    let device = aws.connect(&thing, &cert).await.expect("ACTIVE connects");
    // The operator's first AWS event is the connection, not a registration.
    let (topic, _) = aws.message_on("$aws/events/").await;
    assert_eq!(topic, format!("$aws/events/presence/connected/{thing}"));
    drop(device);
}

/// A device registered ACTIVE with Microchip's policy, connected.
async fn connected_device(aws: &Aws, serial: &str) -> (crate::support::Client, Issued, String) {
    let (cert, thing) = aws.device(serial);
    let device = aws.connect_eventually(&thing, &cert).await;
    (device, cert, thing)
}

/// Waits for the broker to close `thing`'s connection because of `detail` (earlier closes
/// of `thing`, e.g. JITR's, are skipped).
async fn closed_for(aws: &mut Aws, thing: &str, detail: &str) {
    let wanted = CloseReason::AuthError {
        detail: detail.to_owned(),
    };
    aws.t
        .event(&format!("{thing} closed: {detail}"), |e| {
            matches!(e, EventKind::Closed { client_id: Some(c), reason, .. }
                if c == thing && *reason == wanted)
        })
        .await;
}

async fn expect_closed_by_status(aws: &mut Aws, thing: &str, status: &str) {
    // Closed by the broker, without any operation of the device.
    closed_for(aws, thing, status).await;
    let (topic, event) = aws.event_on("$aws/events/presence/disconnected/").await;
    assert_eq!(topic, format!("$aws/events/presence/disconnected/{thing}"));
    assert_eq!(event["disconnectReason"], "AUTH_ERROR");
    assert_eq!(event["clientInitiatedDisconnect"], false);
}

#[tokio::test]
async fn revoking_or_deactivating_a_certificate_closes_its_live_connection() {
    // Zero-touch activation, so the devices connect by themselves.
    let mut aws = Aws::start(Some(Duration::ZERO), None).await;
    for (serial, status) in [
        ("0F3", CertificateStatus::Revoked),
        ("0F4", CertificateStatus::Inactive),
    ] {
        let (device, cert, thing) = connected_device(&aws, serial).await;
        let id = mock_broker::mqtt::hooks::certificate_id(&cert.der);
        aws.event_on(&format!("$aws/events/presence/connected/{thing}"))
            .await;
        // The device only keeps its connection; it sends nothing.
        aws.plane
            .change(|reg, now| reg.update_certificate(&id, status, now))
            .unwrap();
        expect_closed_by_status(
            &mut aws,
            &thing,
            &format!("certificate is {}", status.as_str()),
        )
        .await;
        drop(device);

        // A reconnect is refused at CONNECT, without CONNACK.
        let mut again = raw(&aws, &cert).await;
        again.send(Packet::Connect(Connect::new(&thing))).await;
        assert!(again.read(WAIT).await.is_none());
        closed_for(
            &mut aws,
            &thing,
            &format!("certificate is {}", status.as_str()),
        )
        .await;
    }
}

#[tokio::test]
async fn deactivating_a_ca_closes_the_connections_of_what_it_issued() {
    let mut aws = Aws::start(Some(Duration::ZERO), None).await;
    let (device, _, thing) = connected_device(&aws, "0F5").await;
    aws.event_on(&format!("$aws/events/presence/connected/{thing}"))
        .await;
    let ca_id = aws.ca_id.clone();
    aws.plane
        .change(|reg, now| reg.update_ca(&ca_id, Some(CaStatus::Inactive), None, None, now))
        .unwrap();
    expect_closed_by_status(
        &mut aws,
        &thing,
        &format!("the issuing CA {ca_id} is INACTIVE"),
    )
    .await;
    drop(device);
}

#[tokio::test]
async fn a_denied_receive_drops_the_message_silently_and_keeps_the_subscriber() {
    let mut aws = Aws::start(None, None).await;
    let (cert, thing) = aws.device("0F6");
    let document = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
        {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:*:*:topicfilter/cmd/#"},
        {"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:*:*:topic/cmd/open/*"}]}"#;
    aws.plane
        .change(|reg, now| {
            let id = reg
                .register_certificate(&cert.cert_pem, None, CertificateStatus::Active, now)?
                .id
                .clone();
            reg.create_policy("cmd-reader", document, now)?;
            let arn = reg.arn("cert", &id);
            reg.attach_policy("cmd-reader", &arn)
        })
        .unwrap();
    let mut device = aws.connect(&thing, &cert).await.expect("connects");
    device.subscribe("cmd/#", QoS::AtLeastOnce).await;

    aws.t
        .broker
        .publish("cmd/secret/x", "hidden", QoS::AtLeastOnce, false);
    let dropped = aws
        .t
        .event("the delivery is dropped", |e| {
            matches!(e, EventKind::DeliveryDropped { .. })
        })
        .await;
    let EventKind::DeliveryDropped {
        client_id,
        message,
        reason,
        ..
    } = dropped
    else {
        unreachable!()
    };
    assert_eq!(client_id, thing);
    assert_eq!(message.topic, "cmd/secret/x");
    assert!(
        reason.starts_with("iot:Receive on arn:aws:iot:"),
        "{reason}"
    );
    assert!(reason.contains("no attached policy allows it"), "{reason}");

    // Still connected: the next allowed message arrives, and it is the first one.
    aws.t
        .broker
        .publish("cmd/open/x", "visible", QoS::AtLeastOnce, false);
    let message = device.message().await;
    assert_eq!(message.topic, "cmd/open/x");
    assert_eq!(aws.t.broker.connection_count(), 2, "operator and device");
}

#[tokio::test]
async fn the_zero_touch_rule_runs_on_every_registered_event() {
    // A certificate left PENDING_ACTIVATION (its first activation lost, as across a
    // restart): the next CONNECT publishes the event again, and the rule activates it.
    let aws = Aws::start(Some(Duration::from_millis(20)), None).await;
    let (cert, thing) = aws.device("0F7");
    let info = mock_broker::aws::certs::CertInfo::from_pem(&cert.cert_pem).unwrap();
    let ca_id = aws.ca_id.clone();
    aws.plane
        .change(|reg, now| {
            reg.register_presented(&info, &ca_id, CertificateStatus::PendingActivation, now)
                .map(|_| ())
        })
        .unwrap();
    let device = aws.connect_eventually(&thing, &cert).await;
    assert_eq!(
        aws.plane
            .read(|reg| reg.certificate(&info.id).map(|c| c.status).ok()),
        Some(CertificateStatus::Active)
    );
    drop(device);
}

#[tokio::test]
async fn a_deleted_ca_leaves_its_certificates_unable_to_connect() {
    let mut aws = Aws::start(Some(Duration::ZERO), None).await;
    let (device, cert, thing) = connected_device(&aws, "0F8").await;
    aws.event_on(&format!("$aws/events/presence/connected/{thing}"))
        .await;
    let ca_id = aws.ca_id.clone();
    aws.plane
        .change(|reg, now| reg.update_ca(&ca_id, Some(CaStatus::Inactive), None, None, now))
        .unwrap();
    expect_closed_by_status(
        &mut aws,
        &thing,
        &format!("the issuing CA {ca_id} is INACTIVE"),
    )
    .await;
    drop(device);
    aws.plane.change(|reg, _| reg.delete_ca(&ca_id)).unwrap();
    let mut again = raw(&aws, &cert).await;
    again.send(Packet::Connect(Connect::new(&thing))).await;
    assert!(again.read(WAIT).await.is_none(), "refused at CONNECT");
    closed_for(
        &mut aws,
        &thing,
        &format!("the issuing CA {ca_id} is no longer registered"),
    )
    .await;
}
