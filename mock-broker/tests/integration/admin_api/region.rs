//! Region and account: the SigV4 credential scope checked against the broker's region
//! (403 `InvalidSignatureException` as AWS answers), ARNs in the broker's region and
//! account, and policies written for that region deciding live MQTT traffic.

use super::*;
use crate::support::TestBroker;
use mock_broker::dev_pki::Issued;
use rcgen::{CertificateParams, DnType, KeyPair};

fn signed(region: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd"
    )
}

#[tokio::test]
async fn a_request_signed_for_another_region_is_refused_as_aws_does() {
    let p = plane();
    let east_2 = signed("us-east-2", "iot");
    let refused = call(
        &p,
        "GET",
        "/things",
        &[("authorization", east_2.as_str())],
        Value::Null,
    )
    .await;
    refused.assert_error(403, "InvalidSignatureException");
    assert_eq!(
        refused.json["message"],
        "Credential should be scoped to a valid region, not 'us-east-2'. "
    );
    // Refused before anything changes.
    call(
        &p,
        "POST",
        "/things/not-made",
        &[("authorization", east_2.as_str())],
        json!({}),
    )
    .await
    .assert_error(403, "InvalidSignatureException");
    get(&p, "/things/not-made")
        .await
        .assert_error(404, "ResourceNotFoundException");

    let east_1 = signed("us-east-1", "iot");
    call(
        &p,
        "GET",
        "/things",
        &[("authorization", east_1.as_str())],
        Value::Null,
    )
    .await
    .ok();
    get(&p, "/things").await.ok();
    let data = signed("us-east-1", "iotdata");
    let wrong_service = call(
        &p,
        "GET",
        "/things",
        &[("authorization", data.as_str())],
        Value::Null,
    )
    .await;
    wrong_service.assert_error(403, "InvalidSignatureException");
    assert_eq!(
        wrong_service.json["message"],
        "Credential should be scoped to correct service: 'iot'. "
    );
    call(
        &p,
        "GET",
        "/things",
        &[("authorization", "Basic dXNlcjpwdw==")],
        Value::Null,
    )
    .await
    .assert_error(403, "IncompleteSignatureException");
}

#[tokio::test]
async fn a_broker_in_another_region_and_account_puts_them_in_every_arn() {
    let p = plane_in("us-east-2", "210987654321");
    let prefix = "arn:aws:iot:us-east-2:210987654321";
    let east_2 = signed("us-east-2", "iot");
    let auth = [("authorization", east_2.as_str())];
    let thing = call(&p, "POST", "/things/east", &auth, json!({})).await;
    assert_eq!(thing.ok()["thingArn"], format!("{prefix}:thing/east"));
    let (ca, ca_id) = register_ca(&p, "east signer").await;
    let described = get(&p, &format!("/cacertificate/{ca_id}")).await;
    assert_eq!(
        described.ok()["certificateDescription"]["certificateArn"],
        format!("{prefix}:cacert/{ca_id}")
    );
    assert_eq!(
        described.json["certificateDescription"]["ownedBy"],
        "210987654321"
    );
    let (id, arn) = register_device(&p, &ca, "e1").await;
    assert_eq!(arn, format!("{prefix}:cert/{id}"));
    let policy = call(
        &p,
        "POST",
        "/policies/east",
        &auth,
        json!({"policyDocument": open_policy()}),
    )
    .await;
    assert_eq!(policy.ok()["policyArn"], format!("{prefix}:policy/east"));
    let listed = get(&p, "/policies").await;
    assert_eq!(
        listed.ok()["policies"][0]["policyArn"],
        format!("{prefix}:policy/east")
    );

    let east_1 = signed("us-east-1", "iot");
    let refused = call(
        &p,
        "GET",
        "/things",
        &[("authorization", east_1.as_str())],
        Value::Null,
    )
    .await;
    refused.assert_error(403, "InvalidSignatureException");
    assert_eq!(
        refused.json["message"],
        "Credential should be scoped to a valid region, not 'us-east-1'. "
    );
}

/// A certificate for a fresh key, issued through CreateCertificateFromCsr, with a policy
/// allowing Connect as `client_id` and Publish under `topic_prefix`, both written for
/// `region`.
async fn device_with_policy(
    p: &Arc<ControlPlane>,
    client_id: &str,
    topic_prefix: &str,
    region: &str,
) -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, client_id);
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let created = call(
        p,
        "POST",
        "/certificates?setAsActive=true",
        &[],
        json!({"certificateSigningRequest": csr}),
    )
    .await;
    let json = created.ok().clone();
    let arn = format!("arn:aws:iot:{region}:210987654321");
    let document = json!({"Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": format!("{arn}:client/{client_id}")},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": format!("{arn}:topic/{topic_prefix}/*")},
    ]});
    call(
        p,
        "POST",
        &format!("/policies/{client_id}"),
        &[],
        json!({"policyDocument": document.to_string()}),
    )
    .await
    .ok();
    call(
        p,
        "PUT",
        &format!("/target-policies/{client_id}"),
        &[],
        json!({"target": json["certificateArn"]}),
    )
    .await
    .ok();
    Issued::from_pem(
        json["certificatePem"].as_str().unwrap(),
        &key.serialize_pem(),
    )
    .unwrap()
}

#[tokio::test]
async fn policies_match_arns_of_the_brokers_region() {
    let p = plane_in("us-east-2", "210987654321");
    let east = device_with_policy(&p, "east-dev", "east", "us-east-2").await;
    let west = device_with_policy(&p, "west-dev", "west", "us-west-2").await;
    let hook = p.clone();
    let t = TestBroker::start_with(move |c| hook.install(c)).await;

    let mut device = t.client_with_cert("east-dev", &east, |_| {});
    device.connected().await;
    device
        .client
        .publish("east/data", rumqttc::QoS::AtLeastOnce, false, "1")
        .await
        .unwrap();
    loop {
        match device.next().await {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => break,
            Ok(_) => {}
            Err(e) => panic!("the us-east-2 policy should allow the publish: {e}"),
        }
    }

    // A policy written for another region allows nothing here.
    let mut stranger = t.client_with_cert("west-dev", &west, |_| {});
    let error = stranger.error().await;
    assert!(!error.is_empty());
    let allowed = p.read(|reg| {
        let id = mock_broker::aws::certs::CertInfo::from_pem(&west.cert_pem)
            .unwrap()
            .id;
        let policies = reg.policies_of_certificate(&id);
        mock_broker::aws::policy::evaluate(
            policies,
            "iot:Connect",
            &reg.arn("client", "west-dev"),
            mock_broker::aws::policy::Variables {
                client_id: "west-dev",
                thing_name: None,
            },
        )
    });
    assert_eq!(allowed, mock_broker::aws::policy::Verdict::NotAllowed);
}
