//! AWS IoT Core's control plane over real connections: JITR with rumqttc, the zero-touch
//! rule, JITP, policies on live traffic, revocation, lifecycle events, shadows, restart.

use crate::aws_fixture::Aws;
use mock_broker::aws::certs::CertInfo;
use mock_broker::aws::control_plane::{ControlPlane, ControlPlaneConfig};
use mock_broker::aws::registry::CertificateStatus;
use mock_broker::dev_pki::TestCa;
use mock_broker::{CloseReason, EventKind};
use rumqttc::QoS;
use std::time::Duration;

#[tokio::test]
async fn jitr_registers_on_first_connect_and_admits_after_activation() {
    let mut aws = Aws::start(None, None).await;
    let (cert, thing) = aws.device("0123A");
    let cert_id = mock_broker::mqtt::hooks::certificate_id(&cert.der);

    // The first connection is dropped, and the registration event published.
    assert!(aws.connect(&thing, &cert).await.is_err());
    let (topic, event) = aws.event_on("$aws/events/certificates/registered/").await;
    assert_eq!(
        topic,
        format!("$aws/events/certificates/registered/{}", aws.ca_id)
    );
    assert_eq!(event["certificateId"], cert_id);
    assert_eq!(event["caCertificateId"], aws.ca_id);
    assert_eq!(event["certificateStatus"], "PENDING_ACTIVATION");
    assert_eq!(event["awsAccountId"], "123456789012");
    assert!(event["timestamp"].is_u64());
    // Measured on AWS: null.
    assert!(event["certificateRegistrationTimestamp"].is_null());
    let status = aws
        .plane
        .read(|reg| reg.certificate(&cert_id).unwrap().status);
    assert_eq!(status, CertificateStatus::PendingActivation);

    // Still pending: refused again, and the event again.
    assert!(aws.connect(&thing, &cert).await.is_err());
    aws.event_on("$aws/events/certificates/registered/").await;

    // The subscriber activates it (what Microchip's Lambda does); the device gets in.
    aws.plane.activate_zero_touch(&cert_id).unwrap();
    aws.plane.read(|reg| {
        assert!(reg.thing(&thing).is_ok(), "thing named after the SKI");
        assert!(reg.policy(&format!("ZTPolicy_{cert_id}")).is_ok());
    });
    let device = aws
        .connect(&thing, &cert)
        .await
        .expect("accepted once ACTIVE");
    let (_, connected) = aws.event_on("$aws/events/presence/connected/").await;
    assert_eq!(connected["clientId"], thing.as_str());
    assert_eq!(connected["principalIdentifier"], cert_id);

    device
        .client
        .publish(
            format!("{thing}/sensors"),
            QoS::AtMostOnce,
            false,
            r#"{"Light":1,"Temp":2.00}"#,
        )
        .await
        .unwrap();
    aws.operator
        .subscribe(&format!("{thing}/sensors"), QoS::AtMostOnce)
        .await;
    device
        .client
        .publish(
            format!("{thing}/sensors"),
            QoS::AtMostOnce,
            false,
            r#"{"Light":2,"Temp":3.00}"#,
        )
        .await
        .unwrap();
    let (topic, data) = aws.event_on(&thing).await;
    assert_eq!(topic, format!("{thing}/sensors"));
    assert_eq!(data["Light"], 2);
}

#[tokio::test]
async fn the_zero_touch_rule_activates_three_devices_of_one_ca() {
    let aws = Aws::start(Some(Duration::from_millis(50)), None).await;
    for serial in ["01", "02", "03"] {
        let (cert, thing) = aws.device(serial);
        let device = aws.connect_eventually(&thing, &cert).await;
        let id = mock_broker::mqtt::hooks::certificate_id(&cert.der);
        aws.plane.read(|reg| {
            assert_eq!(
                reg.certificate(&id).unwrap().status,
                CertificateStatus::Active
            );
            assert!(reg.thing(&thing).is_ok());
        });
        drop(device);
    }
    assert_eq!(aws.plane.read(|reg| reg.things().count()), 3);
}

#[tokio::test]
async fn a_device_publishing_to_another_devices_topic_is_disconnected() {
    let mut aws = Aws::start(Some(Duration::ZERO), None).await;
    let (cert_a, thing_a) = aws.device("0A");
    let (_, thing_b) = aws.device("0B");
    let a = aws.connect_eventually(&thing_a, &cert_a).await;
    a.client
        .publish(format!("{thing_b}/sensors"), QoS::AtMostOnce, false, "{}")
        .await
        .unwrap();
    let denied = aws
        .t
        .event("the publish is denied", |e| {
            matches!(e, EventKind::Denied { .. })
        })
        .await;
    let EventKind::Denied { action, reason, .. } = denied else {
        unreachable!()
    };
    assert!(
        action.contains(&format!("topic/{thing_b}/sensors")),
        "{action}"
    );
    assert!(reason.contains("no attached policy allows it"), "{reason}");
    assert!(matches!(
        aws.t.closed_reason(&thing_a).await,
        CloseReason::AuthError { .. }
    ));
}

#[tokio::test]
async fn an_upper_case_subscription_receives_nothing() {
    let aws = Aws::start(Some(Duration::ZERO), None).await;
    let (cert, thing) = aws.device("0C");
    let device = aws.connect_eventually(&thing, &cert).await;
    let mut upper = aws.watcher("upper").await;
    upper
        .subscribe(
            &format!("{}/sensors", thing.to_uppercase()),
            QoS::AtMostOnce,
        )
        .await;
    upper.subscribe("marker", QoS::AtMostOnce).await;
    let mut lower = aws.watcher("lower").await;
    lower
        .subscribe(&format!("{thing}/sensors"), QoS::AtMostOnce)
        .await;
    device
        .client
        .publish(format!("{thing}/sensors"), QoS::AtMostOnce, false, "{}")
        .await
        .unwrap();
    assert_eq!(lower.message().await.topic, format!("{thing}/sensors"));
    // Whatever the upper-case subscriber gets first must be the later marker.
    aws.t
        .broker
        .publish("marker", "after", QoS::AtMostOnce, false);
    assert_eq!(upper.message().await.topic, "marker");
}

#[tokio::test]
async fn an_unknown_ca_is_refused_at_the_handshake() {
    let mut aws = Aws::start(None, None).await;
    let stranger = TestCa::new("stranger").unwrap().device("99").unwrap();
    let thing = CertInfo::from_pem(&stranger.cert_pem).unwrap().ski.unwrap();
    assert!(aws.connect(&thing, &stranger).await.is_err());
    aws.t
        .event("unknown issuer", |e| matches!(e, EventKind::TlsRejected { reason, .. } if reason.contains("unknown issuer")))
        .await;
}

#[tokio::test]
async fn the_shadow_delta_reaches_the_device_and_its_report_is_accepted() {
    let mut aws = Aws::start(Some(Duration::ZERO), None).await;
    let (cert, thing) = aws.device("0F");
    let mut device = aws.connect_eventually(&thing, &cert).await;
    device
        .subscribe(
            &format!("$aws/things/{thing}/shadow/update/delta"),
            QoS::AtLeastOnce,
        )
        .await;
    aws.operator
        .subscribe(
            &format!("$aws/things/{thing}/shadow/update/accepted"),
            QoS::AtLeastOnce,
        )
        .await;
    aws.operator
        .client
        .publish(
            format!("$aws/things/{thing}/shadow/update"),
            QoS::AtLeastOnce,
            false,
            r#"{"state":{"desired":{"toggle":1}}}"#,
        )
        .await
        .unwrap();
    let delta = device.message().await;
    assert!(String::from_utf8_lossy(&delta.payload).contains(r#""state":{"toggle":1}"#));
    device
        .client
        .publish(
            format!("$aws/things/{thing}/shadow/update"),
            QoS::AtLeastOnce,
            false,
            r#"{"state":{"reported":{"toggle":1}}}"#,
        )
        .await
        .unwrap();
    loop {
        let (topic, accepted) = aws
            .event_on(&format!("$aws/things/{thing}/shadow/update/accepted"))
            .await;
        if accepted["state"].get("reported").is_some() {
            assert!(topic.ends_with("/accepted"));
            assert_eq!(accepted["version"], 2);
            break;
        }
    }
}

#[tokio::test]
async fn jitp_provisions_with_the_template_and_thing_name_policies_work() {
    let template = r#"{
        "Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"iot:Connect\"],\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":[\"iot:Publish\"],\"Resource\":\"arn:aws:iot:*:*:topic/${iot:Connection.Thing.ThingName}/*\"}]}"}},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"Status": "ACTIVE"}}
        }
    }"#;
    let mut aws = Aws::start(None, Some(template)).await;
    let (cert, _) = aws.device("77");
    let thing = "sn77";
    assert!(
        aws.connect(thing, &cert).await.is_err(),
        "the first connection provisions and drops"
    );
    let device = aws
        .connect(thing, &cert)
        .await
        .expect("provisioned and ACTIVE");
    let id = mock_broker::mqtt::hooks::certificate_id(&cert.der);
    assert!(aws.plane.read(|reg| reg.is_attached(thing, &id)));
    // ${iot:Connection.Thing.ThingName} resolves because the thing is attached.
    aws.operator.subscribe("sn77/data", QoS::AtMostOnce).await;
    device
        .client
        .publish("sn77/data", QoS::AtMostOnce, false, "ok")
        .await
        .unwrap();
    assert_eq!(
        aws.message_on("sn77/").await,
        ("sn77/data".to_owned(), "ok".to_owned())
    );
}

#[tokio::test]
async fn the_registries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, thing, ca_id) = {
        let aws = Aws::start_in(Some(dir.path()), Some(Duration::ZERO), None).await;
        let (cert, thing) = aws.device("55");
        drop(aws.connect_eventually(&thing, &cert).await);
        (cert, thing, aws.ca_id.clone())
    };
    let mut config = ControlPlaneConfig::new("localhost");
    config.state_dir = Some(dir.path().to_owned());
    let plane = ControlPlane::new(config).unwrap();
    let id = mock_broker::mqtt::hooks::certificate_id(&cert.der);
    plane.read(|reg| {
        assert!(reg.ca(&ca_id).is_ok());
        assert_eq!(
            reg.certificate(&id).unwrap().status,
            CertificateStatus::Active
        );
        assert!(reg.thing(&thing).is_ok());
        assert_eq!(reg.policies_of_certificate(&id).len(), 1);
    });
}

#[tokio::test]
async fn connecting_under_another_client_id_gets_connack_not_authorized() {
    let mut aws = Aws::start(Some(Duration::ZERO), None).await;
    let (cert, thing) = aws.device("0F1");
    drop(aws.connect_eventually(&thing, &cert).await);
    let error = aws
        .connect("someone-else", &cert)
        .await
        .err()
        .expect("refused");
    assert!(
        error.contains("NotAuthorized") || error.contains("refused"),
        "{error}"
    );
    let connack = aws
        .t
        .event(
            "CONNACK 5",
            |e| matches!(e, EventKind::Connack { client_id, .. } if client_id == "someone-else"),
        )
        .await;
    assert!(matches!(connack, EventKind::Connack { code, .. } if code == "NotAuthorized"));
}
