//! CONNECT, keep-alive and the client-id takeover.

use super::*;

#[test]
fn connect_is_acknowledged_and_tapped() {
    let mut f = Fixture::new();
    let actions = f.connect(1, "dev");
    assert_eq!(
        connack(&actions, 1),
        Some(ConnAck::new(ConnectReturnCode::Success, false))
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Tap(EventKind::Connect { client_id, certificate_id, .. })
            if client_id == "dev" && certificate_id == "cert-1"
    )));
}

#[test]
fn any_packet_before_connect_closes_the_connection() {
    let mut f = Fixture::new();
    f.core.open(1, T0, identity(1));
    let actions = f.core.handle_packet(1, T0, Packet::PingReq);
    assert_eq!(
        violation_of(&actions, 1),
        Some(Violation::BeforeConnect("PINGREQ"))
    );
    assert_eq!(f.core.connection_count(), 0);
}

#[test]
fn a_second_connect_closes_the_connection() {
    let mut f = Fixture::new();
    f.connect(1, "dev");
    let actions = f
        .core
        .handle_packet(1, T0, Packet::Connect(Connect::new("dev")));
    assert_eq!(violation_of(&actions, 1), Some(Violation::SecondConnect));
}

#[test]
fn a_client_id_over_128_bytes_is_refused_with_a_connack() {
    let mut f = Fixture::new();
    let actions = f.connect(1, &"x".repeat(129));
    assert_eq!(
        connack(&actions, 1).map(|a| a.code),
        Some(ConnectReturnCode::BadClientId)
    );
    assert_eq!(
        violation_of(&actions, 1),
        Some(Violation::ClientIdTooLong(129))
    );
    assert!(
        f.connect(2, &"y".repeat(128))
            .iter()
            .all(|a| !matches!(a, Action::Close { .. }))
    );
}

#[test]
fn a_will_with_qos2_is_refused() {
    let mut f = Fixture::new();
    let mut connect = Connect::new("dev");
    connect.last_will = Some(LastWill::new("dev/will", "bye", QoS::ExactlyOnce, false));
    let actions = f.connect_with(1, T0, connect);
    assert_eq!(violation_of(&actions, 1), Some(Violation::WillQos2));
}

#[test]
fn keep_alive_is_clamped_and_expires_after_one_and_a_half_times() {
    for (asked, window) in [(5u16, 45u64), (60, 90), (0, 1800), (5000, 1800)] {
        let mut f = Fixture::new();
        let mut connect = Connect::new("dev");
        connect.keep_alive = asked;
        f.connect_with(1, secs(100), connect);
        assert_eq!(
            f.core.poll_at(1),
            Some(secs(100 + window)),
            "keep-alive {asked}"
        );
        assert!(f.core.handle_timeout(1, secs(100 + window - 1)).is_empty());
        let actions = f.core.handle_timeout(1, secs(100 + window));
        assert_eq!(
            closed(&actions),
            vec![(1, CloseReason::MqttKeepAliveTimeout)]
        );
    }
}

#[test]
fn any_packet_resets_the_keep_alive_window() {
    let mut f = Fixture::new();
    let mut connect = Connect::new("dev");
    connect.keep_alive = 30;
    f.connect_with(1, T0, connect);
    f.core.handle_packet(1, secs(40), Packet::PingReq);
    assert_eq!(f.core.poll_at(1), Some(secs(85)));
}

#[test]
fn the_time_scale_shrinks_protocol_timers() {
    let mut core = Core::new(
        CoreConfig {
            time_scale: 0.001,
            ..CoreConfig::default()
        },
        Arc::new(crate::mqtt::hooks::AllowAll),
    );
    core.open(1, T0, identity(1));
    let mut connect = Connect::new("dev");
    connect.keep_alive = 30;
    core.handle_packet(1, T0, Packet::Connect(connect));
    assert_eq!(core.poll_at(1), Some(Duration::from_millis(45)));
}

#[test]
fn takeover_drops_the_older_connection_and_publishes_its_will() {
    let mut f = Fixture::new();
    f.connect(9, "watcher");
    f.subscribe(9, "dev/will", QoS::AtMostOnce);
    let mut connect = Connect::new("dev");
    connect.last_will = Some(LastWill::new("dev/will", "gone", QoS::AtMostOnce, false));
    f.connect_with(1, T0, connect);
    let actions = f.connect(2, "dev");
    assert_eq!(closed(&actions), vec![(1, CloseReason::DuplicateClientid)]);
    assert_eq!(publishes_to(&actions, 9).len(), 1);
    assert_eq!(f.core.connection_of("dev"), Some(2));
}
