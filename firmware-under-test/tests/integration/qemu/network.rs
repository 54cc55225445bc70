//! The image on QEMU's user network against the mock broker: TLS, MQTT, telemetry, the
//! shadow toggle, the link going down and up, refused server certificates, JITR, and a
//! hostile broker's malformed packets.

use super::rig::*;
use crate::support::{Console, ENDPOINT, Pki, WAIT, provision};
use mock_broker::EventKind;
use rumqttc::QoS;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A networked board in `state`, provisioned against `broker`'s port, reset so it connects.
async fn networked_board(state: &Path, pki: &Pki, port: u16) -> (QemuBoard, Console, String) {
    std::fs::create_dir_all(state).unwrap();
    std::fs::write(
        state.join("hosts"),
        format!("# the rig's broker\n10.0.2.2 {ENDPOINT}\n"),
    )
    .unwrap();
    let (mut board, mut console, _) = QemuBoard::boot_networked(state).await;
    console.sync().await;
    let thing = provision(&mut console, pki, port).await;
    board.reset().await;
    banner_after_reset(&mut console).await;
    (board, console, thing)
}

async fn wait_connack(tap: &mut mock_broker::Tap, thing: &str) {
    let id = thing.to_owned();
    tap.wait_for(WAIT, |e| {
        matches!(e, EventKind::Connack { client_id, code, .. } if *client_id == id && code == "Success")
    })
    .await
    .expect("the board connects");
}

async fn next_publish(tap: &mut mock_broker::Tap, topic: &str) -> String {
    let topic = topic.to_owned();
    let event = tap
        .wait_for(
            WAIT,
            |e| matches!(e, EventKind::PublishIn { message, .. } if message.topic == topic),
        )
        .await
        .unwrap_or_else(|e| panic!("no publish on {topic}: {e}"));
    match &event.kind {
        EventKind::PublishIn { message, .. } => {
            String::from_utf8_lossy(&message.payload).into_owned()
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_connects_over_the_network_streams_telemetry_and_follows_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (broker, mut tap) = pki.broker().await;
    let (mut board, _console, thing) =
        networked_board(&dir.path().join("state"), &pki, broker.local_addr().port()).await;
    wait_connack(&mut tap, &thing).await;
    // The shadow delta subscription (the tap is read in order: before the telemetry).
    let id = thing.clone();
    tap.wait_for(
        WAIT,
        |e| matches!(e, EventKind::Suback { client_id, .. } if *client_id == id),
    )
    .await
    .expect("the board subscribes to its shadow delta");
    board
        .watch_leds("green", |seen| seen.last().is_some_and(|v| v & GREEN != 0))
        .await;

    // Telemetry on <thing>/sensors with the documented payload.
    let payload = next_publish(&mut tap, &format!("{thing}/sensors")).await;
    let value: Value = serde_json::from_str(&payload).unwrap();
    assert!(
        value["Light"].is_i64() && value["Temp"].is_f64(),
        "{payload}"
    );

    // A shadow delta holds yellow, and is reported.
    broker.publish(
        &format!("$aws/things/{thing}/shadow/update/delta"),
        r#"{"version":2,"timestamp":1,"state":{"toggle":1}}"#,
        QoS::AtLeastOnce,
        false,
    );
    let update = format!("$aws/things/{thing}/shadow/update");
    let mut report = next_publish(&mut tap, &update).await;
    if report == r#"{"state":{"reported":{"toggle":0}}}"# {
        // The report of the state it started in, if the waits above did not pass it.
        report = next_publish(&mut tap, &update).await;
    }
    assert_eq!(report, r#"{"state":{"reported":{"toggle":1}}}"#);
    // Held: on in every sample for a while (telemetry pulses would blink it).
    board
        .watch_leds("yellow held on", |seen| {
            seen.len() >= 40 && seen[seen.len() - 40..].iter().all(|v| v & YELLOW != 0)
        })
        .await;

    // The link goes down: the board loses its connection (blue stops being solid, green
    // goes out); back up, it connects again.
    board.set_link(false).await;
    board
        .watch_leds("green off after link down", |seen| {
            seen.last().is_some_and(|v| v & GREEN == 0)
        })
        .await;
    board.set_link(true).await;
    wait_connack(&mut tap, &thing).await;
    board
        .watch_leds("green again", |seen| {
            seen.last().is_some_and(|v| v & GREEN != 0)
        })
        .await;
}

/// Boots a board whose broker presents `server` (and trusts `pki`'s signer); asserts it
/// never connects and lights red.
async fn refused(pki: &Pki, server: mock_broker::ServerIdentity) {
    let config = mock_broker::BrokerConfig::new(
        server,
        mock_broker::ClientAuth::TrustRoots(vec![pki.signer.der().clone()]),
    );
    let broker = mock_broker::MockBroker::start(config).await.unwrap();
    let mut tap = broker.tap();
    let dir = tempfile::tempdir().unwrap();
    let (mut board, _console, thing) =
        networked_board(&dir.path().join("state"), pki, broker.local_addr().port()).await;
    // Red: the server certificate is fatal.
    board
        .watch_leds("red", |seen| seen.last().is_some_and(|v| v & RED != 0))
        .await;
    let id = thing.clone();
    let connected = tap
        .wait_for(
            Duration::from_secs(3),
            |e| matches!(e, EventKind::Connack { client_id, .. } if *client_id == id),
        )
        .await;
    assert!(connected.is_err(), "the board connected: {connected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_refuses_a_server_certificate_from_an_unknown_ca() {
    let pki = Pki::new();
    // The broker's certificate is from another PKI's root.
    let other = Pki::new();
    refused(&pki, other.server.server_identity()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_refuses_an_expired_server_certificate() {
    let pki = Pki::new();
    let mut params = rcgen::CertificateParams::new(vec![ENDPOINT.to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ENDPOINT);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &pki.root).unwrap();
    let expired = mock_broker::dev_pki::Issued::from_parts(&cert, &key);
    refused(&pki, expired.server_identity()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_registers_just_in_time_then_connects() {
    use mock_broker::aws::control_plane::{ControlPlane, ControlPlaneConfig};
    use mock_broker::aws::registry::CertificateMode;
    let pki = Pki::new();
    // AWS IoT Core's control plane: the signer registered for JITR, the zero-touch rule
    // activating what registers.
    let mut plane_config = ControlPlaneConfig::new(ENDPOINT);
    plane_config.zero_touch = Some(Duration::from_millis(200));
    let plane = ControlPlane::new(plane_config).unwrap();
    let code = plane.read(|reg| reg.account.registration_code.clone());
    let mut verification = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    verification
        .distinguished_name
        .push(rcgen::DnType::CommonName, code);
    let verification = verification
        .signed_by(&rcgen::KeyPair::generate().unwrap(), &pki.signer)
        .unwrap()
        .pem();
    let ca_id = plane
        .change(|reg, now| {
            reg.register_ca(
                &pki.signer.pem(),
                Some(&verification),
                true,
                true,
                CertificateMode::Default,
                None,
                now,
            )
            .map(|ca| ca.id.clone())
        })
        .unwrap();
    let mut config = mock_broker::BrokerConfig::new(
        pki.server.server_identity(),
        mock_broker::ClientAuth::TrustRoots(vec![]),
    );
    plane.install(&mut config);
    let broker = mock_broker::MockBroker::start(config).await.unwrap();
    let mut tap = broker.tap();
    let dir = tempfile::tempdir().unwrap();
    let (_board, _console, thing) =
        networked_board(&dir.path().join("state"), &pki, broker.local_addr().port()).await;
    // The first connection registers the certificate (PENDING_ACTIVATION) and is dropped;
    // the board backs off, comes back, and is let in.
    let registered = format!("$aws/events/certificates/registered/{ca_id}");
    let event = tap
        .wait_for(WAIT, |e| {
            matches!(e, EventKind::BrokerPublish { message, .. } if message.topic == registered)
        })
        .await;
    assert!(event.is_ok(), "no registration event: {event:?}");
    wait_connack(&mut tap, &thing).await;
    let payload = next_publish(&mut tap, &format!("{thing}/sensors")).await;
    assert!(payload.starts_with(r#"{"Light":"#), "{payload}");
}

/// A TLS server for the endpoint (the test PKI's server certificate, no client
/// authentication) that answers the CONNECT of each of the board's connections, in turn,
/// with one of `replies`, and waits for the board to hang up; returns how many it served.
async fn hostile_broker(listener: tokio::net::TcpListener, pki: &Pki, replies: &[&[u8]]) -> usize {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::AsyncReadExt;
    let cert = CertificateDer::from_pem_slice(pki.server.cert_pem.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let mut served = 0;
    for reply in replies {
        let (tcp, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the board comes back")
            .unwrap();
        let mut tls = acceptor.accept(tcp).await.expect("TLS with the board");
        let mut connect = [0u8; 256];
        let n = tls.read(&mut connect).await.unwrap();
        assert_eq!(
            connect.first(),
            Some(&0x10),
            "CONNECT first: {:x?}",
            &connect[..n]
        );
        tls.write_all(reply).await.unwrap();
        tls.flush().await.unwrap();
        // The board closes the connection on the bad packet.
        let mut rest = [0u8; 256];
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                match tls.read(&mut rest).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the board kept a connection after {reply:x?}"
        );
        served += 1;
    }
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qemu-system-arm and the mps2-an385 image (ci/build-qemu-firmware)"]
async fn the_image_closes_on_malformed_packets_and_keeps_going() {
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (mut board, mut console, _) = networked_board(&dir.path().join("state"), &pki, port).await;
    let replies: [&[u8]; 4] = [
        // CONNACK one byte short.
        &[0x20, 0x01, 0x00],
        // PUBLISH whose topic runs past the packet.
        &[0x30, 0x03, 0x00, 0x10, b'a'],
        // A packet type a server never sends (SUBSCRIBE).
        &[0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00],
        // Remaining length over 4 bytes.
        &[0x20, 0xff, 0xff, 0xff, 0xff, 0x7f],
    ];
    assert_eq!(
        hostile_broker(listener, &pki, &replies).await,
        replies.len()
    );
    // Still alive: answers its console, red off.
    console.sync().await;
    assert_eq!(console.command("cli_version").await, "2.0");
    board
        .watch_leds("red off", |seen| seen.last().is_some_and(|v| v & RED == 0))
        .await;
}
