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
