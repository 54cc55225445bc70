//! Fixtures for driving `emulated-board` the way the harness will: a test PKI that signs the
//! board's CSR, an in-process mock broker, the board process (killed on drop), its console
//! over the pseudo-terminal with `serialport`, and its control socket.

use mock_broker::{BrokerConfig, ClientAuth, MockBroker, Tap};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CertifiedIssuer, DnType,
    IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// How long a test waits for something that should happen soon.
pub const WAIT: Duration = Duration::from_secs(20);
/// The name the board connects to; mapped to 127.0.0.1 with `--host`.
pub const ENDPOINT: &str = "broker.hil.test";
/// The emulated access point.
pub const SSID: &str = "hil-lab";
pub const PASSPHRASE: &str = "hil-pass";

/// A root CA, a signer CA under it (path length 0, as Microchip's tool makes), and the
/// broker's server certificate under the root.
pub struct Pki {
    pub root: CertifiedIssuer<'static, KeyPair>,
    pub signer: CertifiedIssuer<'static, KeyPair>,
    pub server: mock_broker::dev_pki::Issued,
}

fn ca_params(name: &str, constraint: BasicConstraints) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(constraint);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

impl Pki {
    /// A certificate from the right signer for a key no board has (PEM).
    pub fn certificate_for_another_key(&self) -> String {
        let other_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sn-other");
        params.signed_by(&other_key, &self.signer).unwrap().pem()
    }

    pub fn new() -> Self {
        let root = CertifiedIssuer::self_signed(
            ca_params("HIL test root CA", BasicConstraints::Unconstrained),
            KeyPair::generate().unwrap(),
        )
        .unwrap();
        let signer = CertifiedIssuer::signed_by(
            ca_params("HIL test signer", BasicConstraints::Constrained(0)),
            KeyPair::generate().unwrap(),
            &root,
        )
        .unwrap();
        let mut server = CertificateParams::new(vec![ENDPOINT.to_owned()]).unwrap();
        server.distinguished_name.push(DnType::CommonName, ENDPOINT);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server.signed_by(&server_key, &root).unwrap();
        let server = mock_broker::dev_pki::Issued::from_parts(&server_cert, &server_key);
        Pki {
            root,
            signer,
            server,
        }
    }

    /// Signs the board's CSR like Microchip's tool: SKI = SHA-1 of the public key.
    pub fn sign_csr(&self, csr_pem: &str) -> String {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
        // der_bytes() is the subjectPublicKey bit string: RFC 5280 method 1.
        let ski = Sha1::digest(csr.public_key.der_bytes()).to_vec();
        csr.params.key_identifier_method = KeyIdMethod::PreSpecified(ski);
        // rcgen writes the Subject Key Identifier only with basicConstraints present.
        csr.params.is_ca = IsCa::ExplicitNoCa;
        csr.params.use_authority_key_identifier_extension = true;
        csr.signed_by(&self.signer).unwrap().pem()
    }

    pub async fn broker(&self) -> (MockBroker, Tap) {
        let config = BrokerConfig::new(
            self.server.server_identity(),
            ClientAuth::TrustRoots(vec![self.signer.der().clone()]),
        );
        let broker = MockBroker::start(config).await.unwrap();
        let tap = broker.tap();
        (broker, tap)
    }
}

/// The running board process.
pub struct Board {
    child: tokio::process::Child,
    pub serial: String,
    pub control: PathBuf,
    pub state_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Board {
    /// Starts a board with its own state dir, at `speed`.
    pub async fn start(speed: f64, extra: &[&str]) -> Board {
        let dir = tempfile::tempdir().unwrap();
        let mut board = Self::start_in(dir.path(), speed, extra).await;
        board._dir = Some(dir);
        board
    }

    /// Starts a board on an existing state dir.
    pub async fn start_in(dir: &Path, speed: f64, extra: &[&str]) -> Board {
        let state_dir = dir.join("state");
        let control = dir.join("control.sock");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_emulated-board"))
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--control")
            .arg(&control)
            .arg("--speed")
            .arg(speed.to_string())
            .arg("--ap")
            .arg(format!("{SSID}:{PASSPHRASE}"))
            .arg("--host")
            .arg(format!("{ENDPOINT}=127.0.0.1"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the board prints its serial port")
            .unwrap()
            .unwrap();
        let serial = first.strip_prefix("serial: ").expect(&first).to_owned();
        let second = lines.next_line().await.unwrap().unwrap();
        assert_eq!(second, format!("control: {}", control.display()));
        Board {
            child,
            serial,
            control,
            state_dir,
            _dir: None,
        }
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the board exits on SIGTERM")
            .unwrap()
    }

    /// Opens the console and synchronises with the board: an empty line is answered by
    /// an empty reply. What the board printed before the port was opened is gone, as on a
    /// USB serial port; a boot banner printed just after it opened is skipped (the board
    /// handles its boot before any console input, so the banner comes first).
    pub async fn console(&self) -> Console {
        let mut console = Console::open(&self.serial);
        console.sync().await;
        console
    }

    pub async fn control(&self) -> Control {
        Control::connect(&self.control).await
    }
}

/// The console, opened with `serialport` like a real USB serial port.
pub struct Console {
    writer: serialport::TTYPort,
    bytes: mpsc::UnboundedReceiver<Vec<u8>>,
    pending: Vec<u8>,
    /// Everything read so far.
    pub transcript: String,
}

impl Console {
    pub fn open(path: &str) -> Console {
        let port = serialport::new(path, 115_200)
            .timeout(Duration::from_millis(100))
            .open_native()
            .unwrap();
        let mut reader = port.try_clone_native().unwrap();
        let (tx, bytes) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        if tx.is_closed() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        Console {
            writer: port,
            bytes,
            pending: Vec::new(),
            transcript: String::new(),
        }
    }

    /// Sends an empty line and reads replies until its empty reply, skipping a boot
    /// banner that may come first.
    pub async fn sync(&mut self) {
        self.send("\r\n");
        loop {
            let reply = self.reply().await;
            if reply.is_empty() {
                return;
            }
            assert!(
                reply.starts_with("HIL reference firmware"),
                "unexpected output: {reply}"
            );
        }
    }

    pub fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Reads up to and including the next EOT; returns the text before it, log lines
    /// (`[I] ...`) removed.
    pub async fn reply(&mut self) -> String {
        let raw = self.until(|bytes| bytes.contains(&0x04)).await;
        raw.split("\r\n")
            .filter(|line| !line.starts_with('['))
            .collect::<Vec<_>>()
            .join("\r\n")
            .trim_end_matches(['\r', '\n'])
            .to_owned()
    }

    /// Sends a command and returns its reply.
    pub async fn command(&mut self, command: &str) -> String {
        self.send(&format!("{command}\r\n"));
        self.reply().await
    }

    /// Sends a PEM block after its command (`cert`, `signer`, `rootca`) and returns the reply.
    pub async fn send_pem(&mut self, command: &str, pem: &str) -> String {
        let mut text = format!("{command}\r\n");
        for line in pem.lines() {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        self.send(&text);
        self.reply().await
    }

    /// Waits until the output contains `needle` and returns the output up to its end.
    pub async fn expect(&mut self, needle: &str) -> String {
        let needle = needle.as_bytes().to_vec();
        self.until(move |bytes| bytes.windows(needle.len()).any(|w| w == needle.as_slice()))
            .await
    }

    async fn until(&mut self, done: impl Fn(&[u8]) -> bool) -> String {
        let reading = async {
            loop {
                if let Some(end) = (1..=self.pending.len()).find(|end| done(&self.pending[..*end]))
                {
                    let taken: Vec<u8> = self.pending.drain(..end).collect();
                    let text = String::from_utf8_lossy(&taken).into_owned();
                    self.transcript.push_str(&text);
                    return text.trim_end_matches('\u{4}').to_owned();
                }
                match self.bytes.recv().await {
                    Some(bytes) => self.pending.extend_from_slice(&bytes),
                    None => panic!("the console closed; transcript: {}", self.transcript),
                }
            }
        };
        match tokio::time::timeout(WAIT, reading).await {
            Ok(text) => text,
            Err(_) => panic!(
                "console: nothing matching within {WAIT:?}; pending {:?}; transcript {}",
                String::from_utf8_lossy(&self.pending),
                self.transcript
            ),
        }
    }
}

/// The control socket.
pub struct Control {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
    /// Edge events read while waiting for replies.
    pub edges: Vec<Value>,
}

impl Control {
    pub async fn connect(path: &Path) -> Control {
        let stream = UnixStream::connect(path).await.unwrap();
        let (read, write) = stream.into_split();
        Control {
            lines: BufReader::new(read).lines(),
            write,
            edges: Vec::new(),
        }
    }

    /// Sends a request and returns its reply (edge events in between are kept).
    pub async fn request(&mut self, request: Value) -> Value {
        let mut line = request.to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes()).await.unwrap();
        loop {
            let value = self.next().await;
            if value.get("event").is_some() {
                self.edges.push(value);
            } else {
                return value;
            }
        }
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("a control line")
            .unwrap()
            .expect("the control socket closed");
        serde_json::from_str(&line).unwrap()
    }

    /// The LED states now.
    pub async fn leds(&mut self) -> Value {
        let state = self.request(json!({"cmd": "state"})).await;
        state["leds"].clone()
    }

    /// Waits until `led` has been `on` continuously for `hold` of host time.
    pub async fn wait_led(&mut self, led: &str, on: bool, hold: Duration) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut since: Option<tokio::time::Instant> = None;
        loop {
            let now = tokio::time::Instant::now();
            assert!(now < deadline, "{led} never held {on} for {hold:?}");
            if self.leds().await[led] == on {
                let start = *since.get_or_insert(now);
                if now - start >= hold {
                    return;
                }
            } else {
                since = None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Reads edge events until `pred` has seen enough; returns them.
    pub async fn edges_until(&mut self, mut enough: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        let mut edges = std::mem::take(&mut self.edges);
        while !enough(&edges) {
            let value = self.next().await;
            if value.get("event").is_some() {
                edges.push(value);
            }
        }
        edges
    }

    /// Collects edges until `led` has been switched on `times` times.
    pub async fn edges_until_lit(&mut self, led: &str, times: usize) -> Vec<Value> {
        self.edges_until(|edges| {
            edges
                .iter()
                .filter(|e| e["led"] == led && e["on"] == true)
                .count()
                >= times
        })
        .await
    }
}

/// Provisions a booted board for the broker at `port` through its console; returns the
/// thing name.
pub async fn provision(console: &mut Console, pki: &Pki, port: u16) -> String {
    let csr = console.command("csr").await;
    assert!(
        csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{csr}"
    );
    let cert = pki.sign_csr(&csr.replace("\r\n", "\n"));
    assert_eq!(console.send_pem("cert", &cert).await, "OK");
    assert_eq!(console.send_pem("signer", &pki.signer.pem()).await, "OK");
    assert_eq!(console.send_pem("rootca", &pki.root.pem()).await, "OK");
    assert_eq!(
        console
            .command(&format!("endpoint {ENDPOINT}:{port}"))
            .await,
        "OK"
    );
    assert_eq!(
        console.command(&format!("wifi {SSID},{PASSPHRASE}")).await,
        "OK"
    );
    let thing = console.command("thing").await;
    assert_eq!(thing.len(), 40, "{thing}");
    thing
}

/// The console contract's answers to bad input, the same on every build of the firmware
/// (the core answers them): over-long and non-ASCII lines, PEM blocks that are not base64,
/// not PEM, not DER, too long, or for another key, a non-CA signer, bad `endpoint` and
/// `debug` arguments. Each is refused with its `ERROR:` line and the board answers on.
pub async fn bad_input_is_refused(console: &mut Console, pki: &Pki) {
    assert!(
        console
            .command(&"x".repeat(1000))
            .await
            .starts_with("ERROR: line too long")
    );
    console.send("\u{1b}\u{7}\u{1}\u{2}garbage\r\n");
    assert_eq!(console.reply().await, "ERROR: invalid characters in line");
    // Bytes that are not ASCII at all.
    console.send("\u{ff}\u{fe}\u{80}\r\n");
    assert_eq!(console.reply().await, "ERROR: invalid characters in line");
    let not_base64 = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----";
    assert!(
        console
            .send_pem("cert", not_base64)
            .await
            .starts_with("ERROR: ")
    );
    assert_eq!(
        console.send_pem("rootca", "hello").await,
        "ERROR: not a PEM certificate"
    );
    let not_der = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----";
    assert_eq!(
        console.send_pem("cert", not_der).await,
        "ERROR: the certificate does not parse"
    );
    // A certificate for another key, from the right signer.
    let other = pki.certificate_for_another_key();
    assert_eq!(
        console.send_pem("cert", &other).await,
        "ERROR: the certificate does not match the device key"
    );
    assert_eq!(
        console.send_pem("signer", &other).await,
        "ERROR: not a CA certificate"
    );
    let too_long: String = std::iter::repeat_n("QUJDRA==", 400)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        console
            .send_pem(
                "rootca",
                &format!("-----BEGIN CERTIFICATE-----\n{too_long}\n-----END CERTIFICATE-----")
            )
            .await,
        "ERROR: the certificate is too long"
    );
    assert_eq!(
        console.command("endpoint :8883").await,
        "ERROR: usage: endpoint <host>[:<port>]"
    );
    assert_eq!(
        console.command("debug 9").await,
        "ERROR: usage: debug <0-4>"
    );
    assert!(
        console
            .command("wifi")
            .await
            .starts_with("ERROR: usage: wifi")
    );
    assert_eq!(console.command("cli_version").await, "2.0");
}
