//! The end of a connection: the close itself, the Last Will, the session it leaves behind,
//! and AWS's lifecycle events (`$aws/events/presence/...`).

use super::*;

impl Core {
    /// Publishes an AWS lifecycle event for `client_id`.
    pub(super) fn presence(
        &mut self,
        now: Duration,
        conn: ConnId,
        client_id: &str,
        certificate_id: &str,
        closed: Option<&CloseReason>,
        out: &mut Out,
    ) {
        // AWS publishes no lifecycle events for client ids holding a wildcard (they would
        // be topic names with `+` or `#`).
        if !self.config.lifecycle_events || client_id.contains(['+', '#']) {
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

    /// Forgets `conn`, publishes its will when the close was abnormal, and detaches or
    /// drops its session.
    pub(super) fn close(
        &mut self,
        conn: ConnId,
        now: Duration,
        reason: CloseReason,
        out: &mut Out,
    ) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        out.tap(EventKind::Closed {
            conn,
            client_id: c.client_id.as_deref().map(str::to_owned),
            reason: reason.clone(),
        });
        out.0.push(Action::Close {
            conn,
            reason: reason.clone(),
        });
        let Some(client_id) = c.client_id.as_deref().map(str::to_owned) else {
            return;
        };
        if let Some(session) = self.sessions.get_mut(&client_id)
            && session.conn == Some(conn)
        {
            session.conn = None;
            if session.clean {
                self.remove_session(&client_id);
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
            // The Will is the client's publish: AWS IoT Core needs its policy to allow
            // iot:Publish on the topic, and iot:RetainPublish for a retained Will ("Retained
            // message policy examples"). A denial is tapped and nothing is published.
            let mut checks = vec![AuthAction::Publish(&will.topic)];
            if will.retain {
                checks.push(AuthAction::RetainPublish(&will.topic));
            }
            let allowed = checks.into_iter().all(|action| {
                self.authorize(conn, &c.identity, &client_id, action, out) == Decision::Allow
            });
            if allowed {
                out.tap(EventKind::WillPublished {
                    client_id,
                    topic: will.topic.clone(),
                });
                let actions = self.publish(now, &will.topic, will.message, will.qos, will.retain);
                out.0.extend(actions);
            }
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

    /// Ends the stored persistent session of `client_id` now, as its expiry would: the
    /// next CONNECT gets session present 0 and the queued messages are gone (Device
    /// Advisor's MQTT_Expired_Persistent_Session answers the reconnect that way). Only the
    /// session of a client that is offline; returns whether one was ended.
    pub fn expire_session(&mut self, client_id: &str) -> bool {
        match self.sessions.get(client_id) {
            Some(session) if session.conn.is_none() => {
                self.remove_session(client_id);
                true
            }
            _ => false,
        }
    }

    /// Asks [`Hooks::standing`] about every connection of `certificate_id` (of every
    /// connection when `None`) and closes those it no longer allows, as AWS IoT Core closes
    /// the connections of a certificate set INACTIVE or REVOKED (or of its CA): the tap
    /// says why and a connected client gets its lifecycle `disconnected` event
    /// (`AUTH_ERROR`, not client-initiated).
    pub fn revalidate(&mut self, certificate_id: Option<&str>, now: Duration) -> Vec<Action> {
        let mut out = Out::default();
        let mut doomed: Vec<(ConnId, String)> = self
            .conns
            .iter()
            .filter(|(_, c)| certificate_id.is_none_or(|id| c.identity.certificate_id == id))
            .filter_map(|(conn, c)| {
                self.hooks
                    .standing(&c.identity)
                    .err()
                    .map(|reason| (*conn, reason))
            })
            .collect();
        doomed.sort();
        for (conn, detail) in doomed {
            self.close(conn, now, CloseReason::AuthError { detail }, &mut out);
        }
        out.0
    }
}
