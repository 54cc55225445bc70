//! Persistent sessions: CONNECT with clean session 0, the subscription kept when the broker
//! resumes the session, made again when it did not.

use super::*;

/// Drops the connection and reconnects after the backoff, with CONNACK's `session_present`.
fn reconnect(rig: &mut Rig, session_present: bool) -> Vec<Action> {
    rig.feed(Input::TransportClosed);
    let opening = rig.run_until(rig.now.millis() + 2000);
    assert!(opening.iter().any(|(_, a)| *a == Action::OpenTransport));
    let up = rig.feed(Input::TransportUp);
    assert!(
        up.iter().any(|a| matches!(
            a,
            Action::MqttConnect {
                clean_session: false,
                ..
            }
        )),
        "a persistent session is asked for: {up:?}"
    );
    rig.feed(Input::ConnAck {
        accepted: true,
        session_present,
    })
}

fn subscribes(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::MqttSubscribe { .. }))
        .count()
}

#[test]
fn a_resumed_session_is_not_subscribed_again() {
    let mut rig = Rig::new(provisioned());
    assert_eq!(subscribes(&rig.connect()), 1);
    rig.feed(Input::SubAck { pkid: 1 });
    let resumed = reconnect(&mut rig, true);
    assert_eq!(subscribes(&resumed), 0, "{resumed:?}");
    assert!(rig.console().contains("mqtt: session resumed"));
    // The start-up report is not repeated on a reconnect.
    assert!(!resumed.iter().any(
        |a| matches!(a, Action::MqttPublish { topic, .. } if topic.ends_with("/shadow/update"))
    ));
}

#[test]
fn a_session_the_broker_did_not_keep_is_subscribed_again() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    rig.feed(Input::SubAck { pkid: 1 });
    assert_eq!(subscribes(&reconnect(&mut rig, false)), 1);
}

#[test]
fn a_subscription_never_acknowledged_is_made_again_even_in_a_resumed_session() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    assert_eq!(subscribes(&reconnect(&mut rig, true)), 1);
}

#[test]
fn an_unacknowledged_qos1_message_is_resent_on_the_next_connection_with_its_id_and_dup() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    rig.feed(Input::SubAck { pkid: 1 });
    let (sent, _) = rig.type_line("status");
    let original = sent
        .iter()
        .find_map(|a| match a {
            Action::MqttPublish {
                topic,
                pkid,
                dup: false,
                retain: true,
                ..
            } if topic.ends_with("/status") => Some(*pkid),
            _ => None,
        })
        .expect("the status is published");
    // The link drops before the PUBACK; the broker resumes the session.
    let resumed = reconnect(&mut rig, true);
    let resent: Vec<(u16, bool, bool)> = resumed
        .iter()
        .filter_map(|a| match a {
            Action::MqttPublish {
                topic,
                pkid,
                dup,
                retain,
                ..
            } if topic.ends_with("/status") => Some((*pkid, *dup, *retain)),
            _ => None,
        })
        .collect();
    assert_eq!(resent, [(original, true, true)], "{resumed:?}");
    assert!(
        rig.console()
            .contains("mqtt: resending 1 unacknowledged message(s)")
    );
    // Acknowledged now: not sent again.
    rig.feed(Input::PubAck { pkid: original });
    let later = rig.run_until(rig.now.millis() + 60_000);
    assert!(
        !later.iter().any(
            |(_, a)| matches!(a, Action::MqttPublish { topic, .. } if topic.ends_with("/status"))
        ),
        "{later:?}"
    );
}
