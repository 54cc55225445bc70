//! One client id's MQTT session: subscriptions, QoS 1 messages in flight, and the queue
//! kept for a persistent session while its client is offline.
//!
//! [`Session`] is plain data with a few bookkeeping methods. Routing, acknowledgements and
//! the connection lifecycle are driven by [`crate::mqtt::core::Core`]; nothing here knows about
//! sockets or clocks (times are passed in as `now`).

use crate::mqtt::hooks::ClientIdentity;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::Publish;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Identifies one client connection for the life of a broker.
pub type ConnId = u64;

/// At most this many QoS 1 messages are queued for an offline persistent session; older
/// ones are dropped first.
pub const MAX_QUEUED: usize = 1000;

/// The session state of one client id.
#[derive(Debug)]
pub struct Session {
    /// Clean session flag of the CONNECT that created or resumed it.
    pub clean: bool,
    /// The live connection, if the client is connected.
    pub conn: Option<ConnId>,
    /// Filter to granted QoS.
    pub subscriptions: BTreeMap<String, QoS>,
    /// QoS 1 messages sent and not yet acknowledged, by packet id.
    pub inflight: BTreeMap<u16, Publish>,
    /// QoS 1 messages waiting for the client to come back.
    pub queue: VecDeque<Publish>,
    /// When the client went away (persistent sessions only).
    pub offline_since: Option<Duration>,
    /// The certificate identity of the last connection, for Receive authorization.
    pub identity: Option<ClientIdentity>,
    next_pkid: u16,
}

impl Session {
    /// A fresh, empty session.
    pub fn new(clean: bool) -> Self {
        Session {
            clean,
            conn: None,
            subscriptions: BTreeMap::new(),
            inflight: BTreeMap::new(),
            queue: VecDeque::new(),
            offline_since: None,
            identity: None,
            next_pkid: 0,
        }
    }

    /// The highest QoS granted to a filter that matches `topic`, if any matches.
    pub fn matching_qos(&self, topic: &str) -> Option<QoS> {
        self.subscriptions
            .iter()
            .filter(|(filter, _)| crate::mqtt::topic::matches(filter, topic))
            .map(|(_, qos)| *qos)
            .max_by_key(|qos| *qos as u8)
    }

    /// Allocates a packet id that is not in flight (1..=65535, wrapping).
    pub fn allocate_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
            if !self.inflight.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }

    /// Queues a QoS 1 message for an offline client; returns true when an older message
    /// had to be dropped to make room.
    pub fn enqueue(&mut self, publish: Publish) -> bool {
        let dropped = self.queue.len() >= MAX_QUEUED;
        if dropped {
            self.queue.pop_front();
        }
        self.queue.push_back(publish);
        dropped
    }

    /// Has this offline persistent session outlived `expiry`?
    pub fn expired(&self, now: Duration, expiry: Duration) -> bool {
        match (self.conn, self.offline_since) {
            (None, Some(since)) => now.saturating_sub(since) >= expiry,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkids_skip_zero_and_those_in_flight() {
        let mut session = Session::new(false);
        session.next_pkid = u16::MAX - 1;
        assert_eq!(session.allocate_pkid(), u16::MAX);
        session
            .inflight
            .insert(1, Publish::new("t", QoS::AtLeastOnce, "x"));
        assert_eq!(session.allocate_pkid(), 2);
    }

    #[test]
    fn the_highest_matching_qos_wins() {
        let mut session = Session::new(true);
        session.subscriptions.insert("a/#".into(), QoS::AtMostOnce);
        session.subscriptions.insert("a/b".into(), QoS::AtLeastOnce);
        assert_eq!(session.matching_qos("a/b"), Some(QoS::AtLeastOnce));
        assert_eq!(session.matching_qos("a/c"), Some(QoS::AtMostOnce));
        assert_eq!(session.matching_qos("b"), None);
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let mut session = Session::new(false);
        for i in 0..MAX_QUEUED {
            assert!(!session.enqueue(Publish::new(format!("t/{i}"), QoS::AtLeastOnce, "")));
        }
        assert!(session.enqueue(Publish::new("t/last", QoS::AtLeastOnce, "")));
        assert_eq!(session.queue.len(), MAX_QUEUED);
        assert_eq!(session.queue.front().map(|p| p.topic.as_str()), Some("t/1"));
    }

    #[test]
    fn only_offline_sessions_expire() {
        let mut session = Session::new(false);
        let hour = Duration::from_secs(3600);
        session.offline_since = Some(Duration::from_secs(10));
        assert!(!session.expired(Duration::from_secs(3609), hour));
        assert!(session.expired(Duration::from_secs(3610), hour));
        session.conn = Some(7);
        assert!(!session.expired(Duration::from_secs(99_999), hour));
    }
}
