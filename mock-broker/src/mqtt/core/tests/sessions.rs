//! Persistent sessions, and what survives a restart.

use super::*;
use crate::mqtt::persist::StoredState;

#[test]
fn a_persistent_session_keeps_subscriptions_and_queues_qos1() {
    let mut f = Fixture::new();
    f.persistent(1, T0, "dev");
    f.subscribe(1, "dev/cmd", QoS::AtLeastOnce);
    // One message in flight, never acknowledged; then the client goes away.
    f.connect(5, "cloud");
    let first = publishes_to(&f.publish(5, "dev/cmd", QoS::AtLeastOnce, "one"), 1);
    assert_eq!(first.len(), 1);
    f.core.handle_close(1, secs(1), CloseReason::ConnectionLost);
    // While offline: QoS 1 is queued, QoS 0 is not.
    f.publish(5, "dev/cmd", QoS::AtLeastOnce, "two");
    f.publish(5, "dev/cmd", QoS::AtMostOnce, "dropped");

    let actions = f.persistent(2, secs(2), "dev");
    assert_eq!(connack(&actions, 2).map(|a| a.session_present), Some(true));
    let resent = publishes_to(&actions, 2);
    let payloads: Vec<&[u8]> = resent.iter().map(|p| &p.payload[..]).collect();
    assert_eq!(payloads, vec![&b"one"[..], &b"two"[..]]);
    assert!(
        resent[0].dup,
        "the unacknowledged message is resent with DUP"
    );
    assert_eq!(resent[0].pkid, first[0].pkid, "with the same packet id");
    assert!(!resent[1].dup);
}

#[test]
fn an_acknowledged_message_is_not_resent() {
    let mut f = Fixture::new();
    f.persistent(1, T0, "dev");
    f.subscribe(1, "dev/cmd", QoS::AtLeastOnce);
    f.connect(5, "cloud");
    let sent = publishes_to(&f.publish(5, "dev/cmd", QoS::AtLeastOnce, "one"), 1);
    f.core
        .handle_packet(1, T0, Packet::PubAck(PubAck::new(sent[0].pkid)));
    f.core.handle_close(1, T0, CloseReason::ConnectionLost);
    assert!(publishes_to(&f.persistent(2, T0, "dev"), 2).is_empty());
}

#[test]
fn a_persistent_session_expires_after_an_hour_offline() {
    let mut f = Fixture::new();
    f.persistent(1, T0, "dev");
    f.subscribe(1, "dev/cmd", QoS::AtLeastOnce);
    f.core
        .handle_close(1, secs(10), CloseReason::ConnectionLost);
    let actions = f.persistent(2, secs(10 + 3600), "dev");
    assert_eq!(connack(&actions, 2).map(|a| a.session_present), Some(false));
}

#[test]
fn an_offline_session_can_be_expired_at_once_but_not_a_connected_one() {
    let mut f = Fixture::new();
    f.persistent(1, T0, "dev");
    f.subscribe(1, "dev/cmd", QoS::AtLeastOnce);
    assert!(!f.core.expire_session("dev"), "connected");
    f.core
        .handle_close(1, secs(10), CloseReason::ConnectionLost);
    assert!(f.core.expire_session("dev"));
    assert!(!f.core.expire_session("dev"), "already gone");
    let actions = f.persistent(2, secs(11), "dev");
    assert_eq!(connack(&actions, 2).map(|a| a.session_present), Some(false));
}

#[test]
fn a_clean_connect_discards_the_stored_session() {
    let mut f = Fixture::new();
    f.persistent(1, T0, "dev");
    f.subscribe(1, "dev/cmd", QoS::AtLeastOnce);
    f.core.handle_close(1, T0, CloseReason::ConnectionLost);
    let actions = f.connect(2, "dev");
    assert_eq!(connack(&actions, 2).map(|a| a.session_present), Some(false));
    f.connect(5, "cloud");
    assert!(publishes_to(&f.publish(5, "dev/cmd", QoS::AtLeastOnce, "x"), 2).is_empty());
}

#[test]
fn snapshot_and_restore_keep_retained_and_persistent_sessions() {
    let mut f = Fixture::new();
    f.persistent(1, T0, "keep");
    f.subscribe(1, "keep/cmd", QoS::AtLeastOnce);
    f.connect(2, "gone");
    f.subscribe(2, "gone/cmd", QoS::AtLeastOnce);
    let mut retained = Publish::new("cfg", QoS::AtMostOnce, "v");
    retained.retain = true;
    f.core.handle_packet(2, T0, Packet::Publish(retained));
    f.core.handle_close(1, T0, CloseReason::ConnectionLost);
    f.publish(2, "keep/cmd", QoS::AtLeastOnce, "queued");

    let json = serde_json::to_string(&StoredState::capture(&f.core)).unwrap();
    let mut g = Fixture::new();
    let stored: StoredState = serde_json::from_str(&json).unwrap();
    stored.apply(&mut g.core, T0);
    assert!(g.core.retained().contains_key("cfg"));
    let actions = g.persistent(1, T0, "keep");
    assert_eq!(connack(&actions, 1).map(|a| a.session_present), Some(true));
    assert_eq!(publishes_to(&actions, 1).len(), 1);
    // The clean session was not stored.
    assert!(!g.core.sessions.contains_key("gone"));
}
