//! The broker's protocol core: connections, sessions, routing, retained messages and the
//! AWS IoT Core rules, as a sans-IO state machine.
//!
//! [`Core`] takes decoded packets with the time they arrived (`now`, a [`Duration`] since
//! the broker started) and returns [`Action`]s: packets to send, connections to close, and
//! events for the tap. It never reads a clock, sleeps or touches a socket; the server edge
//! ([`crate::server`]) owns those, asks [`Core::poll_at`] when a connection's keep-alive
//! runs out, and calls [`Core::handle_timeout`] then. Tests drive it with chosen times.
//!
//! A connection's life: [`Core::open`] after the TLS handshake, then [`Core::handle_packet`]
//! for each packet (the first must be CONNECT), and finally either the core closes it (an
//! [`Action::Close`] is returned and the core has already forgotten it) or the edge reports
//! the end with [`Core::handle_close`]. The Last Will is published on every close but a
//! clean DISCONNECT.

use crate::codec::{MAX_PAYLOAD, packet_name};
use crate::errors::{CloseReason, Violation};
use crate::fault_plan::{FaultPlan, Withhold};
use crate::hooks::{AuthAction, ClientIdentity, Decision, Hooks};
use crate::session::{ConnId, Session};
use crate::tap::{EventKind, MessageInfo, describe_action};
use crate::topic;
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
    /// Multiplies every protocol timer (keep-alive, session expiry): 0.001 makes a 30 s
    /// keep-alive expire after 45 ms. 1.0 is real time.
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
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write `packet` to connection `conn`, after `delay` (a fault; normally zero).
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
}

#[derive(Debug)]
struct Conn {
    identity: ClientIdentity,
    /// Set by CONNECT.
    client_id: Option<String>,
    /// CONNACK sent: the session is live.
    connected: bool,
    /// Keep-alive window, already multiplied by 1.5 and the time scale.
    keep_alive: Duration,
    last_seen: Duration,
    will: Option<LastWill>,
}

/// A message held for a topic by a retained publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedMessage {
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
}

/// The broker's protocol state; see the module documentation.
pub struct Core {
    config: CoreConfig,
    hooks: Arc<dyn Hooks>,
    conns: HashMap<ConnId, Conn>,
    sessions: HashMap<String, Session>,
    retained: BTreeMap<String, RetainedMessage>,
    faults: FaultPlan,
    shadows: crate::shadow::Shadows,
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
            retained: BTreeMap::new(),
            faults: FaultPlan::default(),
            shadows: crate::shadow::Shadows::default(),
            presence_versions: HashMap::new(),
        }
    }

    fn epoch_ms(&self, now: Duration) -> u64 {
        self.config
            .epoch_ms_at_start
            .saturating_add(u64::try_from(now.as_millis()).unwrap_or(u64::MAX))
    }

    /// Publishes an AWS lifecycle event for `client_id`.
    fn presence(
        &mut self,
        now: Duration,
        conn: ConnId,
        client_id: &str,
        certificate_id: &str,
        closed: Option<&CloseReason>,
        out: &mut Out,
    ) {
        if !self.config.lifecycle_events {
            return;
        }
        let version = {
            let counter = self
                .presence_versions
                .entry(client_id.to_owned())
                .or_insert(0);
            *counter += 1;
            *counter
        };
        let mut event = serde_json::json!({
            "clientId": client_id,
            "timestamp": self.epoch_ms(now),
            "eventType": if closed.is_some() { "disconnected" } else { "connected" },
            "sessionIdentifier": format!("00000000-0000-4000-8000-{conn:012x}"),
            "principalIdentifier": certificate_id,
            "versionNumber": version,
        });
        if let Some(reason) = closed {
            event["clientInitiatedDisconnect"] =
                serde_json::json!(matches!(reason, CloseReason::ClientInitiatedDisconnect));
            event["disconnectReason"] = serde_json::json!(reason.aws_disconnect_reason());
        }
        let kind = if closed.is_some() {
            "disconnected"
        } else {
            "connected"
        };
        let topic = format!("$aws/events/presence/{kind}/{client_id}");
        let actions = self.publish(
            now,
            &topic,
            Bytes::from(event.to_string()),
            QoS::AtLeastOnce,
            false,
        );
        out.0.extend(actions);
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
            },
        );
    }

    /// When `conn` must be looked at again (its keep-alive runs out), if ever.
    pub fn poll_at(&self, conn: ConnId) -> Option<Duration> {
        let c = self.conns.get(&conn)?;
        c.last_seen.checked_add(c.keep_alive)
    }

    /// Closes `conn` if its keep-alive ran out by `now`.
    pub fn handle_timeout(&mut self, conn: ConnId, now: Duration) -> Vec<Action> {
        let mut out = Out::default();
        if self.poll_at(conn).is_some_and(|deadline| now >= deadline) {
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
                    client_id: id.clone(),
                    pkid: ack.pkid,
                });
                if let Some(session) = self.sessions.get_mut(&id) {
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
                    client_id: id.clone(),
                });
                if self.faults.withholds(&id, Withhold::Pingresp) {
                    out.tap(withheld(conn, &id, "PINGRESP"));
                } else {
                    self.send(conn, &id, Packet::PingResp, &mut out);
                    out.tap(EventKind::Pingresp {
                        conn,
                        client_id: id,
                    });
                }
                Ok(())
            }
            (Some(id), Packet::Disconnect) => {
                out.tap(EventKind::Disconnect {
                    conn,
                    client_id: id,
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

    fn on_connect(
        &mut self,
        conn: ConnId,
        now: Duration,
        connect: rumqttc::mqttbytes::v4::Connect,
        out: &mut Out,
    ) {
        let Some(identity) = self.conns.get(&conn).map(|c| c.identity.clone()) else {
            return;
        };
        let mut client_id = connect.client_id.clone();
        out.tap(EventKind::Connect {
            conn,
            client_id: client_id.clone(),
            clean_session: connect.clean_session,
            keep_alive: connect.keep_alive,
            will: connect.last_will.as_ref().map(|will| MessageInfo {
                topic: will.topic.clone(),
                payload: will.message.clone(),
                qos: will.qos,
                retain: will.retain,
                dup: false,
                pkid: 0,
            }),
            certificate_id: identity.certificate_id.clone(),
        });

        let refuse = |core: &mut Core, out: &mut Out, code, reason: CloseReason, id: &str| {
            core.send(conn, id, Packet::ConnAck(ConnAck::new(code, false)), out);
            out.tap(EventKind::Connack {
                conn,
                client_id: id.to_owned(),
                code: format!("{code:?}"),
                session_present: false,
            });
            core.close(conn, now, reason, out);
        };

        if connect.protocol != Protocol::V4 {
            let reason = Violation::Malformed("MQTT 5 is not supported on this endpoint".into());
            return refuse(
                self,
                out,
                ConnectReturnCode::RefusedProtocolVersion,
                reason.into(),
                &client_id,
            );
        }
        if client_id.len() > MAX_CLIENT_ID {
            let reason = Violation::ClientIdTooLong(client_id.len());
            return refuse(
                self,
                out,
                ConnectReturnCode::BadClientId,
                reason.into(),
                &client_id,
            );
        }
        if client_id.is_empty() {
            if !connect.clean_session {
                return refuse(
                    self,
                    out,
                    ConnectReturnCode::BadClientId,
                    Violation::EmptyClientId.into(),
                    "",
                );
            }
            client_id = format!("mock-broker-assigned-{conn}");
        }
        if let Some(will) = &connect.last_will {
            let invalid = if will.qos == QoS::ExactlyOnce {
                Some(Violation::WillQos2)
            } else {
                topic::validate_publish_topic(&will.topic).err()
            };
            if let Some(violation) = invalid {
                return self.close(conn, now, violation.into(), out);
            }
        }
        if let Decision::Deny(reason) = self.authorize(
            conn,
            &identity,
            &client_id,
            AuthAction::Connect(&client_id),
            out,
        ) {
            let close = CloseReason::AuthError { detail: reason };
            return refuse(
                self,
                out,
                ConnectReturnCode::NotAuthorized,
                close,
                &client_id,
            );
        }

        let keep_alive = match connect.keep_alive {
            0 => KEEP_ALIVE_RANGE.1,
            asked => asked.clamp(KEEP_ALIVE_RANGE.0, KEEP_ALIVE_RANGE.1),
        };
        let window = self.scaled(Duration::from_secs(u64::from(keep_alive)).mul_f64(1.5));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.client_id = Some(client_id.clone());
            c.keep_alive = window;
            c.will = connect.last_will;
        }

        if self.faults.take_connack(&client_id) {
            out.tap(withheld(conn, &client_id, "CONNACK"));
            return;
        }

        // Takeover: the older connection of this client id is dropped.
        if let Some(old) = self.connection_of(&client_id).filter(|old| *old != conn) {
            self.close(old, now, CloseReason::DuplicateClientid, out);
        }
        let expiry = self.scaled(self.config.session_expiry);
        let resumable = !connect.clean_session
            && self
                .sessions
                .get(&client_id)
                .is_some_and(|s| !s.clean && !s.expired(now, expiry));
        if !resumable {
            self.sessions
                .insert(client_id.clone(), Session::new(connect.clean_session));
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.connected = true;
        }
        let Some(session) = self.sessions.get_mut(&client_id) else {
            return;
        };
        session.conn = Some(conn);
        session.offline_since = None;
        session.identity = Some(identity);

        self.send(
            conn,
            &client_id,
            Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, resumable)),
            out,
        );
        out.tap(EventKind::Connack {
            conn,
            client_id: client_id.clone(),
            code: format!("{:?}", ConnectReturnCode::Success),
            session_present: resumable,
        });
        let certificate_id = self
            .conns
            .get(&conn)
            .map(|c| c.identity.certificate_id.clone())
            .unwrap_or_default();
        self.presence(now, conn, &client_id, &certificate_id, None, out);
        if resumable {
            self.resume(conn, &client_id, out);
        }
    }

    /// Resends unacknowledged QoS 1 messages with DUP, then the queue.
    fn resume(&mut self, conn: ConnId, client_id: &str, out: &mut Out) {
        let Some(session) = self.sessions.get_mut(client_id) else {
            return;
        };
        let mut packets: Vec<Publish> = session
            .inflight
            .values()
            .cloned()
            .map(|mut p| {
                p.dup = true;
                p
            })
            .collect();
        while let Some(mut queued) = session.queue.pop_front() {
            queued.pkid = session.allocate_pkid();
            session.inflight.insert(queued.pkid, queued.clone());
            packets.push(queued);
        }
        for publish in packets {
            self.send_publish(conn, client_id, publish, out);
        }
    }

    fn on_publish(
        &mut self,
        conn: ConnId,
        client_id: &str,
        now: Duration,
        publish: Publish,
        out: &mut Out,
    ) -> Result<(), Violation> {
        let tapped = out.0.len();
        out.tap(EventKind::PublishIn {
            conn,
            client_id: client_id.to_owned(),
            message: message_info(&publish),
            refused: None,
        });
        match self.admit_publish(conn, client_id, &publish, out) {
            Ok(None) => {}
            Ok(Some(detail)) => {
                mark_refused(out, tapped, format!("not authorized: {detail}"));
                self.close(conn, now, CloseReason::AuthError { detail }, out);
                return Ok(());
            }
            Err(violation) => {
                mark_refused(out, tapped, violation.to_string());
                return Err(violation);
            }
        }
        if publish.qos == QoS::AtLeastOnce {
            if self.faults.withholds(client_id, Withhold::Puback) {
                out.tap(withheld(conn, client_id, "PUBACK"));
            } else {
                self.send(
                    conn,
                    client_id,
                    Packet::PubAck(PubAck::new(publish.pkid)),
                    out,
                );
                out.tap(EventKind::PubackOut {
                    conn,
                    client_id: client_id.to_owned(),
                    pkid: publish.pkid,
                });
            }
        }
        if publish.retain {
            if publish.payload.is_empty() {
                self.retained.remove(&publish.topic);
            } else {
                self.retained.insert(
                    publish.topic.clone(),
                    RetainedMessage {
                        payload: publish.payload.clone(),
                        qos: publish.qos,
                    },
                );
            }
        }
        self.route(now, &publish.topic, publish.payload, publish.qos, out);
        Ok(())
    }

    /// AWS IoT Core's rules and the policy for a client's PUBLISH: a violation, or the
    /// reason authorization denied it (`Ok(Some)`), or `Ok(None)` when it may go on.
    fn admit_publish(
        &self,
        conn: ConnId,
        client_id: &str,
        publish: &Publish,
        out: &mut Out,
    ) -> Result<Option<String>, Violation> {
        if publish.qos == QoS::ExactlyOnce {
            return Err(Violation::Qos2Unsupported);
        }
        topic::validate_publish_topic(&publish.topic)?;
        if publish.payload.len() > MAX_PAYLOAD {
            return Err(Violation::PayloadTooLarge(publish.payload.len()));
        }
        if publish.retain && publish.topic.starts_with('$') {
            return Err(Violation::RetainedReservedTopic(publish.topic.clone()));
        }
        let Some(identity) = self.conns.get(&conn).map(|c| c.identity.clone()) else {
            return Ok(None);
        };
        let mut checks = vec![AuthAction::Publish(&publish.topic)];
        if publish.retain {
            checks.push(AuthAction::RetainPublish(&publish.topic));
        }
        for action in checks {
            if let Decision::Deny(detail) = self.authorize(conn, &identity, client_id, action, out)
            {
                return Ok(Some(detail));
            }
        }
        Ok(None)
    }

    /// Publishes a message as the broker itself (lifecycle events, wills, the control
    /// plane): no publish authorization, but Receive is checked per subscriber.
    pub fn publish(
        &mut self,
        now: Duration,
        topic: &str,
        payload: Bytes,
        qos: QoS,
        retain: bool,
    ) -> Vec<Action> {
        let mut out = Out::default();
        out.tap(broker_publish(topic, &payload, qos, retain));
        if retain {
            if payload.is_empty() {
                self.retained.remove(topic);
            } else {
                self.retained.insert(
                    topic.to_owned(),
                    RetainedMessage {
                        payload: payload.clone(),
                        qos,
                    },
                );
            }
        }
        self.route(now, topic, payload, qos, &mut out);
        out.0
    }

    /// Delivers a message to every session subscribed to `topic`.
    fn route(&mut self, now: Duration, topic: &str, payload: Bytes, qos: QoS, out: &mut Out) {
        let mut targets: Vec<(String, QoS)> = self
            .sessions
            .iter()
            .filter_map(|(id, s)| s.matching_qos(topic).map(|granted| (id.clone(), granted)))
            .collect();
        targets.sort_by(|a, b| a.0.cmp(&b.0));
        for (client_id, granted) in targets {
            let qos = min_qos(qos, granted);
            let publish = Publish::from_bytes(topic, qos, payload.clone());
            self.deliver(now, &client_id, publish, out);
        }
        // The shadow service answers requests on $aws/things/<thing>/shadow/... like a
        // subscriber; its replies are routed in turn (they are never requests).
        if topic.starts_with("$aws/things/") {
            let secs = self.epoch_ms(now) / 1000;
            for (reply_topic, reply) in self.shadows.handle(topic, &payload, secs) {
                let reply = Bytes::from(reply);
                out.tap(broker_publish(
                    &reply_topic,
                    &reply,
                    QoS::AtLeastOnce,
                    false,
                ));
                self.route(now, &reply_topic, reply, QoS::AtLeastOnce, out);
            }
        }
    }

    /// Delivers one message to one session: now if connected, later if persistent.
    fn deliver(&mut self, now: Duration, client_id: &str, mut publish: Publish, out: &mut Out) {
        let Some(session) = self.sessions.get(client_id) else {
            return;
        };
        let conn = session.conn;
        if let Some(identity) = session.identity.clone() {
            let action = AuthAction::Receive(&publish.topic);
            if let Decision::Deny(detail) =
                self.authorize(conn.unwrap_or(0), &identity, client_id, action, out)
            {
                if let Some(conn) = conn {
                    self.close(conn, now, CloseReason::AuthError { detail }, out);
                }
                return;
            }
        }
        let Some(session) = self.sessions.get_mut(client_id) else {
            return;
        };
        match conn {
            Some(conn) => {
                if publish.qos == QoS::AtLeastOnce {
                    publish.pkid = session.allocate_pkid();
                    session.inflight.insert(publish.pkid, publish.clone());
                }
                self.send_publish(conn, client_id, publish, out);
            }
            None if !session.clean
                && publish.qos == QoS::AtLeastOnce
                && session.enqueue(publish) =>
            {
                out.tap(EventKind::QueueOverflow {
                    client_id: client_id.to_owned(),
                });
            }
            None => {}
        }
    }

    fn send_publish(&mut self, conn: ConnId, client_id: &str, publish: Publish, out: &mut Out) {
        out.tap(EventKind::PublishOut {
            conn,
            client_id: client_id.to_owned(),
            message: message_info(&publish),
        });
        self.send(conn, client_id, Packet::Publish(publish), out);
    }

    fn on_subscribe(
        &mut self,
        conn: ConnId,
        client_id: &str,
        now: Duration,
        sub: rumqttc::mqttbytes::v4::Subscribe,
        out: &mut Out,
    ) -> Result<(), Violation> {
        out.tap(EventKind::Subscribe {
            conn,
            client_id: client_id.to_owned(),
            pkid: sub.pkid,
            filters: sub
                .filters
                .iter()
                .map(|f| (f.path.clone(), f.qos as u8))
                .collect(),
        });
        if sub.filters.len() > MAX_FILTERS_PER_SUBSCRIBE {
            return Err(Violation::TooManyFilters(sub.filters.len()));
        }
        for filter in &sub.filters {
            topic::validate_filter(&filter.path)?;
            if filter.qos == QoS::ExactlyOnce {
                return Err(Violation::Qos2Unsupported);
            }
        }
        let identity = self.conns.get(&conn).map(|c| c.identity.clone());
        if let Some(identity) = identity {
            for filter in &sub.filters {
                let action = AuthAction::Subscribe(&filter.path);
                if let Decision::Deny(detail) =
                    self.authorize(conn, &identity, client_id, action, out)
                {
                    self.close(conn, now, CloseReason::AuthError { detail }, out);
                    return Ok(());
                }
            }
        }
        if let Some(session) = self.sessions.get_mut(client_id) {
            for filter in &sub.filters {
                session
                    .subscriptions
                    .insert(filter.path.clone(), filter.qos);
            }
        }
        if self.faults.withholds(client_id, Withhold::Suback) {
            out.tap(withheld(conn, client_id, "SUBACK"));
        } else {
            let codes = sub
                .filters
                .iter()
                .map(|f| SubscribeReasonCode::Success(f.qos))
                .collect();
            self.send(
                conn,
                client_id,
                Packet::SubAck(SubAck::new(sub.pkid, codes)),
                out,
            );
            out.tap(EventKind::Suback {
                conn,
                client_id: client_id.to_owned(),
                pkid: sub.pkid,
            });
        }
        // AWS IoT Core: only an exact-match subscription receives the retained message.
        for filter in sub.filters.iter().filter(|f| topic::is_exact(&f.path)) {
            if let Some(retained) = self.retained.get(&filter.path) {
                let mut publish = Publish::from_bytes(
                    filter.path.clone(),
                    min_qos(retained.qos, filter.qos),
                    retained.payload.clone(),
                );
                publish.retain = true;
                if let Some(session) = self.sessions.get_mut(client_id)
                    && publish.qos == QoS::AtLeastOnce
                {
                    publish.pkid = session.allocate_pkid();
                    session.inflight.insert(publish.pkid, publish.clone());
                }
                self.send_publish(conn, client_id, publish, out);
            }
        }
        Ok(())
    }

    fn on_unsubscribe(
        &mut self,
        conn: ConnId,
        client_id: &str,
        unsub: rumqttc::mqttbytes::v4::Unsubscribe,
        out: &mut Out,
    ) -> Result<(), Violation> {
        out.tap(EventKind::Unsubscribe {
            conn,
            client_id: client_id.to_owned(),
            pkid: unsub.pkid,
            filters: unsub.topics.clone(),
        });
        for filter in &unsub.topics {
            topic::validate_filter(filter)?;
        }
        if let Some(session) = self.sessions.get_mut(client_id) {
            for filter in &unsub.topics {
                session.subscriptions.remove(filter);
            }
        }
        self.send(
            conn,
            client_id,
            Packet::UnsubAck(UnsubAck { pkid: unsub.pkid }),
            out,
        );
        Ok(())
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
            delay: self.faults.delay_for(client_id),
        });
    }

    /// Forgets `conn`, publishes its will when the close was abnormal, and detaches or
    /// drops its session.
    fn close(&mut self, conn: ConnId, now: Duration, reason: CloseReason, out: &mut Out) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        out.tap(EventKind::Closed {
            conn,
            client_id: c.client_id.clone(),
            reason: reason.clone(),
        });
        out.0.push(Action::Close {
            conn,
            reason: reason.clone(),
        });
        let Some(client_id) = c.client_id else {
            return;
        };
        if let Some(session) = self.sessions.get_mut(&client_id)
            && session.conn == Some(conn)
        {
            session.conn = None;
            if session.clean {
                self.sessions.remove(&client_id);
            } else {
                session.offline_since = Some(now);
            }
        }
        if c.connected {
            self.presence(
                now,
                conn,
                &client_id,
                &c.identity.certificate_id,
                Some(&reason),
                out,
            );
        }
        if let Some(will) = c.will.filter(|_| c.connected && reason.publishes_will()) {
            out.tap(EventKind::WillPublished {
                client_id,
                topic: will.topic.clone(),
            });
            let actions = self.publish(now, &will.topic, will.message, will.qos, will.retain);
            out.0.extend(actions);
        }
    }

    /// Drops every connection (broker shutdown). Wills are not published.
    pub fn close_all(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Out::default();
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.will = None;
            }
            self.close(conn, now, CloseReason::ServerShutdown, &mut out);
        }
        out.0
    }

    /// Drops the connection of `client_id` now (fault injection); false if not connected.
    pub fn disconnect_client(&mut self, client_id: &str, now: Duration) -> Option<Vec<Action>> {
        let conn = self.connection_of(client_id)?;
        let mut out = Out::default();
        self.close(conn, now, CloseReason::ServerInitiatedDisconnect, &mut out);
        Some(out.0)
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.config.time_scale.max(0.0))
    }

    /// Persistent sessions and retained messages, for saving to the state dir.
    pub(crate) fn snapshot(&self) -> crate::persist::StoredState {
        crate::persist::StoredState::capture(&self.sessions, &self.retained, &self.shadows)
    }

    /// Restores what [`Core::snapshot`] saved; sessions come back offline as of `now`.
    pub(crate) fn restore(&mut self, state: crate::persist::StoredState, now: Duration) {
        state.apply(
            &mut self.sessions,
            &mut self.retained,
            &mut self.shadows,
            now,
        );
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

#[cfg(test)]
mod tests;
