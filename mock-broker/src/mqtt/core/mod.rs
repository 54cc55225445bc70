//! The broker's protocol core: connections, sessions, routing, retained messages and the
//! AWS IoT Core rules, as a sans-IO state machine.
//!
//! The code is split by what a client does: [`connect`](self) (CONNECT, session resumption),
//! `publish` (PUBLISH, routing, delivery, retained messages), `subscribe` (SUBSCRIBE,
//! UNSUBSCRIBE) and `lifecycle` (closes, Last Will, lifecycle events); this file holds the
//! state and the packet dispatch.
//!
//! [`Core`] takes decoded packets with the time they arrived (`now`, a [`Duration`] since
//! the broker started) and returns [`Action`]s: packets to send, connections to close, and
//! events for the tap. It never reads a clock, sleeps or touches a socket; the server edge
//! ([`crate::mqtt::server`]) owns those, asks [`Core::poll_at`] when a connection's keep-alive
//! runs out, and calls [`Core::handle_timeout`] then. Tests drive it with chosen times.
//!
//! A connection's life: [`Core::open`] after the TLS handshake, then [`Core::handle_packet`]
//! for each packet (the first must be CONNECT), and finally either the core closes it (an
//! [`Action::Close`] is returned and the core has already forgotten it) or the edge reports
//! the end with [`Core::handle_close`]. The Last Will is published on every close but a
//! clean DISCONNECT.

use crate::mqtt::codec::{MAX_PAYLOAD, packet_name};
use crate::mqtt::errors::{CloseReason, Violation};
use crate::mqtt::fault_plan::{FaultPlan, Withhold};
use crate::mqtt::hooks::{AuthAction, ClientIdentity, Decision, Deferred, Hooks, Outcome, Service};
use crate::mqtt::session::{ConnId, Session};
use crate::mqtt::subscriptions::SubscriptionIndex;
use crate::mqtt::tap::{EventKind, MessageInfo, describe_action};
use crate::mqtt::topic;
use bytes::Bytes;
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, LastWill, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
    UnsubAck,
};
use rumqttc::mqttbytes::{Protocol, QoS};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Most filters AWS IoT Core accepts in one SUBSCRIBE.
pub const MAX_FILTERS_PER_SUBSCRIBE: usize = 8;
/// Longest client id AWS IoT Core accepts, in bytes.
pub const MAX_CLIENT_ID: usize = 128;
/// Keep-alive bounds of AWS IoT Core, in seconds; 0 means the maximum.
pub const KEEP_ALIVE_RANGE: (u16, u16) = (30, 1200);

/// Settings of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Multiplies every protocol timer (keep-alive, session expiry, the delay a fault puts
    /// on outgoing packets) and, at the server edge, the hooks' deferred work and the
    /// revocation delay: 0.001 makes a 30 s keep-alive expire after 45 ms. 1.0 is real
    /// time. A rig running `speed` times faster than real time sets `1 / speed`.
    pub time_scale: f64,
    /// How long a persistent session outlives its connection (AWS: one hour), before
    /// scaling.
    pub session_expiry: Duration,
    /// Wall-clock time, in Unix milliseconds, at `now` = 0: event timestamps are this plus
    /// `now`. The server edge sets it at start; tests pick it.
    pub epoch_ms_at_start: u64,
    /// Publish `$aws/events/presence/connected|disconnected/<clientId>`.
    pub lifecycle_events: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            time_scale: 1.0,
            session_expiry: Duration::from_secs(3600),
            epoch_ms_at_start: 0,
            lifecycle_events: true,
        }
    }
}

/// What the core wants the edge to do, in order.
#[derive(Debug)]
pub enum Action {
    /// Write `packet` to connection `conn`, after `delay` (a fault, already multiplied by
    /// the time scale; normally zero).
    Send {
        /// Connection.
        conn: ConnId,
        /// Packet.
        packet: Packet,
        /// Delay before writing.
        delay: Duration,
    },
    /// Close connection `conn`; the core has already forgotten it.
    Close {
        /// Connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Emit a tap event.
    Tap(EventKind),
    /// Run a hook's work later (after its delay, scaled by the time scale), publishing
    /// the messages it returns.
    Defer(Deferred),
}

#[derive(Debug)]
struct Conn {
    identity: ClientIdentity,
    /// Set by CONNECT; shared, so handling a packet does not copy it.
    client_id: Option<Arc<str>>,
    /// CONNACK sent: the session is live.
    connected: bool,
    /// Keep-alive window, already multiplied by 1.5 and the time scale.
    keep_alive: Duration,
    last_seen: Duration,
    will: Option<LastWill>,
    /// An unstable-connection fault drops the connection then.
    drop_at: Option<Duration>,
}

/// A message held for a topic by a retained publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedMessage {
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// When it was published, in Unix milliseconds (GetRetainedMessage's
    /// `lastModifiedTime`).
    pub modified_ms: u64,
}

/// The broker's protocol state; see the module documentation.
pub struct Core {
    config: CoreConfig,
    hooks: Arc<dyn Hooks>,
    conns: HashMap<ConnId, Conn>,
    sessions: HashMap<String, Session>,
    /// Every session's filters, indexed for routing; kept in step with the sessions by
    /// `insert_session`, `remove_session` and the SUBSCRIBE and UNSUBSCRIBE handlers.
    subscriptions: SubscriptionIndex,
    retained: BTreeMap<String, RetainedMessage>,
    faults: FaultPlan,
    services: Vec<Arc<dyn Service>>,
    presence_versions: HashMap<String, u64>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("conns", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .field("retained", &self.retained.len())
            .finish_non_exhaustive()
    }
}

/// Collects actions; a small helper so handlers read top to bottom.
#[derive(Default)]
struct Out(Vec<Action>);

impl Out {
    fn tap(&mut self, kind: EventKind) {
        self.0.push(Action::Tap(kind));
    }
}

impl Core {
    /// A core with no connections and no state.
    pub fn new(config: CoreConfig, hooks: Arc<dyn Hooks>) -> Self {
        Core {
            config,
            hooks,
            conns: HashMap::new(),
            sessions: HashMap::new(),
            subscriptions: SubscriptionIndex::new(),
            retained: BTreeMap::new(),
            faults: FaultPlan::default(),
            services: Vec::new(),
            presence_versions: HashMap::new(),
        }
    }

    fn epoch_ms(&self, now: Duration) -> u64 {
        self.config
            .epoch_ms_at_start
            .saturating_add(u64::try_from(now.as_millis()).unwrap_or(u64::MAX))
    }

    /// Adds a service that sees every routed message and may answer it (AWS's Device
    /// Shadow service, say); see [`Service`].
    pub fn add_service(&mut self, service: Arc<dyn Service>) {
        self.services.push(service);
    }

    /// Sessions by client id (clean and persistent, connected or not).
    pub fn sessions(&self) -> &HashMap<String, Session> {
        &self.sessions
    }

    /// Sessions and retained messages, for [`crate::mqtt::persist`] to restore; it calls
    /// [`Core::reindex`] when done.
    pub(crate) fn state_mut(
        &mut self,
    ) -> (
        &mut HashMap<String, Session>,
        &mut BTreeMap<String, RetainedMessage>,
    ) {
        (&mut self.sessions, &mut self.retained)
    }

    /// Indexes the subscriptions of every session again, after [`Core::state_mut`] changed
    /// the sessions.
    pub(crate) fn reindex(&mut self) {
        let mut index = SubscriptionIndex::new();
        for (client_id, session) in &self.sessions {
            for (filter, qos) in &session.subscriptions {
                index.insert(client_id, filter, *qos);
            }
        }
        self.subscriptions = index;
    }

    /// Stores `session` for `client_id`, replacing (and unindexing) any session before it.
    fn insert_session(&mut self, client_id: String, session: Session) {
        self.remove_session(&client_id);
        for (filter, qos) in &session.subscriptions {
            self.subscriptions.insert(&client_id, filter, *qos);
        }
        self.sessions.insert(client_id, session);
    }

    /// Forgets the session of `client_id` and its subscriptions.
    fn remove_session(&mut self, client_id: &str) -> Option<Session> {
        let session = self.sessions.remove(client_id)?;
        for filter in session.subscriptions.keys() {
            self.subscriptions.remove(client_id, filter);
        }
        Some(session)
    }

    /// The armed faults, for [`crate::Faults`] to edit.
    pub fn faults_mut(&mut self) -> &mut FaultPlan {
        &mut self.faults
    }

    /// Connections the core knows (open, whether or not CONNECT has arrived).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The live connection of `client_id`, if it is connected.
    pub fn connection_of(&self, client_id: &str) -> Option<ConnId> {
        self.sessions.get(client_id).and_then(|s| s.conn)
    }

    /// Retained messages by topic.
    pub fn retained(&self) -> &BTreeMap<String, RetainedMessage> {
        &self.retained
    }

    /// Registers a connection whose TLS handshake completed.
    pub fn open(&mut self, conn: ConnId, now: Duration, identity: ClientIdentity) {
        self.conns.insert(
            conn,
            Conn {
                identity,
                client_id: None,
                connected: false,
                keep_alive: Duration::MAX,
                last_seen: now,
                will: None,
                drop_at: None,
            },
        );
    }

    /// When `conn` must be looked at again (its keep-alive runs out, or an unstable
    /// connection fault drops it), if ever.
    pub fn poll_at(&self, conn: ConnId) -> Option<Duration> {
        let c = self.conns.get(&conn)?;
        let keep_alive = c.last_seen.checked_add(c.keep_alive);
        match (keep_alive, c.drop_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes `conn` if an unstable-connection fault's moment came (a server-initiated
    /// disconnect) or its keep-alive ran out by `now`.
    pub fn handle_timeout(&mut self, conn: ConnId, now: Duration) -> Vec<Action> {
        let mut out = Out::default();
        let Some(c) = self.conns.get(&conn) else {
            return out.0;
        };
        if c.drop_at.is_some_and(|at| now >= at) {
            self.close(conn, now, CloseReason::ServerInitiatedDisconnect, &mut out);
        } else if c
            .last_seen
            .checked_add(c.keep_alive)
            .is_some_and(|at| now >= at)
        {
            self.close(conn, now, CloseReason::MqttKeepAliveTimeout, &mut out);
        }
        out.0
    }

    /// The edge saw the connection end (peer closed, I/O error, undecodable bytes).
    pub fn handle_close(
        &mut self,
        conn: ConnId,
        now: Duration,
        reason: CloseReason,
    ) -> Vec<Action> {
        let mut out = Out::default();
        self.close(conn, now, reason, &mut out);
        out.0
    }

    /// A packet arrived on `conn` at `now`.
    pub fn handle_packet(&mut self, conn: ConnId, now: Duration, packet: Packet) -> Vec<Action> {
        let mut out = Out::default();
        let Some(c) = self.conns.get_mut(&conn) else {
            return out.0;
        };
        c.last_seen = now;
        let client_id = c.client_id.clone();
        let result = match (client_id, packet) {
            (None, Packet::Connect(connect)) => {
                self.on_connect(conn, now, connect, &mut out);
                Ok(())
            }
            (None, other) => Err(Violation::BeforeConnect(packet_name(&other))),
            (Some(_), Packet::Connect(_)) => Err(Violation::SecondConnect),
            // CONNACK withheld: the client must not talk before it has one.
            (Some(_), packet) if !self.is_connected(conn) => {
                Err(Violation::BeforeConnect(packet_name(&packet)))
            }
            (Some(id), Packet::Publish(publish)) => {
                self.on_publish(conn, &id, now, publish, &mut out)
            }
            (Some(id), Packet::PubAck(ack)) => {
                out.tap(EventKind::PubackIn {
                    conn,
                    client_id: id.to_string(),
                    pkid: ack.pkid,
                });
                if let Some(session) = self.sessions.get_mut(&*id) {
                    session.inflight.remove(&ack.pkid);
                }
                Ok(())
            }
            (Some(id), Packet::Subscribe(sub)) => self.on_subscribe(conn, &id, now, sub, &mut out),
            (Some(id), Packet::Unsubscribe(unsub)) => {
                self.on_unsubscribe(conn, &id, unsub, &mut out)
            }
            (Some(id), Packet::PingReq) => {
                out.tap(EventKind::Pingreq {
                    conn,
                    client_id: id.to_string(),
                });
                if self.faults.withholds(&id, Withhold::Pingresp) {
                    out.tap(withheld(conn, &id, "PINGRESP"));
                } else {
                    self.send(conn, &id, Packet::PingResp, &mut out);
                    out.tap(EventKind::Pingresp {
                        conn,
                        client_id: id.to_string(),
                    });
                }
                Ok(())
            }
            (Some(id), Packet::Disconnect) => {
                out.tap(EventKind::Disconnect {
                    conn,
                    client_id: id.to_string(),
                });
                self.close(conn, now, CloseReason::ClientInitiatedDisconnect, &mut out);
                Ok(())
            }
            (Some(_), Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_)) => {
                Err(Violation::Qos2Unsupported)
            }
            (Some(_), other) => Err(Violation::UnexpectedPacket(packet_name(&other))),
        };
        if let Err(violation) = result {
            self.close(conn, now, violation.into(), &mut out);
        }
        out.0
    }

    fn is_connected(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.connected)
    }

    /// Carries out what a hook asked for (messages now, work later) and hands back its
    /// verdict.
    fn hook_effects<T>(
        &mut self,
        now: Duration,
        outcome: Outcome<T>,
        out: &mut Out,
    ) -> Result<T, String> {
        for message in outcome.publish {
            let actions = self.publish(
                now,
                &message.topic,
                Bytes::from(message.payload),
                QoS::AtLeastOnce,
                false,
            );
            out.0.extend(actions);
        }
        out.0
            .extend(outcome.deferred.into_iter().map(Action::Defer));
        outcome.outcome
    }

    fn authorize(
        &self,
        conn: ConnId,
        identity: &ClientIdentity,
        client_id: &str,
        action: AuthAction<'_>,
        out: &mut Out,
    ) -> Decision {
        let decision = self.hooks.authorize(identity, client_id, action);
        if let Decision::Deny(reason) = &decision {
            out.tap(EventKind::Denied {
                conn,
                client_id: client_id.to_owned(),
                action: describe_action(action),
                reason: reason.clone(),
            });
        }
        decision
    }

    fn send(&self, conn: ConnId, client_id: &str, packet: Packet, out: &mut Out) {
        out.0.push(Action::Send {
            conn,
            packet,
            delay: self.scaled(self.faults.delay_for(client_id)),
        });
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.config.time_scale.max(0.0))
    }
}

fn withheld(conn: ConnId, client_id: &str, packet: &'static str) -> EventKind {
    EventKind::Withheld {
        conn,
        client_id: client_id.to_owned(),
        packet,
    }
}

fn broker_publish(topic: &str, payload: &Bytes, qos: QoS, retain: bool) -> EventKind {
    EventKind::BrokerPublish {
        message: MessageInfo {
            topic: topic.to_owned(),
            payload: payload.clone(),
            qos,
            retain,
            dup: false,
            pkid: 0,
        },
    }
}

fn min_qos(a: QoS, b: QoS) -> QoS {
    if (a as u8) <= (b as u8) { a } else { b }
}

/// Sets the `refused` reason of the PUBLISH tapped at `index` of `out`.
fn mark_refused(out: &mut Out, index: usize, reason: String) {
    if let Some(Action::Tap(EventKind::PublishIn { refused, .. })) = out.0.get_mut(index) {
        *refused = Some(reason);
    }
}

fn message_info(publish: &Publish) -> MessageInfo {
    MessageInfo {
        topic: publish.topic.clone(),
        payload: publish.payload.clone(),
        qos: publish.qos,
        retain: publish.retain,
        dup: publish.dup,
        pkid: publish.pkid,
    }
}

mod connect;
mod lifecycle;
mod publish;
mod subscribe;

#[cfg(test)]
mod tests;
