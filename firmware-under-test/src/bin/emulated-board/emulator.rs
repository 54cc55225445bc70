//! The emulated board's main loop: the firmware core with the host's console, GPIO, flash,
//! Wi-Fi, network and sensors around it.
//!
//! Everything that happens (console bytes, network events, control requests, a deadline)
//! becomes one [`Input`] for the core, and the core's [`Action`]s are carried out here.
//! Events the emulator itself produces while carrying out actions (a Wi-Fi join that
//! completes, a transport that cannot open) are queued and fed back in order.
//!
//! Time: an input from the world is fed at the firmware time it is read. A deadline is
//! fed at its own time, like a microcontroller's timer interrupt, even when the host ran
//! the loop late (a busy CPU, a TLS handshake on the same threads): so the LED edges a
//! deadline causes carry the exact firmware time, whatever the speed. Firmware time never
//! goes backwards.

use crate::Args;
use crate::clock::Clock;
use crate::control::{self, Envelope, Request};
use crate::gpio::Gpio;
use crate::network::{ConnectParams, Connection, NetEvent};
use crate::nvm::Nvm;
use crate::pty::Pty;
use crate::secure_element::SecureElement;
use crate::sensors::Sensors;
use crate::wifi::{self, Air};
use firmware_under_test::board::{Action, Board, Button, Config, Input, Qos, TransportError};
use firmware_under_test::led::Led;
use firmware_under_test::time::{Duration, Instant, earliest};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    Connect, ConnectReturnCode, Packet, PubAck, Publish, Subscribe, SubscribeFilter,
};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// Inputs the emulator makes for the core.
#[derive(Debug, Clone, Copy)]
enum Local {
    WifiJoined,
    WifiJoinFailed,
    TransportFailed(TransportError),
}

struct Emulator {
    board: Option<Board>,
    config: Config,
    hardware: SecureElement,
    sensors: Sensors,
    nvm: Nvm,
    pty: Pty,
    gpio: Gpio,
    air: Air,
    hosts: Vec<(String, IpAddr)>,
    clock: Clock,
    /// The firmware time fed last; time never goes back from it.
    last_now: Instant,
    /// While a deadline is handled: its time, used instead of the clock's.
    due: Option<Instant>,
    /// The clock's time an input from the world is fed at, read once when it arrived
    /// (see [`Emulator::at_input`]).
    input_at: Option<Instant>,
    join_ms: u64,
    wifi_join_at: Option<Instant>,
    wifi_ssid: Option<String>,
    connection: Option<Connection>,
    connection_id: u64,
    net_events: mpsc::UnboundedSender<(u64, NetEvent)>,
    local: VecDeque<Local>,
}

/// Most deadlines [`Emulator::catch_up`] handles before an input.
const MAX_CATCH_UP: usize = 10_000;

/// Files to remove on exit.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub async fn run(args: Args) -> Result<(), String> {
    // Before anything is announced, so a signal right after start-up is handled cleanly.
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    if !(args.speed > 0.0 && args.speed.is_finite()) {
        return Err(format!(
            "--speed must be a positive number, got {}",
            args.speed
        ));
    }
    exit_with_parent()?;
    let hosts = args.host_map()?;
    let mut air = Air::default();
    for spec in &args.aps {
        let (ssid, pass, auth) = wifi::parse_ap(spec)?;
        air.add(&ssid, &pass, auth);
    }
    std::fs::create_dir_all(&args.state_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.state_dir.display()))?;
    let sensors = Sensors::default();
    let hardware = SecureElement::open(&args.state_dir, sensors.clone()).map_err(|e| {
        format!(
            "cannot open the secure element in {}: {e}",
            args.state_dir.display()
        )
    })?;
    let nvm = Nvm::new(&args.state_dir);
    let (pty, mut console) = Pty::open()?;
    let mut cleanup = Cleanup(Vec::new());
    announce(&format!("serial: {}", pty.path()));
    if let Some(link) = &args.pty_link {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(pty.path(), link)
            .map_err(|e| format!("cannot link {}: {e}", link.display()))?;
        cleanup.0.push(link.clone());
    }
    let gpio = Gpio::new();
    let (requests, mut control_requests) = mpsc::unbounded_channel::<Envelope>();
    if let Some(path) = &args.control {
        control::serve(path, requests, gpio.edge_sender())
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
        cleanup.0.push(path.clone());
        announce(&format!("control: {}", path.display()));
    }
    let (net_events, mut net_rx) = mpsc::unbounded_channel();
    let config = Config {
        telemetry_interval: Duration::from_millis(args.telemetry_ms.max(1)),
        telemetry_qos: if args.qos == 1 {
            Qos::AtLeastOnce
        } else {
            Qos::AtMostOnce
        },
        seed: args.seed.unwrap_or_else(|| seed_from(hardware.serial())),
        flaws: args.flaws.iter().copied().collect(),
        ..Config::default()
    };
    let mut emulator = Emulator {
        board: Some(Board::new(config.clone(), nvm.load())),
        config,
        hardware,
        sensors,
        nvm,
        pty,
        gpio,
        air,
        hosts,
        clock: Clock::new(args.speed),
        last_now: Instant::ZERO,
        due: None,
        input_at: None,
        join_ms: args.join_ms,
        wifi_join_at: None,
        wifi_ssid: None,
        connection: None,
        connection_id: 0,
        net_events,
        local: VecDeque::new(),
    };
    emulator.feed(Input::Boot);
    loop {
        let deadline = emulator.next_deadline();
        let wake = deadline.map(|at| emulator.clock.host_instant(at));
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            bytes = console.recv() => match bytes {
                Some(bytes) => emulator.at_input(|e| e.feed(Input::Console(&bytes))),
                None => return Err("the console thread stopped".into()),
            },
            Some((id, event)) = net_rx.recv() => emulator.at_input(|e| e.network(id, event)),
            Some(envelope) = control_requests.recv() => {
                let reply = emulator.at_input(|e| e.control(envelope.request));
                let _ = envelope.reply.send(reply);
            }
            _ = sleep_until(wake) => emulator.tick(deadline),
        }
    }
    drop(cleanup);
    Ok(())
}

/// Prints a line for the harness on stdout, flushed at once.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Asks the kernel for SIGTERM when the parent dies, and exits if it already has.
fn exit_with_parent() -> Result<(), String> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
        .map_err(|e| format!("cannot watch the parent process: {e}"))?;
    if nix::unistd::getppid() == nix::unistd::Pid::from_raw(1) {
        return Err("the parent process is gone".into());
    }
    Ok(())
}

fn seed_from(serial: &str) -> u64 {
    serial.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Emulator {
    /// The next deadline, as the core saw things at the time it was last fed (not the
    /// clock's time: when the loop runs late, the deadline it missed is still the next).
    fn next_deadline(&self) -> Option<Instant> {
        let board = self.board.as_ref().and_then(|b| b.poll_at(self.last_now));
        earliest(board, self.wifi_join_at)
    }

    /// Firmware time for the input being fed: the deadline's while one is handled, else
    /// the clock's; never earlier than the last.
    fn now(&mut self) -> Instant {
        let now = self
            .due
            .or(self.input_at)
            .unwrap_or_else(|| self.clock.now())
            .max(self.last_now);
        self.last_now = now;
        now
    }

    /// Handles every deadline that has passed, each at its own time, before an input from
    /// the world is fed at the clock's time (the loop may have picked that input first,
    /// or run late).
    fn catch_up(&mut self, now: Instant) {
        // Bounded, in case a deadline did not move on; each tick normally does.
        for _ in 0..MAX_CATCH_UP {
            match self.next_deadline() {
                Some(due) if due <= now && due >= self.last_now => self.tick(Some(due)),
                _ => return,
            }
        }
    }

    /// Handles an input from the world at one reading of the clock: the deadlines that
    /// passed by then first, each at its own time, then the input (`handle`) at that same
    /// time. Read twice, a deadline falling between the readings would be handled after
    /// the input, at the input's later time: a blink edge stamped late.
    fn at_input<R>(&mut self, handle: impl FnOnce(&mut Self) -> R) -> R {
        let now = self.clock.now();
        self.catch_up(now);
        self.input_at = Some(now);
        let result = handle(self);
        self.input_at = None;
        result
    }

    /// Handles the deadline `due` (the one the loop slept until) at its own time.
    fn tick(&mut self, due: Option<Instant>) {
        self.due = due;
        self.handle_deadline();
        self.due = None;
    }

    fn handle_deadline(&mut self) {
        let now = self.now();
        if self.wifi_join_at.is_some_and(|at| now >= at) {
            self.wifi_join_at = None;
            let result = match self
                .board
                .as_ref()
                .and_then(|b| b.credentials().wifi.clone())
            {
                Some(credentials) => self
                    .air
                    .join(&credentials)
                    .map(|()| credentials.ssid.to_string()),
                None => Err("no Wi-Fi credentials"),
            };
            match result {
                Ok(ssid) => {
                    self.wifi_ssid = Some(ssid);
                    self.local.push_back(Local::WifiJoined);
                }
                Err(why) => {
                    eprintln!("emulated-board: wifi: {why}");
                    self.local.push_back(Local::WifiJoinFailed);
                }
            }
        }
        self.feed(Input::Tick);
    }

    /// Feeds one input to the core, carries out its actions, then feeds whatever the
    /// emulator produced on the way.
    fn feed(&mut self, input: Input<'_>) {
        self.feed_one(input);
        while let Some(local) = self.local.pop_front() {
            let input = match local {
                Local::WifiJoined => Input::WifiJoined,
                Local::WifiJoinFailed => Input::WifiJoinFailed,
                Local::TransportFailed(kind) => Input::TransportFailed(kind),
            };
            self.feed_one(input);
        }
    }

    fn feed_one(&mut self, input: Input<'_>) {
        let now = self.now();
        self.sensors.set_time(now);
        let Some(board) = self.board.as_mut() else {
            return;
        };
        let actions = board.handle(now, input, &mut self.hardware);
        let output = board.take_console();
        self.pty.write(&output);
        for action in actions {
            self.apply(now, action);
        }
    }

    fn apply(&mut self, now: Instant, action: Action) {
        match action {
            Action::SetLed { led, on } => self.gpio.set(led, on, now),
            Action::JoinWifi => {
                self.wifi_join_at = Some(now + Duration::from_millis(self.join_ms));
            }
            Action::LeaveWifi => {
                self.wifi_join_at = None;
                self.wifi_ssid = None;
            }
            Action::OpenTransport => self.open_transport(),
            Action::CloseTransport => self.connection = None,
            Action::MqttConnect {
                client_id,
                keep_alive_secs,
                clean_session,
            } => {
                let mut connect = Connect::new(client_id.as_str());
                connect.keep_alive = keep_alive_secs;
                connect.clean_session = clean_session;
                self.send(Packet::Connect(connect));
            }
            Action::MqttPublish {
                topic,
                payload,
                qos,
                pkid,
                dup,
            } => {
                let mut publish = Publish::new(topic.as_str(), mqtt_qos(qos), payload.as_bytes());
                publish.pkid = pkid;
                publish.dup = dup;
                self.send(Packet::Publish(publish));
            }
            Action::MqttSubscribe { filters, pkid } => {
                let mut subscribe = Subscribe::new_many(
                    filters
                        .iter()
                        .map(|f| SubscribeFilter::new(f.as_str().to_owned(), QoS::AtLeastOnce)),
                );
                subscribe.pkid = pkid;
                self.send(Packet::Subscribe(subscribe));
            }
            Action::MqttPubAck { pkid } => self.send(Packet::PubAck(PubAck::new(pkid))),
            Action::MqttPing => self.send(Packet::PingReq),
            Action::SaveCredentials => {
                if let Some(board) = &self.board
                    && let Err(e) = self.nvm.save(board.credentials())
                {
                    eprintln!("emulated-board: cannot save credentials: {e}");
                }
            }
            // The reset happens when the command is handled, not when the host gets to it
            // (the reply is written first).
            Action::Reset => self.pinned(now, Self::boot),
        }
    }

    fn send(&self, packet: Packet) {
        if let Some(connection) = &self.connection {
            connection.send(packet);
        }
    }

    fn open_transport(&mut self) {
        self.connection_id += 1;
        let Some(credentials) = self.board.as_ref().map(|b| b.credentials().clone()) else {
            return;
        };
        let (Some(endpoint), Some(root_ca), Some(cert)) = (
            credentials.endpoint,
            credentials.root_ca,
            credentials.device_cert,
        ) else {
            self.local
                .push_back(Local::TransportFailed(TransportError::Other));
            return;
        };
        let host = endpoint.host.to_string();
        let addr = self
            .hosts
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, ip)| SocketAddr::new(*ip, endpoint.port));
        let mut chain_pem = vec![cert.to_string()];
        if let Some(signer) = credentials.signer {
            chain_pem.push(signer.to_string());
        }
        let params = ConnectParams {
            host,
            addr,
            port: endpoint.port,
            root_ca_pem: root_ca.to_string(),
            chain_pem,
            key_pkcs8_der: self.hardware.key_der(),
            flaws: self.config.flaws,
        };
        self.connection = Some(Connection::open(
            self.connection_id,
            params,
            self.net_events.clone(),
        ));
    }

    fn network(&mut self, id: u64, event: NetEvent) {
        if id != self.connection_id || self.connection.is_none() {
            return;
        }
        match event {
            NetEvent::Up { .. } => self.feed(Input::TransportUp),
            NetEvent::Failed(kind, why) => {
                eprintln!("emulated-board: connect failed: {why}");
                self.connection = None;
                self.feed(Input::TransportFailed(kind));
            }
            NetEvent::Closed(why) => {
                eprintln!("emulated-board: connection closed: {why}");
                self.connection = None;
                self.feed(Input::TransportClosed);
            }
            NetEvent::Packet(packet) => match packet {
                Packet::ConnAck(ack) => self.feed(Input::ConnAck {
                    accepted: ack.code == ConnectReturnCode::Success,
                    session_present: ack.session_present,
                }),
                Packet::Publish(publish) => {
                    let qos = match publish.qos {
                        QoS::AtMostOnce => Qos::AtMostOnce,
                        _ => Qos::AtLeastOnce,
                    };
                    self.feed(Input::Publish {
                        topic: &publish.topic,
                        payload: &publish.payload,
                        qos,
                        pkid: publish.pkid,
                    });
                }
                Packet::PubAck(ack) => self.feed(Input::PubAck { pkid: ack.pkid }),
                Packet::SubAck(ack) => self.feed(Input::SubAck { pkid: ack.pkid }),
                Packet::PingResp => self.feed(Input::PingResp),
                _ => {}
            },
        }
    }

    /// Runs `f` with firmware time held at `at`.
    fn pinned(&mut self, at: Instant, f: impl FnOnce(&mut Self)) {
        let saved = self.due.replace(at);
        f(self);
        self.due = saved;
    }

    /// Power-on or reset: a fresh core from what is in flash.
    fn boot(&mut self) {
        self.connection = None;
        self.wifi_join_at = None;
        self.wifi_ssid = None;
        self.local.clear();
        let now = self.now();
        self.gpio.all_dark(now);
        self.board = Some(Board::new(self.config.clone(), self.nvm.load()));
        self.feed_one(Input::Boot);
    }

    fn control(&mut self, request: Request) -> Value {
        let now = self.now();
        match request {
            Request::ReadRegister { address } => {
                match address.value().and_then(|a| self.gpio.read(a)) {
                    Some(value) => json!({"ok": true, "value": value}),
                    None => json!({"ok": false, "error": "no such register"}),
                }
            }
            Request::SubscribeGpio => {
                json!({"ok": true, "register": self.gpio.register(), "leds": self.leds()})
            }
            Request::Press { button } => match button.as_str() {
                "sw0" | "SW0" => {
                    self.feed(Input::Button(Button::Sw0));
                    json!({"ok": true})
                }
                "sw1" | "SW1" => {
                    self.feed(Input::Button(Button::Sw1));
                    json!({"ok": true})
                }
                _ => json!({"ok": false, "error": "buttons are sw0 and sw1"}),
            },
            Request::WifiDown { ssid } => {
                if !self.air.set_up(&ssid, false) {
                    return json!({"ok": false, "error": format!("no access point {ssid:?}")});
                }
                if self.wifi_ssid.as_deref() == Some(ssid.as_str()) {
                    self.wifi_ssid = None;
                    self.connection = None;
                    self.feed(Input::WifiLost);
                }
                json!({"ok": true})
            }
            Request::WifiUp { ssid } => {
                if self.air.set_up(&ssid, true) {
                    json!({"ok": true})
                } else {
                    json!({"ok": false, "error": format!("no access point {ssid:?}")})
                }
            }
            Request::SetSensors { light, temp } => {
                if let Some(light) = light {
                    self.sensors.set_light(Some(light));
                }
                if let Some(temp) = temp {
                    if !temp.is_finite() || temp.abs() > 1e6 {
                        return json!({"ok": false, "error": "temp must be a finite number of degrees"});
                    }
                    self.sensors
                        .set_temperature(Some((temp * 100.0).round() as i32));
                }
                json!({"ok": true})
            }
            Request::ClearSensors => {
                self.sensors.set_light(None);
                self.sensors.set_temperature(None);
                json!({"ok": true})
            }
            Request::Reset => {
                if self.board.is_none() {
                    return json!({"ok": false, "error": "the board is powered off"});
                }
                self.boot();
                json!({"ok": true})
            }
            Request::PowerOff => {
                self.board = None;
                self.connection = None;
                self.wifi_join_at = None;
                self.wifi_ssid = None;
                self.gpio.all_dark(now);
                json!({"ok": true})
            }
            Request::PowerOn => {
                if self.board.is_none() {
                    self.boot();
                }
                json!({"ok": true})
            }
            Request::State => json!({
                "ok": true,
                "powered": self.board.is_some(),
                "firmware_ms": now.millis(),
                "clock_origin_ns": self.clock.origin_ns(),
                "register": self.gpio.register(),
                "leds": self.leds(),
                "wifi": self.wifi_ssid,
                "connected": self.board.as_ref().is_some_and(|b| b.is_connected()),
                "telemetry_sent": self.board.as_ref().map_or(0, |b| b.telemetry_sent()),
            }),
        }
    }

    fn leds(&self) -> Value {
        let mut leds = serde_json::Map::new();
        for led in Led::ALL {
            leds.insert(led.name().into(), Value::Bool(self.gpio.is_on(led)));
        }
        Value::Object(leds)
    }
}

fn mqtt_qos(qos: Qos) -> QoS {
    match qos {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    }
}
