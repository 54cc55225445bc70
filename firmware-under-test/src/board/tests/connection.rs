//! The connection's life: Wi-Fi, CONNECT, telemetry, retries, keep-alive, backoff.

use super::*;

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
            keep_alive_secs: 60,
            clean_session: false,
        }
    ));
    let connected = rig.feed(Input::ConnAck {
        accepted: true,
        session_present: false,
    });
    // Green was lit in its blink; it now holds (no more edges).
    assert!(rig.board.led(Led::Green));
    assert!(led_edges(&rig.run_until(2000), Led::Green).is_empty());
    // One SUBSCRIBE: the shadow delta, then the jobs topics.
    let filters: Vec<&str> = connected
        .iter()
        .filter_map(|a| match a {
            Action::MqttSubscribe { filters, pkid: 1 } => Some(filters),
            _ => None,
        })
        .flat_map(|filters| filters.iter().map(|f| f.as_str()))
        .collect();
    let things = "$aws/things/0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        filters,
        [
            std::format!("{things}/shadow/update/delta"),
            std::format!("{things}/jobs/notify-next"),
            std::format!("{things}/jobs/start-next/+"),
            std::format!("{things}/jobs/+/update/+"),
        ]
    );
    let first = publishes(&connected.iter().map(|a| (0, a.clone())).collect::<Vec<_>>());
    assert!(rig.board.is_connected());
    assert_eq!(first.len(), 3, "{first:?}");
    assert_eq!(first[1].1, std::format!("{things}/jobs/start-next"));
    assert_eq!(first[2].1, std::format!("{THING}/sensors"));
    assert_eq!(first[2].2, r#"{"Light":321,"Temp":21.50}"#);
    // The state the board starts in is reported first, at QoS 1.
    assert!(connected.iter().any(|a| matches!(a,
        Action::MqttPublish { topic, payload, qos: Qos::AtLeastOnce, pkid: 2, dup: false, retain: false }
            if topic.as_str() == std::format!("$aws/things/{THING}/shadow/update")
                && payload.as_str() == r#"{"state":{"reported":{"toggle":0}}}"#)));
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
    let actions = rig.feed(Input::ConnAck {
        accepted: false,
        session_present: false,
    });
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
                topic,
                pkid,
                dup: false,
                qos: Qos::AtLeastOnce,
                ..
            } if topic.ends_with("/sensors") => Some(*pkid),
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
    rig.feed(Input::ConnAck {
        accepted: true,
        session_present: false,
    });
    rig.run_until(rig.now.millis() + 31_000);
    assert_eq!(rig.board.backoff.attempts(), 0);
}

#[test]
fn a_streaming_board_that_hears_nothing_back_still_pings_and_drops_without_pingresp() {
    // QoS 0 telemetry every second: the board sends all the time, the broker says nothing.
    let mut rig = Rig::new(provisioned());
    rig.connect();
    rig.feed(Input::SubAck { pkid: 1 });
    let actions = rig.run_until(61_000);
    let pings: Vec<u64> = actions
        .iter()
        .filter(|(_, a)| *a == Action::MqttPing)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(pings, [60_000], "a keep-alive after the SUBACK");
    let actions = rig.run_until(71_000);
    assert!(
        actions
            .iter()
            .any(|(t, a)| *t == 70_000 && *a == Action::CloseTransport)
    );
}
