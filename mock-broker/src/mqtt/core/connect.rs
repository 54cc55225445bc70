//! CONNECT: the AWS IoT Core checks on a new connection, authorization, the client-id
//! takeover, and resuming a persistent session.

use super::*;

impl Core {
    pub(super) fn on_connect(
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
            } else if will.retain && will.topic.starts_with('$') {
                Some(Violation::RetainedReservedTopic(will.topic.clone()))
            } else {
                topic::validate_publish_topic(&will.topic).err()
            };
            if let Some(violation) = invalid {
                return self.close(conn, now, violation.into(), out);
            }
        }
        // AWS IoT Core decides at CONNECT whether the certificate may connect (and runs
        // JITR then); a refusal closes without CONNACK.
        let admission = self.hooks.admit(&identity, &client_id);
        if let Err(reason) = self.hook_effects(now, admission, out) {
            // Not connected yet (no session, no lifecycle event), but the close is theirs.
            if let Some(c) = self.conns.get_mut(&conn) {
                c.client_id = Some(Arc::from(client_id.as_str()));
            }
            return self.close(conn, now, CloseReason::AuthError { detail: reason }, out);
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
            c.client_id = Some(Arc::from(client_id.as_str()));
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
            self.insert_session(client_id.clone(), Session::new(connect.clean_session));
        }
        let unstable = self
            .faults
            .take_unstable(&client_id)
            .map(|after| now + self.scaled(after));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.connected = true;
            c.drop_at = unstable;
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
    pub(super) fn resume(&mut self, conn: ConnId, client_id: &str, out: &mut Out) {
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
}
