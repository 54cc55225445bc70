//! The AWS IoT Device Advisor faults.

use super::*;

#[test]
fn withheld_connack_leaves_the_connection_silent_n_times() {
    let mut f = Fixture::new();
    f.core
        .faults_mut()
        .withhold_connack(crate::mqtt::fault_plan::Target::Client("dev".into()), 2);
    for conn in 1..=2 {
        let actions = f.connect(conn, "dev");
        assert_eq!(connack(&actions, conn), None);
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::Tap(EventKind::Withheld {
                packet: "CONNACK",
                ..
            })
        )));
        f.core.handle_close(conn, T0, CloseReason::ConnectionLost);
    }
    assert!(connack(&f.connect(3, "dev"), 3).is_some());
}

#[test]
fn withheld_acks_and_pings_are_tapped_not_sent() {
    let mut f = Fixture::new();
    let target = crate::mqtt::fault_plan::Target::Client("dev".into());
    for packet in [Withhold::Puback, Withhold::Suback, Withhold::Pingresp] {
        f.core.faults_mut().withhold(target.clone(), packet);
    }
    f.connect(1, "dev");
    assert!(sent_to(&f.publish(1, "dev/x", QoS::AtLeastOnce, "x"), 1).is_empty());
    assert!(sent_to(&f.subscribe(1, "dev/y", QoS::AtLeastOnce), 1).is_empty());
    assert!(sent_to(&f.core.handle_packet(1, T0, Packet::PingReq), 1).is_empty());
    f.core.faults_mut().clear();
    assert_eq!(
        sent_to(&f.core.handle_packet(1, T0, Packet::PingReq), 1),
        vec![Packet::PingResp]
    );
}

#[test]
fn outgoing_delay_is_attached_to_the_client_packets() {
    let mut f = Fixture::new();
    f.core.faults_mut().delay_outgoing(
        crate::mqtt::fault_plan::Target::All,
        Duration::from_millis(250),
    );
    let actions = f.connect(1, "dev");
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Send { delay, .. } if *delay == Duration::from_millis(250)
    )));
}

#[test]
fn outgoing_delay_follows_the_time_scale() {
    let mut core = Core::new(
        CoreConfig {
            time_scale: 0.05,
            ..CoreConfig::default()
        },
        Arc::new(crate::mqtt::hooks::AllowAll),
    );
    core.faults_mut().delay_outgoing(
        crate::mqtt::fault_plan::Target::Client("dev".into()),
        Duration::from_secs(2),
    );
    core.open(1, T0, identity(1));
    let actions = core.handle_packet(1, T0, Packet::Connect(Connect::new("dev")));
    let delays: Vec<Duration> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays,
        vec![Duration::from_millis(100)],
        "2 s at a rig speed of 20"
    );
}

#[test]
fn an_unstable_connection_is_dropped_within_the_window_after_connack_n_times() {
    use crate::mqtt::fault_plan::{Target, UNSTABLE_WINDOW};
    let mut f = Fixture::new();
    f.core
        .faults_mut()
        .unstable(Target::Client("dev".into()), 2);
    for conn in 1..=3 {
        assert!(connack(&f.connect(conn, "dev"), conn).is_some());
        let at = f.core.poll_at(conn).unwrap();
        if conn == 3 {
            assert!(at > T0 + UNSTABLE_WINDOW, "only keep-alive is left: {at:?}");
            break;
        }
        assert!(at < T0 + UNSTABLE_WINDOW, "{at:?}");
        assert!(
            closed(
                &f.core
                    .handle_timeout(conn, at.saturating_sub(Duration::from_millis(1)))
            )
            .is_empty()
        );
        let actions = f.core.handle_timeout(conn, at);
        assert_eq!(
            closed(&actions),
            vec![(conn, CloseReason::ServerInitiatedDisconnect)]
        );
    }
}
