//! Each application flaw breaks the rule its Device Advisor case checks, and nothing else.

use super::*;
use crate::flaws::{Flaw, Flaws};

fn flawed(flaw: Flaw) -> Rig {
    flawed_with(flaw, Config::default())
}

fn flawed_with(flaw: Flaw, config: Config) -> Rig {
    let config = Config {
        flaws: Flaws::NONE.with(flaw),
        ..config
    };
    Rig::with_config(config, provisioned())
}

/// The delays of `count` failed connection attempts, from the console's "retrying in".
fn retry_delays(rig: &mut Rig, count: usize) -> Vec<u64> {
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    let mut delays = Vec::new();
    for _ in 0..count {
        // On to the next attempt, and fail it.
        while !rig
            .run_until(rig.now.millis() + 10)
            .iter()
            .any(|(_, a)| *a == Action::OpenTransport)
        {}
        rig.feed(Input::TransportFailed(TransportError::Other));
        let console = rig.console();
        let delay = console
            .lines()
            .find_map(|l| l.strip_prefix("[I] mqtt: retrying in "))
            .and_then(|l| l.strip_suffix(" ms"))
            .unwrap()
            .parse()
            .unwrap();
        delays.push(delay);
    }
    delays
}

#[test]
fn no_backoff_retries_after_the_base_every_time_and_no_jitter_after_the_ceiling() {
    assert_eq!(retry_delays(&mut flawed(Flaw::NoBackoff), 5), [1000; 5]);
    assert_eq!(
        retry_delays(&mut flawed(Flaw::NoJitter), 5),
        [1000, 2000, 4000, 8000, 16000]
    );
    let reference = retry_delays(&mut Rig::new(provisioned()), 5);
    assert_ne!(reference, [1000, 2000, 4000, 8000, 16000]);
}

#[test]
fn wrong_client_id_connects_as_another_client() {
    let mut rig = flawed(Flaw::WrongClientId);
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    rig.run_until(0);
    let up = rig.feed(Input::TransportUp);
    assert!(up.iter().any(|a| matches!(a,
        Action::MqttConnect { client_id, .. } if client_id.as_str() == "hil-wrong-client-id")));
}

#[test]
fn no_telemetry_publishes_none_and_no_shadow_report_reports_nothing() {
    let mut rig = flawed(Flaw::NoTelemetry);
    rig.connect();
    let sent = publishes(&rig.run_until(5000));
    assert!(!sent.iter().any(|p| p.1.ends_with("/sensors")), "{sent:?}");

    let mut rig = flawed(Flaw::NoShadowReport);
    let connected = rig.connect();
    let delta = std::format!("$aws/things/{THING}/shadow/update/delta");
    let toggled = rig.feed(Input::Publish {
        topic: &delta,
        payload: br#"{"version":2,"state":{"toggle":1}}"#,
        qos: Qos::AtLeastOnce,
        pkid: 9,
    });
    assert!(rig.board.led(Led::Yellow), "the delta is still applied");
    for actions in [connected, toggled] {
        assert!(!actions.iter().any(
            |a| matches!(a, Action::MqttPublish { topic, .. } if topic.ends_with("/shadow/update"))
        ));
    }
}

#[test]
fn no_dup_resends_with_the_same_packet_id_but_without_dup() {
    let config = Config {
        telemetry_qos: Qos::AtLeastOnce,
        telemetry_interval: Duration::from_secs(60),
        ..Config::default()
    };
    let mut rig = flawed_with(Flaw::NoDup, config);
    rig.connect();
    rig.feed(Input::SubAck { pkid: 1 });
    let resent = publishes(&rig.run_until(5000));
    assert_eq!(resent.len(), 1, "{resent:?}");
    // Packet ids: 1 the SUBSCRIBE, 2 the shadow report, 3 the jobs start-next, 4 telemetry.
    assert_eq!((resent[0].3, resent[0].4), (4, false));
}

#[test]
fn no_subscribe_never_subscribes() {
    let mut rig = flawed(Flaw::NoSubscribe);
    let connected = rig.connect();
    let later = rig.run_until(30_000);
    assert!(
        !connected
            .iter()
            .chain(later.iter().map(|(_, a)| a))
            .any(|a| matches!(a, Action::MqttSubscribe { .. }))
    );
    assert!(rig.board.is_connected());
}

#[test]
fn no_subscribe_retry_gives_up_on_the_suback() {
    let mut rig = flawed(Flaw::NoSubscribeRetry);
    rig.connect();
    let later = rig.run_until(30_000);
    assert!(
        !later
            .iter()
            .any(|(_, a)| matches!(a, Action::MqttSubscribe { .. }))
    );
}

#[test]
fn ignore_pingresp_loss_keeps_the_connection_and_pings_again() {
    let config = Config {
        telemetry_interval: Duration::from_secs(3600),
        ..Config::default()
    };
    let mut rig = flawed_with(Flaw::IgnorePingrespLoss, config);
    rig.connect();
    rig.feed(Input::SubAck { pkid: 1 });
    let actions = rig.run_until(200_000);
    assert!(!actions.iter().any(|(_, a)| *a == Action::CloseTransport));
    let pings = actions
        .iter()
        .filter(|(_, a)| *a == Action::MqttPing)
        .count();
    assert!(pings >= 2, "{pings} pings");
    assert!(rig.board.is_connected());
}

#[test]
fn clean_session_always_asks_for_a_clean_session_and_never_to_resubscribe_skips_it() {
    let mut rig = flawed(Flaw::CleanSessionAlways);
    rig.feed(Input::Boot);
    rig.feed(Input::WifiJoined);
    rig.run_until(0);
    let up = rig.feed(Input::TransportUp);
    assert!(up.iter().any(|a| matches!(
        a,
        Action::MqttConnect {
            clean_session: true,
            ..
        }
    )));

    let mut rig = flawed(Flaw::NeverResubscribe);
    rig.connect();
    rig.feed(Input::SubAck { pkid: 1 });
    rig.feed(Input::TransportClosed);
    rig.run_until(rig.now.millis() + 2000);
    rig.feed(Input::TransportUp);
    let reconnected = rig.feed(Input::ConnAck {
        accepted: true,
        session_present: false,
    });
    assert!(
        !reconnected
            .iter()
            .any(|a| matches!(a, Action::MqttSubscribe { .. }))
    );
}

#[test]
fn jobs_never_complete_starts_and_applies_a_job_but_never_reports_it() {
    let mut rig = flawed(Flaw::JobsNeverComplete);
    let connected = rig.connect();
    let start_next = std::format!("$aws/things/{THING}/jobs/start-next");
    assert!(
        publishes(&connected.into_iter().map(|a| (0, a)).collect::<Vec<_>>())
            .iter()
            .any(|p| p.1 == start_next)
    );
    let accepted = std::format!("{start_next}/accepted");
    let started = rig.feed(Input::Publish {
        topic: &accepted,
        payload: br#"{"clientToken":"r1","execution":{"jobId":"job-1","jobDocument":{"operation":"set_telemetry_period","period_ms":5000},"status":"IN_PROGRESS","versionNumber":2}}"#,
        qos: Qos::AtLeastOnce,
        pkid: 5,
    });
    assert!(
        !started
            .iter()
            .any(|a| matches!(a, Action::MqttPublish { .. })),
        "{started:?}"
    );
    // Applied all the same: telemetry every 5 s.
    let since = rig.now.millis();
    let sent = publishes(&rig.run_until(since + 10_000));
    let telemetry: Vec<u64> = sent
        .iter()
        .filter(|p| p.1.ends_with("/sensors"))
        .map(|p| p.0 - since)
        .collect();
    assert_eq!(telemetry, [5000, 10_000]);
    assert!(!sent.iter().any(|p| p.1.contains("/jobs/")), "{sent:?}");
}

#[test]
fn no_retain_publishes_the_status_without_retain() {
    let mut rig = flawed(Flaw::NoRetain);
    rig.connect();
    let (actions, _) = rig.type_line("status");
    let status: Vec<bool> = actions
        .iter()
        .filter_map(|a| match a {
            Action::MqttPublish { topic, retain, .. } if topic.ends_with("/status") => {
                Some(*retain)
            }
            _ => None,
        })
        .collect();
    assert_eq!(status, [false]);
}
