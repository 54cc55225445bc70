//! What survives a broker restart: retained messages and persistent sessions.
//!
//! [`StoredState`] is the JSON document kept at `<state dir>/broker-state.json`. The core
//! server edge captures it from the core ([`crate::mqtt::core::Core`]) and restores it into
//! a new one; this module reads and writes the file, atomically (a temporary file renamed over the old one). Clean sessions and live
//! connections are not stored: a restart drops every connection, and a persistent session
//! comes back offline, with its subscriptions and queued QoS 1 messages.

use crate::mqtt::core::{Core, RetainedMessage};
use crate::mqtt::errors::StartError;
use crate::mqtt::session::Session;
use bytes::Bytes;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::Publish;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the state file inside the state dir.
pub const STATE_FILE: &str = "broker-state.json";

/// The saved state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StoredState {
    retained: Vec<StoredMessage>,
    sessions: Vec<StoredSession>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredMessage {
    topic: String,
    payload_hex: String,
    qos: u8,
    /// A retained message's publication time, Unix ms (0 for queued messages and files
    /// saved before it was kept).
    #[serde(default, skip_serializing_if = "is_zero")]
    modified_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredSession {
    client_id: String,
    subscriptions: Vec<(String, u8)>,
    /// Unacknowledged and queued QoS 1 messages, oldest first.
    pending: Vec<StoredMessage>,
}

fn qos_from(n: u8) -> QoS {
    if n == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

impl StoredMessage {
    fn new(topic: &str, payload: &Bytes, qos: QoS) -> Self {
        StoredMessage {
            topic: topic.to_owned(),
            payload_hex: hex::encode(payload),
            qos: qos as u8,
            modified_ms: 0,
        }
    }

    fn payload(&self) -> Bytes {
        Bytes::from(hex::decode(&self.payload_hex).unwrap_or_default())
    }
}

impl StoredState {
    /// The persistent sessions and retained messages of `core`.
    pub fn capture(core: &Core) -> Self {
        let (sessions, retained) = (core.sessions(), core.retained());
        let retained = retained
            .iter()
            .map(|(topic, m)| StoredMessage {
                modified_ms: m.modified_ms,
                ..StoredMessage::new(topic, &m.payload, m.qos)
            })
            .collect();
        let mut sessions: Vec<StoredSession> = sessions
            .iter()
            .filter(|(_, s)| !s.clean)
            .map(|(client_id, s)| StoredSession {
                client_id: client_id.clone(),
                subscriptions: s
                    .subscriptions
                    .iter()
                    .map(|(f, q)| (f.clone(), *q as u8))
                    .collect(),
                pending: s
                    .inflight
                    .values()
                    .chain(s.queue.iter())
                    .map(|p| StoredMessage::new(&p.topic, &p.payload, p.qos))
                    .collect(),
            })
            .collect();
        sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        StoredState { retained, sessions }
    }

    /// Puts the saved state into `core`; sessions come back offline as of `now`.
    pub fn apply(self, core: &mut Core, now: Duration) {
        let (sessions, retained) = core.state_mut();
        for m in self.retained {
            retained.insert(
                m.topic.clone(),
                RetainedMessage {
                    payload: m.payload(),
                    qos: qos_from(m.qos),
                    modified_ms: m.modified_ms,
                },
            );
        }
        for stored in self.sessions {
            let mut session = Session::new(false);
            session.offline_since = Some(now);
            for (filter, qos) in stored.subscriptions {
                session.subscriptions.insert(filter, qos_from(qos));
            }
            for m in stored.pending {
                session.enqueue(Publish::from_bytes(
                    m.topic.clone(),
                    qos_from(m.qos),
                    m.payload(),
                ));
            }
            sessions.insert(stored.client_id, session);
        }
        core.reindex();
    }

    /// Reads the state file of `dir`; an absent file is empty state.
    pub fn load(dir: &Path) -> Result<Self, StartError> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| StartError::CorruptState { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoredState::default()),
            Err(source) => Err(StartError::StateDir { path, source }),
        }
    }

    /// Writes the state file of `dir` atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}
