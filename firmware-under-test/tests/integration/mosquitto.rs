//! The emulated board against Debian's mosquitto broker with mutual TLS: a broker written
//! by other people accepts the board's TLS and MQTT.

use crate::support::{Board, Pki, WAIT, provision};
use std::io::Write;
use std::time::Duration;

/// A mosquitto process with mutual TLS on a free port, killed on drop.
struct Mosquitto {
    child: tokio::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    async fn start(pki: &Pki) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        // Client certificates chain to the root through the signer.
        std::fs::write(
            path("cafile.pem"),
            format!("{}{}", pki.root.pem(), pki.signer.pem()),
        )
        .unwrap();
        std::fs::write(path("server.pem"), &pki.server.cert_pem).unwrap();
        std::fs::write(path("server.key"), &pki.server.key_pem).unwrap();
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut conf = std::fs::File::create(path("mosquitto.conf")).unwrap();
        write!(
            conf,
            "user root\nper_listener_settings false\nlistener {port} 127.0.0.1\n\
             cafile {ca}\ncertfile {cert}\nkeyfile {key}\n\
             require_certificate true\nuse_identity_as_username true\n\
             persistence false\nlog_dest stderr\n",
            ca = path("cafile.pem").display(),
            cert = path("server.pem").display(),
            key = path("server.key").display(),
        )
        .unwrap();
        let child = tokio::process::Command::new("mosquitto")
            .arg("-c")
            .arg(path("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start mosquitto");
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "mosquitto does not listen"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Mosquitto { child, port, dir }
    }

    /// Runs mosquitto_sub with a client certificate from the signer until one message.
    async fn one_message(&self, pki: &Pki, topic: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "observer");
        let cert = params.signed_by(&key, &pki.signer).unwrap();
        let path = |name: &str| self.dir.path().join(name);
        std::fs::write(
            path("observer.pem"),
            format!("{}{}", cert.pem(), pki.signer.pem()),
        )
        .unwrap();
        std::fs::write(path("observer.key"), key.serialize_pem()).unwrap();
        std::fs::write(path("root.pem"), pki.root.pem()).unwrap();
        let output = tokio::time::timeout(
            WAIT,
            tokio::process::Command::new("mosquitto_sub")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "--insecure",
                ])
                .arg("--cafile")
                .arg(path("root.pem"))
                .arg("--cert")
                .arg(path("observer.pem"))
                .arg("--key")
                .arg(path("observer.key"))
                .args(["-t", topic, "-C", "1", "-W", "15"])
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("mosquitto_sub finished")
        .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto and mosquitto-clients"]
async fn the_board_streams_telemetry_through_mosquitto_with_mutual_tls() {
    let pki = Pki::new();
    let broker = Mosquitto::start(&pki).await;
    let board = Board::start(10.0, &[]).await;
    let mut console = board.console().await;
    let thing = provision(&mut console, &pki, broker.port).await;
    assert_eq!(console.command("reset").await, "OK");
    let payload = broker.one_message(&pki, &format!("{thing}/sensors")).await;
    let json: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert!(json["Light"].is_u64() && json["Temp"].is_f64(), "{payload}");
}
