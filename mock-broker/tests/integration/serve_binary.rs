//! The `mock-broker serve` binary: generated PKI, the printed `mosquitto_sub` command, and
//! a clean shutdown on Ctrl-C that saves the state dir.

use crate::support::WAIT;
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet, Publish};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

/// A running `mock-broker serve` and what it printed before "Ctrl-C stops it."
struct Served {
    child: Child,
    banner: Vec<String>,
    _stderr: Lines<BufReader<ChildStderr>>,
}

async fn serve(state_dir: &Path) -> Served {
    serve_with(state_dir, &[]).await
}

async fn serve_with(state_dir: &Path, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-broker"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state_dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut banner = Vec::new();
    let reading = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains("Ctrl-C stops it.");
            banner.push(line);
            if done {
                return;
            }
        }
        panic!("mock-broker exited early: {banner:?}");
    };
    tokio::time::timeout(WAIT, reading).await.expect("banner");
    Served {
        child,
        banner,
        _stderr: lines,
    }
}

impl Served {
    fn port(&self) -> u16 {
        let line = self
            .banner
            .iter()
            .find(|l| l.contains("listening on"))
            .unwrap();
        let addr = line.split_whitespace().nth(3).unwrap();
        addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn mosquitto_sub(&self) -> String {
        self.banner
            .iter()
            .find(|l| l.trim_start().starts_with("mosquitto_sub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    async fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("mock-broker did not stop on SIGINT")
            .unwrap()
    }
}

/// A TLS connection made only from the files the binary generated.
async fn connect_with_generated_files(
    pki: &Path,
    port: u16,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.join("server-ca.pem")).unwrap())
        .unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(mock_broker::mqtt::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(pki.join("client.pem")).unwrap()],
                PrivateKeyDer::from_pem_file(pki.join("client.key")).unwrap(),
            )
            .unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

async fn send(stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>, packet: Packet) {
    let mut out = bytes::BytesMut::new();
    mock_broker::mqtt::codec::encode(&packet, &mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    stream.flush().await.unwrap();
}

async fn read_packet(
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> Packet {
    let mut buf = bytes::BytesMut::new();
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(packet) = mock_broker::mqtt::codec::decode(&mut buf).unwrap() {
                return packet;
            }
            assert_ne!(stream.read_buf(&mut buf).await.unwrap(), 0, "closed");
        }
    })
    .await
    .expect("a packet from mock-broker")
}

#[tokio::test]
async fn serve_generates_a_working_pki_and_saves_state_on_ctrl_c() {
    let state = tempfile::tempdir().unwrap();
    let served = serve(state.path()).await;
    let pki = state.path().join("pki");
    for key in ["server.key", "client.key"] {
        let mode = std::fs::metadata(pki.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key} must be private");
    }
    let printed = served.banner.join("\n");
    assert!(!printed.contains("PRIVATE KEY"), "keys are never printed");

    let mut stream = connect_with_generated_files(&pki, served.port()).await;
    send(&mut stream, Packet::Connect(Connect::new("cli-test"))).await;
    assert!(matches!(read_packet(&mut stream).await, Packet::ConnAck(_)));
    let mut retained = Publish::new("cli/retained", QoS::AtLeastOnce, "kept");
    retained.retain = true;
    retained.pkid = 1;
    send(&mut stream, Packet::Publish(retained)).await;
    assert!(matches!(read_packet(&mut stream).await, Packet::PubAck(_)));

    let status = served.interrupt().await;
    assert!(status.success(), "{status}");
    let saved =
        std::fs::read_to_string(state.path().join(mock_broker::mqtt::persist::STATE_FILE)).unwrap();
    assert!(saved.contains("cli/retained"));

    // A second start reuses the generated certificates.
    let again = serve(state.path()).await;
    connect_with_generated_files(&pki, again.port()).await;
    assert!(again.interrupt().await.success());
}

#[tokio::test]
#[ignore = "needs mosquitto-clients (mosquitto_sub)"]
async fn the_printed_mosquitto_sub_command_works() {
    let state = tempfile::tempdir().unwrap();
    let served = serve(state.path()).await;
    let command = format!("{} -C 1 -W 10", served.mosquitto_sub());
    let sub = Command::new("bash")
        .args(["-c", &command])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pki = state.path().join("pki");
    let mut stream = connect_with_generated_files(&pki, served.port()).await;
    send(&mut stream, Packet::Connect(Connect::new("publisher"))).await;
    assert!(matches!(read_packet(&mut stream).await, Packet::ConnAck(_)));
    // Publish until the subscriber, which may not be subscribed yet, has one message.
    let output = tokio::time::timeout(WAIT, async {
        let waiting = sub.wait_with_output();
        tokio::pin!(waiting);
        loop {
            send(
                &mut stream,
                Packet::Publish(Publish::new("hello/world", QoS::AtMostOnce, "hi")),
            )
            .await;
            tokio::select! {
                out = &mut waiting => return out.unwrap(),
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
            }
        }
    })
    .await
    .expect("mosquitto_sub got a message");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello/world hi\n");
    assert!(served.interrupt().await.success());
}

/// A plain HTTP GET, enough for the admin API.
async fn http_get(url: &str, path: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}

#[tokio::test]
async fn serve_with_the_control_plane_keeps_its_account_across_restarts() {
    let state = tempfile::tempdir().unwrap();
    let mut codes = Vec::new();
    for _ in 0..2 {
        let served = serve_with(state.path(), &["--control-plane", "--zero-touch-ms", "10"]).await;
        let line = served
            .banner
            .iter()
            .find(|l| l.contains("admin API"))
            .expect("the admin API is announced")
            .clone();
        let url = line.split_whitespace().last().unwrap().to_owned();
        let response = http_get(&url, "/registrationcode").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let body = response.split("\r\n\r\n").nth(1).unwrap().to_owned();
        codes.push(body);
        assert!(served.interrupt().await.success());
    }
    assert_eq!(codes[0], codes[1]);
    assert!(
        state
            .path()
            .join(mock_broker::aws::registry::REGISTRY_FILE)
            .exists()
    );
}

/// The admin API URL the banner announces.
fn admin_url(served: &Served) -> String {
    let line = served
        .banner
        .iter()
        .find(|l| l.contains("admin API"))
        .expect("the admin API is announced");
    line.split_whitespace().last().unwrap().to_owned()
}

/// A plain HTTP POST of an empty JSON object.
async fn http_post(url: &str, path: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}

#[tokio::test]
async fn serve_takes_the_region_and_account_for_its_arns() {
    let state = tempfile::tempdir().unwrap();
    let args = [
        "--control-plane",
        "--region",
        "us-east-2",
        "--account-id",
        "210987654321",
    ];
    let served = serve_with(state.path(), &args).await;
    let printed = served.banner.join("\n");
    assert!(
        printed.contains("account 210987654321 in us-east-2")
            && printed.contains("--region us-east-2"),
        "{printed}"
    );
    let response = http_post(&admin_url(&served), "/things/east").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""thingArn":"arn:aws:iot:us-east-2:210987654321:thing/east""#),
        "{response}"
    );
    assert!(served.interrupt().await.success());

    // The saved registries belong to that account and region: another one is refused.
    let output = Command::new(env!("CARGO_BIN_EXE_mock-broker"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--control-plane",
            "--state-dir",
        ])
        .arg(state.path())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    // miette wraps the message: read it as one line of words.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let words: Vec<&str> = stderr.split_whitespace().filter(|w| *w != "│").collect();
    assert!(
        words.join(" ").contains(
            "holds the registries of account 210987654321 in us-east-2, not 123456789012 in us-east-1: start with --account-id 210987654321 --region us-east-2"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_refuses_a_malformed_region_or_account_id() {
    let state = tempfile::tempdir().unwrap();
    for (flag, value, message) in [
        ("--region", "US-EAST-1", "is not a region name"),
        ("--region", "useast1", "is not a region name"),
        ("--account-id", "12345", "is not 12 digits"),
        ("--account-id", "12345678901x", "is not 12 digits"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_mock-broker"))
            .args(["serve", "--control-plane", "--state-dir"])
            .arg(state.path())
            .args([flag, value])
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(message) && stderr.contains(value),
            "{flag} {value}: {stderr}"
        );
    }
}
