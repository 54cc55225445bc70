//! Unit tests of the application, driven with chosen times and a fake secure element.

extern crate std;

use super::*;
use crate::credentials::{Endpoint, WifiAuth, WifiCredentials};
use crate::hardware::CryptoFailure;
use crate::telemetry::SensorReading;
use std::string::String;
use std::vec::Vec;

const THING: &str = "0123456789abcdef0123456789abcdef01234567";

/// A secure element that accepts certificates by keyword.
struct FakeHardware {
    centi_celsius: i32,
}

impl Hardware for FakeHardware {
    fn sensors(&mut self) -> SensorReading {
        SensorReading {
            light: 321,
            centi_celsius: self.centi_celsius,
        }
    }

    fn device_serial(&self) -> &str {
        "0123EE0000000001"
    }

    fn key_id(&self) -> ThingName {
        ThingName::try_from(THING).unwrap()
    }

    fn write_csr(&mut self, out: &mut dyn core::fmt::Write) -> Result<(), CryptoFailure> {
        out.write_str(
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        )
        .map_err(|_| CryptoFailure)
    }

    fn check_device_certificate(&mut self, pem: &str) -> Result<ThingName, CertificateError> {
        if !pem.starts_with("-----BEGIN CERTIFICATE-----") {
            Err(CertificateError::NotPem)
        } else if pem.contains("OTHERKEY") {
            Err(CertificateError::KeyMismatch)
        } else if pem.contains("GOOD") {
            Ok(ThingName::try_from(THING).unwrap())
        } else {
            Err(CertificateError::Unparsable)
        }
    }

    fn check_ca_certificate(&mut self, pem: &str) -> Result<(), CertificateError> {
        if pem.contains("CA") {
            Ok(())
        } else {
            Err(CertificateError::NotCa)
        }
    }
}

fn provisioned() -> Credentials {
    Credentials {
        device_cert: Some(Pem::try_from("-----BEGIN CERTIFICATE-----\nGOOD\n").unwrap()),
        thing: Some(ThingName::try_from(THING).unwrap()),
        signer: None,
        root_ca: Some(Pem::try_from("CA").unwrap()),
        endpoint: Some(Endpoint {
            host: heapless::String::try_from("broker.local").unwrap(),
            port: 8883,
        }),
        wifi: Some(WifiCredentials {
            ssid: heapless::String::try_from("lab").unwrap(),
            password: heapless::String::try_from("pw").unwrap(),
            auth: WifiAuth::Wpa2,
        }),
    }
}

/// A board, its hardware and the current time.
struct Rig {
    board: Board,
    hw: FakeHardware,
    now: Instant,
}

impl Rig {
    fn new(credentials: Credentials) -> Self {
        Self::with_config(Config::default(), credentials)
    }

    fn with_config(config: Config, credentials: Credentials) -> Self {
        Rig {
            board: Board::new(config, credentials),
            hw: FakeHardware {
                centi_celsius: 2150,
            },
            now: Instant::ZERO,
        }
    }

    fn feed(&mut self, input: Input<'_>) -> Vec<Action> {
        self.board
            .handle(self.now, input, &mut self.hw)
            .into_iter()
            .collect()
    }

    fn type_line(&mut self, line: &str) -> (Vec<Action>, String) {
        let mut bytes = Vec::from(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let actions = self.feed(Input::Console(&bytes));
        (actions, self.console())
    }

    fn console(&mut self) -> String {
        String::from_utf8(self.board.take_console().to_vec()).unwrap()
    }

    /// Advances time to `t`, ticking at every deadline on the way; returns every action
    /// with the time it happened.
    fn run_until(&mut self, t: u64) -> Vec<(u64, Action)> {
        let mut all = Vec::new();
        while let Some(at) = self.board.poll_at(self.now) {
            if at.millis() > t {
                break;
            }
            self.now = at.max(self.now);
            for action in self.feed(Input::Tick) {
                all.push((self.now.millis(), action));
            }
        }
        self.now = Instant(t);
        all
    }

    /// Boots, joins Wi-Fi, opens the transport and gets CONNACK.
    fn connect(&mut self) -> Vec<Action> {
        self.feed(Input::Boot);
        self.feed(Input::WifiJoined);
        self.run_until(self.now.millis());
        self.feed(Input::TransportUp);
        self.feed(Input::ConnAck { accepted: true })
    }
}

fn led_edges(actions: &[(u64, Action)], which: Led) -> Vec<(u64, bool)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::SetLed { led, on } if *led == which => Some((*t, *on)),
            _ => None,
        })
        .collect()
}

fn has(actions: &[Action], wanted: &Action) -> bool {
    actions.contains(wanted)
}

fn publishes(actions: &[(u64, Action)]) -> Vec<(u64, String, String, u16, bool)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::MqttPublish {
                topic,
                payload,
                pkid,
                dup,
                ..
            } => Some((
                *t,
                String::from(topic.as_str()),
                String::from(payload.as_str()),
                *pkid,
                *dup,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn without_credentials_red_lights_and_the_console_lists_what_is_missing() {
    let mut rig = Rig::new(Credentials::default());
    let actions = rig.feed(Input::Boot);
    assert!(has(
        &actions,
        &Action::SetLed {
            led: Led::Red,
            on: true
        }
    ));
    assert!(!has(&actions, &Action::JoinWifi));
    let text = rig.console();
    assert!(text.starts_with("HIL reference firmware"));
    assert!(text.contains("[W] missing credentials: cert, rootca, endpoint, wifi\r\n"));
    assert!(text.ends_with('\u{4}'));
}

#[test]
fn with_credentials_the_board_joins_wifi_with_blue_blinking() {
    let mut rig = Rig::new(provisioned());
    let boot = rig.feed(Input::Boot);
    assert!(has(&boot, &Action::JoinWifi));
    assert!(has(
        &boot,
        &Action::SetLed {
            led: Led::Blue,
            on: true
        }
    ));
    let edges = led_edges(&rig.run_until(1000), Led::Blue);
    assert_eq!(
        edges,
        [(250, false), (500, true), (750, false), (1000, true)]
    );
    rig.feed(Input::WifiJoined);
    // Solid once joined: no more blue edges.
    let later = rig.run_until(3000);
    assert!(led_edges(&later, Led::Blue).is_empty());
    assert!(rig.board.led(Led::Blue));
}

#[test]
fn the_first_connection_follows_the_guide() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    let opening = rig.run_until(0);
    assert!(opening.iter().any(|(_, a)| *a == Action::OpenTransport));
    // Green blinks while connecting.
    assert!(rig.board.led(Led::Green));
    let up = rig.feed(Input::TransportUp);
    assert!(has(
        &up,
        &Action::MqttConnect {
            client_id: ThingName::try_from(THING).unwrap(),
            keep_alive_secs: 60
        }
    ));
    let connected = rig.feed(Input::ConnAck { accepted: true });
    // Green was lit in its blink; it now holds (no more edges).
    assert!(rig.board.led(Led::Green));
    assert!(led_edges(&rig.run_until(2000), Led::Green).is_empty());
    assert!(connected.iter().any(|a| matches!(a,
        Action::MqttSubscribe { filter, pkid: 1 } if filter.as_str() == "$aws/things/0123456789abcdef0123456789abcdef01234567/shadow/update/delta")));
    let first = publishes(&connected.into_iter().map(|a| (0, a)).collect::<Vec<_>>());
    assert!(rig.board.is_connected());
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, std::format!("{THING}/sensors"));
    assert_eq!(first[0].2, r#"{"Light":321,"Temp":21.50}"#);
}

#[test]
fn telemetry_every_second_pulses_yellow_for_500_ms() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    let actions = rig.run_until(3000);
    let times: Vec<u64> = publishes(&actions).iter().map(|p| p.0).collect();
    assert_eq!(times, [1000, 2000, 3000]);
    let yellow = led_edges(&actions, Led::Yellow);
    assert_eq!(
        yellow,
        [
            (500, false),
            (1000, true),
            (1500, false),
            (2000, true),
            (2500, false),
            (3000, true)
        ]
    );
    assert_eq!(rig.board.telemetry_sent(), 4);
}

#[test]
fn negative_temperatures_are_published_with_their_sign() {
    let mut rig = Rig::new(provisioned());
    rig.hw.centi_celsius = -5;
    let connected = rig.connect();
    assert!(connected.iter().any(|a| matches!(a,
        Action::MqttPublish { payload, .. } if payload.as_str() == r#"{"Light":321,"Temp":-0.05}"#)));
}

#[test]
fn a_shadow_delta_holds_yellow_and_is_reported() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    let topic = delta_topic(THING);
    let actions = rig.feed(Input::Publish {
        topic: &topic,
        payload: br#"{"version":3,"timestamp":1,"state":{"toggle":1},"metadata":{}}"#,
        qos: Qos::AtLeastOnce,
        pkid: 7,
    });
    assert!(has(&actions, &Action::MqttPubAck { pkid: 7 }));
    assert!(actions.iter().any(|a| matches!(a,
        Action::MqttPublish { topic, payload, .. }
            if topic.as_str() == std::format!("$aws/things/{THING}/shadow/update")
            && payload.as_str() == r#"{"state":{"reported":{"toggle":1}}}"#)));
    // Held on: telemetry no longer pulses it.
    let later = rig.run_until(5000);
    assert!(led_edges(&later, Led::Yellow).is_empty());
    assert!(rig.board.led(Led::Yellow));
    rig.feed(Input::Publish {
        topic: &topic,
        payload: br#"{"state":{"toggle":0}}"#,
        qos: Qos::AtMostOnce,
        pkid: 0,
    });
    assert!(!rig.board.led(Led::Yellow));
}

#[test]
fn failed_connections_back_off_with_growing_jittered_delays_and_green_blinks() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    let mut attempts = Vec::new();
    let mut actions = Vec::new();
    for _ in 0..8 {
        let step = rig.run_until(
            rig.board
                .poll_at(rig.now)
                .unwrap()
                .millis()
                .max(rig.now.millis()),
        );
        // Run until the next OpenTransport.
        let mut all = step;
        while !all.iter().any(|(_, a)| *a == Action::OpenTransport) {
            let next = rig.board.poll_at(rig.now).unwrap();
            all.extend(rig.run_until(next.millis()));
        }
        let at = all
            .iter()
            .find(|(_, a)| *a == Action::OpenTransport)
            .unwrap()
            .0;
        attempts.push(at);
        actions.extend(all);
        rig.feed(Input::TransportFailed(TransportError::Other));
    }
    let delays: Vec<u64> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    // Full jitter: each delay is within its doubling ceiling (1 s, 2 s, 4 s, ...).
    for (i, d) in delays.iter().enumerate() {
        assert!(*d <= 1000 << i.min(5), "delay {i} = {d}");
    }
    // The ceiling grows: later delays are on the whole longer than the first ones.
    let early: u64 = delays[..3].iter().sum();
    let late: u64 = delays[4..].iter().sum();
    assert!(late > early, "{delays:?}");
    assert!(!rig.board.led(Led::Red));
    assert!(
        led_edges(&actions, Led::Green).len() > 4,
        "green blinks while retrying"
    );
}

#[test]
fn a_rejected_server_certificate_is_fatal_and_not_retried() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    rig.run_until(0);
    let actions = rig.feed(Input::TransportFailed(TransportError::ServerCertificate));
    assert!(has(
        &actions,
        &Action::SetLed {
            led: Led::Red,
            on: true
        }
    ));
    let later = rig.run_until(600_000);
    assert!(
        !later.iter().any(|(_, a)| *a == Action::OpenTransport),
        "no retry storm"
    );
    assert!(
        rig.console()
            .contains("[E] tls: server certificate rejected")
    );
    // `reconnect` clears the error and starts over.
    let (actions, reply) = rig.type_line("reconnect");
    assert!(reply.contains("OK\r\n\u{4}"));
    assert!(has(&actions, &Action::JoinWifi));
    assert!(has(
        &actions,
        &Action::SetLed {
            led: Led::Red,
            on: false
        }
    ));
}

#[test]
fn a_refused_connack_is_retried() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    rig.run_until(0);
    rig.feed(Input::TransportUp);
    let actions = rig.feed(Input::ConnAck { accepted: false });
    assert!(has(&actions, &Action::CloseTransport));
    let later = rig.run_until(2000);
    assert!(later.iter().any(|(_, a)| *a == Action::OpenTransport));
}

#[test]
fn a_withheld_connack_times_out_and_is_retried() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    rig.run_until(0);
    rig.feed(Input::TransportUp);
    let actions = rig.run_until(10_000);
    assert!(
        actions
            .iter()
            .any(|(t, a)| *t == 10_000 && *a == Action::CloseTransport)
    );
}

#[test]
fn an_unacknowledged_qos1_publish_is_resent_with_the_same_packet_id() {
    let config = Config {
        telemetry_qos: Qos::AtLeastOnce,
        telemetry_interval: Duration::from_secs(60),
        ..Config::default()
    };
    let mut rig = Rig::with_config(config, provisioned());
    let connected = rig.connect();
    let first = connected
        .iter()
        .find_map(|a| match a {
            Action::MqttPublish {
                pkid,
                dup: false,
                qos: Qos::AtLeastOnce,
                ..
            } => Some(*pkid),
            _ => None,
        })
        .unwrap();
    rig.feed(Input::SubAck { pkid: 1 });
    let resent = publishes(&rig.run_until(5000));
    assert_eq!(resent.len(), 1);
    assert_eq!((resent[0].3, resent[0].4), (first, true));
    rig.feed(Input::PubAck { pkid: first });
    assert!(publishes(&rig.run_until(20_000)).is_empty());
}

#[test]
fn an_unacknowledged_subscribe_is_resent_with_the_same_packet_id() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    let actions = rig.run_until(5000);
    assert!(
        actions
            .iter()
            .any(|(t, a)| *t == 5000 && matches!(a, Action::MqttSubscribe { pkid: 1, .. }))
    );
    rig.feed(Input::SubAck { pkid: 1 });
    let later = rig.run_until(20_000);
    assert!(
        !later
            .iter()
            .any(|(_, a)| matches!(a, Action::MqttSubscribe { .. }))
    );
}

#[test]
fn an_idle_connection_pings_and_drops_without_pingresp() {
    let config = Config {
        telemetry_interval: Duration::from_secs(3600),
        ..Config::default()
    };
    let mut rig = Rig::with_config(config, provisioned());
    rig.connect();
    rig.feed(Input::SubAck { pkid: 1 });
    let actions = rig.run_until(60_000);
    assert!(
        actions
            .iter()
            .any(|(t, a)| *t == 60_000 && *a == Action::MqttPing)
    );
    rig.feed(Input::PingResp);
    let actions = rig.run_until(120_000);
    assert!(
        actions
            .iter()
            .any(|(t, a)| *t == 120_000 && *a == Action::MqttPing)
    );
    let actions = rig.run_until(130_000);
    assert!(
        actions
            .iter()
            .any(|(t, a)| *t == 130_000 && *a == Action::CloseTransport)
    );
}

#[test]
fn losing_wifi_closes_the_connection_and_rejoins() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    let actions = rig.feed(Input::WifiLost);
    assert!(has(&actions, &Action::CloseTransport));
    assert!(has(
        &actions,
        &Action::SetLed {
            led: Led::Green,
            on: false
        }
    ));
    let later = rig.run_until(rig.now.millis() + 2000);
    assert!(later.iter().any(|(_, a)| *a == Action::JoinWifi));
    assert!(
        led_edges(&later, Led::Blue).len() >= 2,
        "blue blinks while rejoining"
    );
    rig.feed(Input::WifiJoined);
    let reconnect = rig.run_until(rig.now.millis());
    assert!(reconnect.iter().any(|(_, a)| *a == Action::OpenTransport));
}

#[test]
fn provisioning_over_the_console() {
    let mut rig = Rig::new(Credentials::default());
    rig.feed(Input::Boot);
    rig.console();
    let (_, csr) = rig.type_line("csr");
    assert_eq!(
        csr,
        "-----BEGIN CERTIFICATE REQUEST-----\r\nAAAA\r\n-----END CERTIFICATE REQUEST-----\r\n\u{4}"
    );

    rig.type_line("cert");
    rig.type_line("-----BEGIN CERTIFICATE-----");
    rig.type_line("GOOD");
    rig.type_line("-----END CERTIFICATE-----");
    let (actions, reply) = rig.type_line("");
    assert_eq!(reply, "OK\r\n\u{4}");
    assert!(has(&actions, &Action::SaveCredentials));

    for (cmd, lines) in [
        ("rootca", ["-----BEGIN CERTIFICATE-----", "root CA"]),
        ("signer", ["-----BEGIN CERTIFICATE-----", "signer CA"]),
    ] {
        rig.type_line(cmd);
        for l in lines {
            rig.type_line(l);
        }
        assert_eq!(rig.type_line("").1, "OK\r\n\u{4}");
    }
    assert_eq!(
        rig.type_line("endpoint broker.local:18883").1,
        "OK\r\n\u{4}"
    );
    assert_eq!(rig.type_line("wifi lab,secret").1, "OK\r\n\u{4}");
    assert!(rig.board.credentials().is_complete());
    assert_eq!(rig.type_line("thing").1, std::format!("{THING}\r\n\u{4}"));
    let (actions, reply) = rig.type_line("reset");
    assert_eq!(reply, "OK\r\n\u{4}");
    assert!(has(&actions, &Action::Reset));
}

#[test]
fn bad_certificates_are_refused_and_change_nothing() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.console();
    let before = rig.board.credentials().clone();
    for (body, error) in [
        ("not pem at all", "not a PEM certificate"),
        (
            "-----BEGIN CERTIFICATE-----\nOTHERKEY",
            "does not match the device key",
        ),
        ("-----BEGIN CERTIFICATE-----\n@@@@", "does not parse"),
    ] {
        rig.type_line("cert");
        for line in body.lines() {
            rig.type_line(line);
        }
        let (actions, reply) = rig.type_line("");
        assert!(
            reply.starts_with("ERROR: ") && reply.contains(error),
            "{reply}"
        );
        assert!(!has(&actions, &Action::SaveCredentials));
        assert_eq!(rig.board.credentials(), &before);
    }
    // A PEM block longer than the board can hold.
    rig.type_line("rootca");
    for _ in 0..40 {
        rig.type_line("CACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACA");
    }
    let (_, reply) = rig.type_line("");
    assert!(reply.contains("too long"), "{reply}");
    assert_eq!(rig.board.credentials(), &before);
}

#[test]
fn bad_console_input_gets_an_error_and_the_command_list() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.console();
    let (_, reply) = rig.type_line(&"x".repeat(400));
    assert_eq!(
        reply,
        "ERROR: line too long (at most 256 characters)\r\n\u{4}"
    );
    let reply = {
        rig.feed(Input::Console(b"\xde\xad\xbe\xef\r\n"));
        rig.console()
    };
    assert_eq!(reply, "ERROR: invalid characters in line\r\n\u{4}");
    let (_, reply) = rig.type_line("fly");
    assert!(reply.starts_with("ERROR: unknown command; commands:\r\n"));
    assert!(reply.contains("  endpoint <host>[:<port>]\r\n"));
    let (_, reply) = rig.type_line("endpoint :8883");
    assert_eq!(reply, "ERROR: usage: endpoint <host>[:<port>]\r\n\u{4}");
    assert!(rig.board.credentials().is_complete(), "nothing was lost");
}

#[test]
fn erase_forgets_the_credentials() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    rig.console();
    let (actions, reply) = rig.type_line("erase");
    assert_eq!(reply, "OK\r\n\u{4}");
    assert!(has(&actions, &Action::CloseTransport));
    assert!(has(&actions, &Action::SaveCredentials));
    assert!(has(
        &actions,
        &Action::SetLed {
            led: Led::Red,
            on: true
        }
    ));
    assert_eq!(rig.board.credentials(), &Credentials::default());
}

#[test]
fn info_commands_reply_and_debug_silences_logs() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.console();
    assert_eq!(rig.type_line("device").1, "0123EE0000000001\r\n\u{4}");
    assert_eq!(
        rig.type_line("version").1,
        std::format!("{}\r\n\u{4}", crate::FIRMWARE_VERSION)
    );
    assert_eq!(rig.type_line("cli_version").1, "2.0\r\n\u{4}");
    assert_eq!(rig.type_line("debug 0").1, "OK\r\n\u{4}");
    rig.feed(Input::WifiJoined);
    assert_eq!(rig.console(), "");
}

#[test]
fn a_stable_connection_resets_the_backoff() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    for _ in 0..5 {
        let next = rig.board.poll_at(rig.now).unwrap();
        rig.run_until(next.millis());
        while !matches!(rig.board.phase, Phase::Opening { .. }) {
            let next = rig.board.poll_at(rig.now).unwrap();
            rig.run_until(next.millis());
        }
        rig.feed(Input::TransportFailed(TransportError::Other));
    }
    assert_eq!(rig.board.backoff.attempts(), 5);
    while !matches!(rig.board.phase, Phase::Opening { .. }) {
        let next = rig.board.poll_at(rig.now).unwrap();
        rig.run_until(next.millis());
    }
    rig.feed(Input::TransportUp);
    rig.feed(Input::ConnAck { accepted: true });
    rig.run_until(rig.now.millis() + 31_000);
    assert_eq!(rig.board.backoff.attempts(), 0);
}

#[test]
fn toggle_is_found_like_the_microchip_parser_does() {
    assert_eq!(find_toggle(br#"{"state":{"toggle":12}}"#), Some(12));
    assert_eq!(
        find_toggle(br#"{"state":{"toggle": 1}}"#),
        None,
        "compact JSON only"
    );
    assert_eq!(find_toggle(br#"{"state":{}}"#), None);
}
