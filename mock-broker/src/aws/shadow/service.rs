//! The MQTT side of the Device Shadow service: [`Shadows::handle`] answers a publish on a
//! shadow request topic, and [`ShadowService`] plugs [`Shadows`] into the broker as a
//! [`Service`] and keeps them in `<state dir>/shadows.json` across restarts.
//!
//! `handle` goes through [`Shadows::update`], [`Shadows::get`] and [`Shadows::delete`]'s
//! core, as the HTTP API does, and only adds what is MQTT's own: refusals are published on
//! `<request topic>/rejected`, and the client token of a get or delete request comes back
//! in its answer. Nothing here knows about connections: the broker's core routes the
//! returned messages like any other.

use super::error::ShadowError;
use super::request::{lenient_client_token, parse_get};
use super::store::{Notification, Shadows, add_client_token};
use super::topic::{Operation, parse_topic, topic_prefix};
use crate::mqtt::hooks::{BrokerMessage, Service};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Name of the shadow file inside the state dir.
pub const SHADOWS_FILE: &str = "shadows.json";

impl Shadows {
    /// Handles a publish on `topic` (ignored unless it is a shadow request) at `now`
    /// (Unix seconds); returns what the service publishes: `/accepted` or `/rejected` and,
    /// for an accepted update or delete, the notifications [`Shadows::update`] and
    /// [`Shadows::delete`] return.
    pub fn handle(&mut self, topic: &str, payload: &[u8], now: u64) -> Vec<Notification> {
        let Some(request) = parse_topic(topic) else {
            return Vec::new();
        };
        let (thing, shadow) = (request.thing, request.shadow);
        let answer = match request.operation {
            Operation::Update => self
                .update(thing, shadow, payload, now)
                .map(|update| update.notifications),
            Operation::Get => parse_get(payload).and_then(|token| {
                let token = token.as_deref();
                let mut document = self
                    .get(thing, shadow, now)
                    .map_err(|e| e.with_client_token(token))?;
                add_client_token(&mut document, token);
                let prefix = topic_prefix(thing, shadow);
                Ok(vec![(
                    format!("{prefix}/get/accepted"),
                    document.to_string(),
                )])
            }),
            Operation::Delete => {
                let token = lenient_client_token(payload);
                self.delete_with_token(thing, shadow, token.as_deref(), now)
                    .map(|(_, notifications)| notifications)
            }
        };
        answer.unwrap_or_else(|error: ShadowError| {
            let prefix = topic_prefix(thing, shadow);
            let op = request.operation.as_str();
            vec![(
                format!("{prefix}/{op}/rejected"),
                error.document(now).to_string(),
            )]
        })
    }
}

/// The Device Shadow service as a broker [`Service`]: every thing's shadows, answering
/// requests on `$aws/things/<thing>/shadow/...` and `.../shadow/name/<name>/...`.
#[derive(Debug, Default)]
pub struct ShadowService {
    shadows: Mutex<Shadows>,
    state_dir: Option<PathBuf>,
}

impl ShadowService {
    /// A service with the shadows saved in `state_dir` (none: empty, kept in memory).
    ///
    /// # Errors
    /// The shadow file exists but cannot be read or does not parse.
    pub fn new(state_dir: Option<&Path>) -> std::io::Result<Self> {
        let shadows: Shadows = crate::aws::state_file::load(state_dir, SHADOWS_FILE)?;
        Ok(ShadowService {
            shadows: Mutex::new(shadows),
            state_dir: state_dir.map(Path::to_owned),
        })
    }

    /// The shadows, locked (the HTTP API calls [`Shadows`]' operations through this).
    pub fn lock(&self) -> MutexGuard<'_, Shadows> {
        self.shadows.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self) -> std::io::Result<()> {
        crate::aws::state_file::save(self.state_dir.as_deref(), SHADOWS_FILE, &*self.lock())
    }
}

impl Service for ShadowService {
    fn wants(&self, topic: &str) -> bool {
        parse_topic(topic).is_some()
    }

    fn on_message(&self, topic: &str, payload: &[u8], now_ms: u64) -> Vec<BrokerMessage> {
        self.lock()
            .handle(topic, payload, now_ms / 1000)
            .into_iter()
            .map(|(topic, payload)| BrokerMessage {
                topic,
                payload: payload.into_bytes(),
            })
            .collect()
    }

    fn stop(&self) {
        if let Err(error) = self.save() {
            tracing::error!(%error, "cannot save the shadows");
        }
    }
}
