//! The authorization hook and the services.

use super::*;
use crate::mqtt::hooks::BrokerMessage;

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
    let actions = f.publish(4, "$aws/events/x", QoS::AtMostOnce, "x");
    assert!(
        refused(&actions).is_some_and(|r| r.is_some_and(|r| r.contains("$aws/events/x"))),
        "a rule violation is marked too"
    );

    f.connect(3, "dev3");
    let actions = f.subscribe(3, "secret", QoS::AtMostOnce);
    assert!(matches!(
        closed(&actions)[..],
        [(3, CloseReason::AuthError { .. })]
    ));
}

/// A service that answers `ask/<x>` on `answer/<x>`, and its own answers on `again/<x>`.
struct Echo;

impl Service for Echo {
    fn wants(&self, topic: &str) -> bool {
        topic.starts_with("ask/") || topic.starts_with("answer/")
    }

    fn on_message(&self, topic: &str, payload: &[u8], now_ms: u64) -> Vec<BrokerMessage> {
        let (kind, rest) = topic.split_once('/').unwrap_or_default();
        let reply = if kind == "ask" { "answer" } else { "again" };
        vec![BrokerMessage {
            topic: format!("{reply}/{rest}"),
            payload: format!("{}@{now_ms}", String::from_utf8_lossy(payload)).into_bytes(),
        }]
    }
}

#[test]
fn services_answer_through_routing_and_their_answers_are_routed_in_turn() {
    let mut f = Fixture::new();
    f.core.add_service(Arc::new(Echo));
    f.connect(1, "dev");
    f.subscribe(1, "answer/+", QoS::AtLeastOnce);
    f.subscribe(1, "again/+", QoS::AtLeastOnce);
    f.connect(2, "cloud");
    let actions = f.core.handle_packet(
        2,
        secs(3),
        Packet::Publish(Publish::new("ask/x", QoS::AtMostOnce, "hi")),
    );
    let got: Vec<(String, String)> = publishes_to(&actions, 1)
        .into_iter()
        .map(|p| (p.topic, String::from_utf8_lossy(&p.payload).into_owned()))
        .collect();
    assert_eq!(
        got,
        [
            ("answer/x".to_owned(), "hi@3000".to_owned()),
            ("again/x".to_owned(), "hi@3000@3000".to_owned())
        ]
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Tap(EventKind::BrokerPublish { message }) if message.topic == "answer/x"
    )));
}

/// Hooks that refuse revoked certificates at CONNECT and on standing (publishing an event and
/// deferring work when they refuse one), and deny Receive on `quiet/#`.
#[derive(Default)]
struct Gatekeeper {
    revoked: std::sync::Mutex<Vec<String>>,
}

impl Gatekeeper {
    fn revoke(&self, certificate_id: &str) {
        self.revoked.lock().unwrap().push(certificate_id.to_owned());
    }

    fn is_revoked(&self, identity: &ClientIdentity) -> bool {
        self.revoked
            .lock()
            .unwrap()
            .contains(&identity.certificate_id)
    }
}

impl Hooks for Arc<Gatekeeper> {
    fn admit(&self, identity: &ClientIdentity, _: &str) -> crate::mqtt::hooks::Admission {
        if !self.is_revoked(identity) {
            return crate::mqtt::hooks::Admission::admit(());
        }
        let mut refused = crate::mqtt::hooks::Admission::refuse("certificate is REVOKED");
        refused.publish.push(BrokerMessage {
            topic: "events/refused".into(),
            payload: identity.certificate_id.clone().into_bytes(),
        });
        refused.deferred.push(crate::mqtt::hooks::Deferred {
            after: secs(1),
            run: Box::new(Vec::new),
        });
        refused
    }

    fn standing(&self, identity: &ClientIdentity) -> Result<(), String> {
        if self.is_revoked(identity) {
            Err("certificate is REVOKED".into())
        } else {
            Ok(())
        }
    }

    fn authorize(&self, _: &ClientIdentity, _: &str, action: AuthAction<'_>) -> Decision {
        match action {
            AuthAction::Receive(topic) if topic.starts_with("quiet/") => {
                Decision::Deny(format!("no statement allows iot:Receive on topic/{topic}"))
            }
            _ => Decision::Allow,
        }
    }
}

fn tapped(actions: &[Action]) -> Vec<&EventKind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Tap(kind) => Some(kind),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refused_admission_closes_at_connect_without_connack_after_publishing_its_event() {
    let gate = Arc::new(Gatekeeper::default());
    gate.revoke("cert-2");
    let mut f = Fixture::with_hooks(gate.clone());
    f.connect(1, "watcher");
    f.subscribe(1, "events/#", QoS::AtMostOnce);

    let actions = f.connect(2, "dev");
    assert_eq!(connack(&actions, 2), None, "no CONNACK");
    assert_eq!(
        closed(&actions),
        [(
            2,
            CloseReason::AuthError {
                detail: "certificate is REVOKED".into()
            }
        )]
    );
    let events = publishes_to(&actions, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].topic, "events/refused");
    assert_eq!(&events[0].payload[..], b"cert-2");
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Defer(d) if d.after == secs(1)))
    );
    // The tap's order: CONNECT, the hook's event, the close.
    let order: Vec<&str> = tapped(&actions)
        .iter()
        .filter_map(|kind| match kind {
            EventKind::Connect { .. } => Some("connect"),
            EventKind::BrokerPublish { .. } => Some("event"),
            EventKind::Closed { .. } => Some("closed"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["connect", "event", "closed"]);
}

#[test]
fn revalidation_closes_only_the_revoked_certificates_connections_with_a_lifecycle_event() {
    let gate = Arc::new(Gatekeeper::default());
    let mut f = Fixture::with_hooks(gate.clone());
    f.connect(9, "watcher");
    f.subscribe(9, "$aws/events/presence/disconnected/+", QoS::AtMostOnce);
    f.connect(1, "dev");
    f.connect(2, "other");
    assert!(f.core.revalidate(Some("cert-1"), secs(1)).is_empty());

    gate.revoke("cert-1");
    let actions = f.core.revalidate(Some("cert-1"), secs(2));
    assert_eq!(
        closed(&actions),
        [(
            1,
            CloseReason::AuthError {
                detail: "certificate is REVOKED".into()
            }
        )]
    );
    let events = publishes_to(&actions, 9);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].topic, "$aws/events/presence/disconnected/dev");
    let event: serde_json::Value = serde_json::from_slice(&events[0].payload).unwrap();
    assert_eq!(event["disconnectReason"], "AUTH_ERROR");
    assert_eq!(event["clientInitiatedDisconnect"], false);
    assert_eq!(f.core.connection_of("other"), Some(2));

    // Revalidating everything (a lagging revocation reader) finds nothing more; a
    // reconnect of the revoked certificate is refused at CONNECT.
    assert!(f.core.revalidate(None, secs(3)).is_empty());
    f.core.open(3, secs(3), identity(1));
    let actions = f
        .core
        .handle_packet(3, secs(3), Packet::Connect(Connect::new("dev")));
    assert_eq!(connack(&actions, 3), None);
}

#[test]
fn a_denied_receive_drops_the_message_and_keeps_the_subscriber() {
    let mut f = Fixture::with_hooks(Arc::new(Gatekeeper::default()));
    f.connect(1, "dev");
    let suback = f.subscribe(1, "quiet/#", QoS::AtLeastOnce);
    assert!(
        sent_to(&suback, 1)
            .iter()
            .any(|p| matches!(p, Packet::SubAck(ack) if ack.return_codes
                == [SubscribeReasonCode::Success(QoS::AtLeastOnce)])),
        "the SUBACK grants the QoS"
    );
    f.subscribe(1, "loud/#", QoS::AtLeastOnce);
    f.connect(2, "cloud");

    let actions = f.publish(2, "quiet/a", QoS::AtLeastOnce, "x");
    assert!(publishes_to(&actions, 1).is_empty(), "nothing delivered");
    assert!(closed(&actions).is_empty(), "nobody disconnected");
    let dropped: Vec<_> = tapped(&actions)
        .into_iter()
        .filter_map(|kind| match kind {
            EventKind::DeliveryDropped {
                conn,
                client_id,
                message,
                reason,
            } => Some((
                *conn,
                client_id.clone(),
                message.topic.clone(),
                reason.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        dropped,
        [(
            Some(1),
            "dev".to_owned(),
            "quiet/a".to_owned(),
            "no statement allows iot:Receive on topic/quiet/a".to_owned()
        )]
    );
    assert_eq!(f.core.connection_of("dev"), Some(1));
    let actions = f.publish(2, "loud/a", QoS::AtLeastOnce, "y");
    assert_eq!(publishes_to(&actions, 1).len(), 1, "still subscribed");
}

/// Hooks that allow everything but iot:Publish and iot:RetainPublish on `locked/#`
/// (RetainPublish also denied on `open/retained`).
struct WillRules;

impl Hooks for WillRules {
    fn authorize(&self, _: &ClientIdentity, _: &str, action: AuthAction<'_>) -> Decision {
        match action {
            AuthAction::Publish(t) | AuthAction::RetainPublish(t) if t.starts_with("locked/") => {
                Decision::Deny(format!("no statement allows {t}"))
            }
            AuthAction::RetainPublish("open/retained") => Decision::Deny("no retain".into()),
            _ => Decision::Allow,
        }
    }
}

#[test]
fn a_will_is_a_publish_of_its_client_and_needs_the_policy() {
    let mut f = Fixture::with_hooks(WillRules);
    f.connect(9, "watcher");
    f.subscribe(9, "#", QoS::AtMostOnce);
    let cases = [
        ("locked/will", false, false),
        ("open/will", false, true),
        ("open/retained", true, false),
    ];
    for (conn, (topic, retain, published)) in (1..).zip(cases) {
        let mut connect = Connect::new(format!("dev{conn}"));
        connect.last_will = Some(LastWill::new(topic, "bye", QoS::AtMostOnce, retain));
        f.connect_with(conn, T0, connect);
        let actions = f.core.handle_close(conn, T0, CloseReason::ConnectionLost);
        let delivered = publishes_to(&actions, 9).iter().any(|p| p.topic == topic);
        assert_eq!(delivered, published, "{topic}");
        let denied = actions
            .iter()
            .any(|a| matches!(a, Action::Tap(EventKind::Denied { .. })));
        assert_eq!(denied, !published, "{topic}: the denial is tapped");
        assert!(!f.core.retained().contains_key(topic), "{topic}");
    }
}

#[test]
fn a_retained_will_on_a_dollar_topic_is_refused_at_connect() {
    let mut f = Fixture::new();
    let mut connect = Connect::new("dev");
    connect.last_will = Some(LastWill::new(
        "$aws/things/x/shadow/get",
        "bye",
        QoS::AtMostOnce,
        true,
    ));
    let actions = f.connect_with(1, T0, connect);
    assert_eq!(
        violation_of(&actions, 1),
        Some(Violation::RetainedReservedTopic(
            "$aws/things/x/shadow/get".into()
        ))
    );
}

#[test]
fn a_retained_message_at_subscribe_needs_receive_too() {
    let mut f = Fixture::with_hooks(Arc::new(Gatekeeper::default()));
    f.connect(2, "cloud");
    for topic in ["quiet/cfg", "loud/cfg"] {
        let mut retained = Publish::new(topic, QoS::AtMostOnce, "v");
        retained.retain = true;
        f.core.handle_packet(2, T0, Packet::Publish(retained));
    }
    f.connect(1, "dev");
    let quiet = f.subscribe(1, "quiet/cfg", QoS::AtMostOnce);
    assert!(publishes_to(&quiet, 1).is_empty(), "not delivered");
    assert!(quiet.iter().any(|a| matches!(
        a,
        Action::Tap(EventKind::DeliveryDropped { message, .. })
            if message.topic == "quiet/cfg" && message.retain
    )));
    let loud = f.subscribe(1, "loud/cfg", QoS::AtMostOnce);
    assert_eq!(publishes_to(&loud, 1).len(), 1, "an allowed one arrives");
}

#[test]
fn client_ids_with_wildcards_get_no_lifecycle_events() {
    let mut f = Fixture::new();
    f.connect(9, "watcher");
    f.subscribe(9, "$aws/events/presence/#", QoS::AtMostOnce);
    for id in ["a+b", "dev/#"] {
        assert!(publishes_to(&f.connect(1, id), 9).is_empty(), "{id}");
        let closed = f.core.handle_close(1, T0, CloseReason::ConnectionLost);
        assert!(publishes_to(&closed, 9).is_empty(), "{id}");
    }
    assert_eq!(publishes_to(&f.connect(2, "plain"), 9).len(), 1);
}
