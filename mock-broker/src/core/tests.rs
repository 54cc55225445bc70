//! Unit tests of the core, driven with packets at chosen times.

use super::*;
use rumqttc::mqttbytes::v4::{Connect, Subscribe, Unsubscribe};

const T0: Duration = Duration::ZERO;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

struct Fixture {
    core: Core,
}

fn identity(n: u64) -> ClientIdentity {
    ClientIdentity {
        certificate_id: format!("cert-{n}"),
        superuser: false,
    }
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            core: Core::new(CoreConfig::default(), Arc::new(crate::hooks::AllowAll)),
        }
    }

    fn with_hooks(hooks: impl Hooks) -> Self {
        Fixture {
            core: Core::new(CoreConfig::default(), Arc::new(hooks)),
        }
    }

    /// Opens `conn` and connects it as `client_id`; returns the actions of the CONNECT.
    fn connect_with(&mut self, conn: ConnId, now: Duration, connect: Connect) -> Vec<Action> {
        self.core.open(conn, now, identity(conn));
        self.core.handle_packet(conn, now, Packet::Connect(connect))
    }

    fn connect(&mut self, conn: ConnId, client_id: &str) -> Vec<Action> {
        self.connect_with(conn, T0, Connect::new(client_id))
    }

    fn persistent(&mut self, conn: ConnId, now: Duration, client_id: &str) -> Vec<Action> {
        let mut connect = Connect::new(client_id);
        connect.clean_session = false;
        self.connect_with(conn, now, connect)
    }

    fn subscribe(&mut self, conn: ConnId, filter: &str, qos: QoS) -> Vec<Action> {
        self.core
            .handle_packet(conn, T0, Packet::Subscribe(Subscribe::new(filter, qos)))
    }

    fn publish(&mut self, conn: ConnId, topic: &str, qos: QoS, payload: &str) -> Vec<Action> {
        let mut publish = Publish::new(topic, qos, payload);
        if qos != QoS::AtMostOnce {
            publish.pkid = 1;
        }
        self.core.handle_packet(conn, T0, Packet::Publish(publish))
    }
}

fn sent_to(actions: &[Action], to: ConnId) -> Vec<Packet> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { conn, packet, .. } if *conn == to => Some(packet.clone()),
            _ => None,
        })
        .collect()
}

fn publishes_to(actions: &[Action], to: ConnId) -> Vec<Publish> {
    sent_to(actions, to)
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn closed(actions: &[Action]) -> Vec<(ConnId, CloseReason)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Close { conn, reason } => Some((*conn, reason.clone())),
            _ => None,
        })
        .collect()
}

fn violation_of(actions: &[Action], conn: ConnId) -> Option<Violation> {
    closed(actions)
        .into_iter()
        .find_map(|(c, reason)| match reason {
            CloseReason::ProtocolViolation { violation } if c == conn => Some(violation),
            _ => None,
        })
}

fn connack(actions: &[Action], conn: ConnId) -> Option<ConnAck> {
    sent_to(actions, conn).into_iter().find_map(|p| match p {
        Packet::ConnAck(ack) => Some(ack),
        _ => None,
    })
}

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
fn qos0_and_qos1_are_routed_with_the_lower_qos() {
    let mut f = Fixture::new();
    f.connect(1, "sub0");
    f.connect(2, "sub1");
    f.connect(3, "pub");
    f.subscribe(1, "dev/+", QoS::AtMostOnce);
    f.subscribe(2, "dev/#", QoS::AtLeastOnce);

    let actions = f.publish(3, "dev/sensors", QoS::AtLeastOnce, "{}");
    assert_eq!(sent_to(&actions, 3), vec![Packet::PubAck(PubAck::new(1))]);
    let to0 = publishes_to(&actions, 1);
    let to1 = publishes_to(&actions, 2);
    assert_eq!(to0.len(), 1);
    assert_eq!(to0[0].qos, QoS::AtMostOnce);
    assert_eq!(to1.len(), 1);
    assert_eq!(to1[0].qos, QoS::AtLeastOnce);
    assert_ne!(to1[0].pkid, 0);
    assert!(!to1[0].retain);
}

#[test]
fn hash_filter_does_not_match_its_parent_topic() {
    let mut f = Fixture::new();
    f.connect(1, "sub");
    f.connect(2, "pub");
    f.subscribe(1, "sensor/#", QoS::AtMostOnce);
    assert!(publishes_to(&f.publish(2, "sensor", QoS::AtMostOnce, "x"), 1).is_empty());
    assert_eq!(
        publishes_to(&f.publish(2, "sensor/", QoS::AtMostOnce, "x"), 1).len(),
        1
    );
}

#[test]
fn retained_messages_go_only_to_exact_subscriptions_and_empty_deletes() {
    let mut f = Fixture::new();
    f.connect(1, "pub");
    let mut retained = Publish::new("dev/config", QoS::AtMostOnce, "v1");
    retained.retain = true;
    f.core.handle_packet(1, T0, Packet::Publish(retained));
    assert!(f.core.retained().contains_key("dev/config"));

    f.connect(2, "exact");
    let exact = publishes_to(&f.subscribe(2, "dev/config", QoS::AtLeastOnce), 2);
    assert_eq!(exact.len(), 1);
    assert!(exact[0].retain);
    assert_eq!(&exact[0].payload[..], b"v1");

    f.connect(3, "wild");
    assert!(publishes_to(&f.subscribe(3, "dev/+", QoS::AtLeastOnce), 3).is_empty());

    let mut delete = Publish::new("dev/config", QoS::AtMostOnce, "");
    delete.retain = true;
    f.core.handle_packet(1, T0, Packet::Publish(delete));
    assert!(f.core.retained().is_empty());
}

#[test]
fn suback_comes_before_the_retained_message() {
    let mut f = Fixture::new();
    f.connect(1, "pub");
    let mut retained = Publish::new("a/b", QoS::AtMostOnce, "v");
    retained.retain = true;
    f.core.handle_packet(1, T0, Packet::Publish(retained));
    f.connect(2, "sub");
    let sent = sent_to(&f.subscribe(2, "a/b", QoS::AtMostOnce), 2);
    assert!(matches!(
        sent.as_slice(),
        [Packet::SubAck(_), Packet::Publish(_)]
    ));
}

#[test]
fn aws_violations_close_only_the_offender() {
    let cases: Vec<(&str, Packet, Violation)> = vec![
        (
            "qos2 publish",
            Packet::Publish({
                let mut p = Publish::new("a", QoS::ExactlyOnce, "x");
                p.pkid = 1;
                p
            }),
            Violation::Qos2Unsupported,
        ),
        (
            "wildcard topic",
            Packet::Publish(Publish::new("a/+", QoS::AtMostOnce, "x")),
            Violation::WildcardInTopic("a/+".into()),
        ),
        (
            "reserved topic",
            Packet::Publish(Publish::new("$aws/events/x", QoS::AtMostOnce, "x")),
            Violation::ReservedTopic("$aws/events/x".into()),
        ),
        (
            "payload over 128 KiB",
            Packet::Publish(Publish::new(
                "a",
                QoS::AtMostOnce,
                vec![0u8; MAX_PAYLOAD + 1],
            )),
            Violation::PayloadTooLarge(MAX_PAYLOAD + 1),
        ),
        (
            "eight slashes",
            Packet::Publish(Publish::new("1/2/3/4/5/6/7/8/9", QoS::AtMostOnce, "x")),
            Violation::TooManySlashes {
                topic: "1/2/3/4/5/6/7/8/9".into(),
                slashes: 8,
            },
        ),
        (
            "nine filters",
            Packet::Subscribe(Subscribe::new_many((0..9).map(|i| {
                rumqttc::mqttbytes::v4::SubscribeFilter::new(format!("t/{i}"), QoS::AtMostOnce)
            }))),
            Violation::TooManyFilters(9),
        ),
        (
            "qos2 subscription",
            Packet::Subscribe(Subscribe::new("a", QoS::ExactlyOnce)),
            Violation::Qos2Unsupported,
        ),
        (
            "pubrel",
            Packet::PubRel(rumqttc::mqttbytes::v4::PubRel::new(1)),
            Violation::Qos2Unsupported,
        ),
        (
            "retained to a $ topic",
            Packet::Publish({
                let mut p = Publish::new("$aws/things/x/shadow/update", QoS::AtMostOnce, "x");
                p.retain = true;
                p
            }),
            Violation::RetainedReservedTopic("$aws/things/x/shadow/update".into()),
        ),
        (
            "server packet from a client",
            Packet::PingResp,
            Violation::UnexpectedPacket("PINGRESP"),
        ),
    ];
    for (name, packet, expected) in cases {
        let mut f = Fixture::new();
        f.connect(1, "bad");
        f.connect(2, "good");
        let actions = f.core.handle_packet(1, T0, packet);
        assert_eq!(violation_of(&actions, 1), Some(expected), "{name}");
        assert_eq!(
            f.core.connection_count(),
            1,
            "{name}: the other client stays"
        );
        assert_eq!(f.core.connection_of("good"), Some(2), "{name}");
    }
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
        Arc::new(crate::hooks::AllowAll),
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

#[test]
fn the_will_is_published_on_abnormal_close_only() {
    let mut f = Fixture::new();
    f.connect(9, "watcher");
    f.subscribe(9, "will/#", QoS::AtMostOnce);
    for (conn, clean_close) in [(1, true), (2, false)] {
        let mut connect = Connect::new(format!("dev{conn}"));
        connect.last_will = Some(LastWill::new(
            format!("will/{conn}"),
            "x",
            QoS::AtMostOnce,
            false,
        ));
        f.connect_with(conn, T0, connect);
        let actions = if clean_close {
            f.core.handle_packet(conn, T0, Packet::Disconnect)
        } else {
            f.core.handle_close(conn, T0, CloseReason::ConnectionLost)
        };
        let wills = publishes_to(&actions, 9);
        assert_eq!(
            wills.len(),
            usize::from(!clean_close),
            "clean close: {clean_close}"
        );
    }
}

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
fn unsubscribe_stops_delivery() {
    let mut f = Fixture::new();
    f.connect(1, "dev");
    f.connect(2, "pub");
    f.subscribe(1, "a/b", QoS::AtMostOnce);
    let actions = f
        .core
        .handle_packet(1, T0, Packet::Unsubscribe(Unsubscribe::new("a/b")));
    assert_eq!(
        sent_to(&actions, 1),
        vec![Packet::UnsubAck(UnsubAck { pkid: 0 })]
    );
    assert!(publishes_to(&f.publish(2, "a/b", QoS::AtMostOnce, "x"), 1).is_empty());
}

#[test]
fn withheld_connack_leaves_the_connection_silent_n_times() {
    let mut f = Fixture::new();
    f.core
        .faults_mut()
        .withhold_connack(crate::fault_plan::Target::Client("dev".into()), 2);
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
    let target = crate::fault_plan::Target::Client("dev".into());
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
    f.core
        .faults_mut()
        .delay_outgoing(crate::fault_plan::Target::All, Duration::from_millis(250));
    let actions = f.connect(1, "dev");
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Send { delay, .. } if *delay == Duration::from_millis(250)
    )));
}

struct DenyTopic(&'static str);

impl Hooks for DenyTopic {
    fn authorize(&self, _: &ClientIdentity, _: &str, action: AuthAction<'_>) -> Decision {
        match action {
            AuthAction::Publish(t) | AuthAction::Subscribe(t) | AuthAction::Receive(t)
                if t == self.0 =>
            {
                Decision::Deny(format!("statement denies {t}"))
            }
            AuthAction::Connect("intruder") => Decision::Deny("no".into()),
            _ => Decision::Allow,
        }
    }
}

#[test]
fn the_authorization_hook_is_called_on_every_operation() {
    let mut f = Fixture::with_hooks(DenyTopic("secret"));
    let actions = f.connect(1, "intruder");
    assert_eq!(
        connack(&actions, 1).map(|a| a.code),
        Some(ConnectReturnCode::NotAuthorized)
    );
    assert!(matches!(
        closed(&actions)[..],
        [(1, CloseReason::AuthError { .. })]
    ));

    f.connect(2, "dev");
    let actions = f.publish(2, "secret", QoS::AtMostOnce, "x");
    assert!(matches!(
        closed(&actions)[..],
        [(2, CloseReason::AuthError { .. })]
    ));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Tap(EventKind::Denied { .. })))
    );
    let refused = |actions: &[Action]| {
        actions.iter().find_map(|a| match a {
            Action::Tap(EventKind::PublishIn { refused, .. }) => Some(refused.clone()),
            _ => None,
        })
    };
    assert!(
        refused(&actions).is_some_and(|r| r.is_some_and(|r| r.contains("not authorized"))),
        "the tapped PUBLISH says it was refused"
    );
    f.connect(4, "dev4");
    let actions = f.publish(4, "open", QoS::AtMostOnce, "x");
    assert_eq!(
        refused(&actions),
        Some(None),
        "an accepted PUBLISH is not marked"
    );
    let actions = f.publish(4, "a/+", QoS::AtMostOnce, "x");
    assert!(
        refused(&actions).is_some_and(|r| r.is_some_and(|r| r.contains("a/+"))),
        "a rule violation is marked too"
    );

    f.connect(3, "dev3");
    let actions = f.subscribe(3, "secret", QoS::AtMostOnce);
    assert!(matches!(
        closed(&actions)[..],
        [(3, CloseReason::AuthError { .. })]
    ));
}

#[test]
fn broker_publishes_reach_subscribers() {
    let mut f = Fixture::new();
    f.connect(1, "dev");
    f.subscribe(1, "$aws/events/presence/connected/+", QoS::AtMostOnce);
    let actions = f.core.publish(
        T0,
        "$aws/events/presence/connected/x",
        Bytes::from_static(b"{}"),
        QoS::AtMostOnce,
        false,
    );
    assert_eq!(publishes_to(&actions, 1).len(), 1);
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

    let json = serde_json::to_string(&f.core.snapshot()).unwrap();
    let mut g = Fixture::new();
    g.core.restore(serde_json::from_str(&json).unwrap(), T0);
    assert!(g.core.retained().contains_key("cfg"));
    let actions = g.persistent(1, T0, "keep");
    assert_eq!(connack(&actions, 1).map(|a| a.session_present), Some(true));
    assert_eq!(publishes_to(&actions, 1).len(), 1);
    // The clean session was not stored.
    assert!(!g.core.sessions.contains_key("gone"));
}

#[test]
fn lifecycle_events_follow_connects_and_closes() {
    let mut f = Fixture::new();
    f.connect(9, "watcher");
    f.subscribe(9, "$aws/events/presence/+/+", QoS::AtMostOnce);
    let connected = publishes_to(&f.connect(1, "dev"), 9);
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].topic, "$aws/events/presence/connected/dev");
    let event: serde_json::Value = serde_json::from_slice(&connected[0].payload).unwrap();
    assert_eq!(event["eventType"], "connected");
    assert_eq!(event["principalIdentifier"], "cert-1");
    assert_eq!(event["versionNumber"], 1);

    let closed = publishes_to(
        &f.core
            .handle_close(1, secs(5), CloseReason::MqttKeepAliveTimeout),
        9,
    );
    let event: serde_json::Value = serde_json::from_slice(&closed[0].payload).unwrap();
    assert_eq!(closed[0].topic, "$aws/events/presence/disconnected/dev");
    assert_eq!(event["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");
    assert_eq!(event["clientInitiatedDisconnect"], false);
    assert_eq!(event["timestamp"], 5000);
    assert_eq!(event["versionNumber"], 2);

    // A connection refused before CONNACK has no lifecycle events.
    f.core
        .faults_mut()
        .withhold_connack(crate::fault_plan::Target::All, 1);
    assert!(publishes_to(&f.connect(2, "silent"), 9).is_empty());
    assert!(publishes_to(&f.core.handle_close(2, T0, CloseReason::ConnectionLost), 9).is_empty());
}

#[test]
fn shadow_requests_are_answered_through_routing() {
    let mut f = Fixture::new();
    f.connect(1, "dev");
    f.subscribe(1, "$aws/things/dev/shadow/update/delta", QoS::AtLeastOnce);
    f.connect(2, "cloud");
    let actions = f.publish(
        2,
        "$aws/things/dev/shadow/update",
        QoS::AtLeastOnce,
        r#"{"state":{"desired":{"toggle":1}}}"#,
    );
    let delta = publishes_to(&actions, 1);
    assert_eq!(delta.len(), 1);
    assert!(String::from_utf8_lossy(&delta[0].payload).contains(r#""state":{"toggle":1}"#));
}

#[test]
fn broker_publications_are_tapped_even_without_subscribers() {
    let mut f = Fixture::new();
    let actions = f.core.publish(
        T0,
        "$aws/events/x",
        Bytes::from_static(b"{}"),
        QoS::AtLeastOnce,
        false,
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Tap(EventKind::BrokerPublish { message }) if message.topic == "$aws/events/x"
    )));
}
