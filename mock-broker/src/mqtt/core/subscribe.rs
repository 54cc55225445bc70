//! SUBSCRIBE and UNSUBSCRIBE: filter checks, authorization, SUBACK and the retained
//! message for exact-match subscriptions.

use super::*;

impl Core {
    pub(super) fn on_subscribe(
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
                self.subscriptions
                    .insert(client_id, &filter.path, filter.qos);
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
        let identity = self.conns.get(&conn).map(|c| c.identity.clone());
        for filter in sub.filters.iter().filter(|f| topic::is_exact(&f.path)) {
            if let Some(retained) = self.retained.get(&filter.path) {
                // A retained message is a delivery like any other: iot:Receive decides.
                if let Some(identity) = &identity
                    && let Decision::Deny(reason) =
                        self.hooks
                            .authorize(identity, client_id, AuthAction::Receive(&filter.path))
                {
                    let mut message = Publish::from_bytes(
                        filter.path.clone(),
                        retained.qos,
                        retained.payload.clone(),
                    );
                    message.retain = true;
                    out.tap(EventKind::DeliveryDropped {
                        conn: Some(conn),
                        client_id: client_id.to_owned(),
                        message: message_info(&message),
                        reason,
                    });
                    continue;
                }
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

    pub(super) fn on_unsubscribe(
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
                if session.subscriptions.remove(filter).is_some() {
                    self.subscriptions.remove(client_id, filter);
                }
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
}
