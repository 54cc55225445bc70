//! Unit tests of the application, driven with chosen times and a fake secure element:
//! the fixtures here, the tests by part of the firmware in the submodules.

extern crate std;

use super::*;
use crate::credentials::{Endpoint, WifiAuth, WifiCredentials};
use crate::credentials::{Pem, ThingName};
use crate::hardware::CertificateError;
use crate::hardware::CryptoFailure;
use crate::telemetry::SensorReading;
use crate::time::Duration;
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
        let mut ticks = 0u32;
        while let Some(at) = self.board.poll_at(self.now) {
            if at.millis() > t {
                break;
            }
            // A board that keeps asking for a tick at a time that has passed would spin
            // the real firmware's main loop: fail instead of hanging.
            ticks += 1;
            assert!(
                ticks < 100_000,
                "poll_at stays at {at:?} (now {:?})",
                self.now
            );
            self.now = at.max(self.now);
            for action in self.feed(Input::Tick) {
                all.push((self.now.millis(), action));
            }
        }
        self.now = Instant(t);
        all
    }

    /// Boots, joins Wi-Fi, opens the transport and gets CONNACK; acknowledges the shadow
    /// report and the jobs `start-next` request the first connection publishes (so only
    /// the test's own QoS 1 messages are in flight).
    fn connect(&mut self) -> Vec<Action> {
        self.feed(Input::Boot);
        self.feed(Input::WifiJoined);
        self.run_until(self.now.millis());
        self.feed(Input::TransportUp);
        let actions = self.feed(Input::ConnAck {
            accepted: true,
            session_present: false,
        });
        for action in &actions {
            if let Action::MqttPublish { topic, pkid, .. } = action
                && (topic.ends_with("/shadow/update") || topic.ends_with("/jobs/start-next"))
            {
                self.feed(Input::PubAck { pkid: *pkid });
            }
        }
        actions
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

mod commands;
mod connection;
mod flaws;
mod jobs;
mod session;
mod shadow;
