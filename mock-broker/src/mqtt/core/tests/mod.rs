//! Unit tests of the core, driven with packets at chosen times: the fixture and its
//! helpers here, the tests by topic in the submodules.

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
    ClientIdentity::with_id(format!("cert-{n}"))
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            core: Core::new(
                CoreConfig::default(),
                Arc::new(crate::mqtt::hooks::AllowAll),
            ),
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

mod connect;
mod faults;
mod hooks;
mod lifecycle;
mod publish;
mod sessions;
