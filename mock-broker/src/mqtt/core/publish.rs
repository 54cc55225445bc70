//! PUBLISH: the AWS IoT Core rules and the policy for a client's message, retained
//! messages, routing to subscribers (with Receive authorization per delivery), queueing for
//! offline persistent sessions, and the services that answer like subscribers.

use super::*;

impl Core {
    pub(super) fn on_publish(
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
                        modified_ms: self.epoch_ms(now),
                    },
                );
            }
        }
        self.route(now, &publish.topic, publish.payload, publish.qos, out);
        Ok(())
    }

    /// AWS IoT Core's rules and the policy for a client's PUBLISH: a violation, or the
    /// reason authorization denied it (`Ok(Some)`), or `Ok(None)` when it may go on.
    pub(super) fn admit_publish(
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
        let Some(identity) = self.conns.get(&conn).map(|c| &c.identity) else {
            return Ok(None);
        };
        let checks = [
            Some(AuthAction::Publish(&publish.topic)),
            publish
                .retain
                .then_some(AuthAction::RetainPublish(&publish.topic)),
        ];
        for action in checks.into_iter().flatten() {
            if let Decision::Deny(detail) = self.authorize(conn, identity, client_id, action, out) {
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
                        modified_ms: self.epoch_ms(now),
                    },
                );
            }
        }
        self.route(now, topic, payload, qos, &mut out);
        out.0
    }

    /// Delivers a message to every session subscribed to `topic`.
    pub(super) fn route(
        &mut self,
        now: Duration,
        topic: &str,
        payload: Bytes,
        qos: QoS,
        out: &mut Out,
    ) {
        // Sorted by client id, each session once at the highest QoS of its matching filters.
        let targets = self.subscriptions.matches(topic);
        for (client_id, granted) in targets {
            let qos = min_qos(qos, granted);
            let publish = Publish::from_bytes(topic, qos, payload.clone());
            self.deliver(&client_id, publish, out);
        }
        // Services (AWS's Device Shadow) answer like subscribers; their replies are routed
        // in turn.
        let services: Vec<Arc<dyn Service>> = self
            .services
            .iter()
            .filter(|service| service.wants(topic))
            .cloned()
            .collect();
        let now_ms = self.epoch_ms(now);
        for service in services {
            for reply in service.on_message(topic, &payload, now_ms) {
                let reply_payload = Bytes::from(reply.payload);
                out.tap(broker_publish(
                    &reply.topic,
                    &reply_payload,
                    QoS::AtLeastOnce,
                    false,
                ));
                self.route(now, &reply.topic, reply_payload, QoS::AtLeastOnce, out);
            }
        }
    }

    /// Delivers one message to one session: now if connected, later if persistent.
    pub(super) fn deliver(&mut self, client_id: &str, mut publish: Publish, out: &mut Out) {
        let Some(session) = self.sessions.get(client_id) else {
            return;
        };
        let conn = session.conn;
        if let Some(identity) = &session.identity {
            // AWS IoT Core checks iot:Receive per message: a denial drops the message
            // silently, and the subscriber stays connected (its SUBACK granted the QoS).
            let action = AuthAction::Receive(&publish.topic);
            if let Decision::Deny(reason) = self.hooks.authorize(identity, client_id, action) {
                out.tap(EventKind::DeliveryDropped {
                    conn,
                    client_id: client_id.to_owned(),
                    message: message_info(&publish),
                    reason,
                });
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

    pub(super) fn send_publish(
        &mut self,
        conn: ConnId,
        client_id: &str,
        publish: Publish,
        out: &mut Out,
    ) {
        out.tap(EventKind::PublishOut {
            conn,
            client_id: client_id.to_owned(),
            message: message_info(&publish),
        });
        self.send(conn, client_id, Packet::Publish(publish), out);
    }
}
