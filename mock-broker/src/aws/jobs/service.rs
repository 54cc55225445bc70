//! The MQTT side of the Jobs service: [`Jobs::handle`] answers a publish on a Jobs
//! request topic, and [`JobService`] plugs [`Jobs`] into the broker as a [`Service`] and
//! keeps them in `<state dir>/jobs.json` across restarts.
//!
//! `handle` reads the payload ([`super::request`]), runs the operation
//! ([`super::device`]) and adds what every answer has: `timestamp` (Unix seconds) and the
//! request's `clientToken`, on `<request topic>/accepted`, or the ErrorResponse on
//! `<request topic>/rejected`; the notifications the change caused follow the answer.
//! Nothing here knows about connections: the broker's core routes the returned messages
//! like any other, so `iot:Receive` decides who gets them. (AWS sends the answers to the
//! requesting client even when it has not subscribed, and to no one else; mock-broker
//! delivers them to the subscribers of the reply topics, as it does the shadow's.)

use super::error::JobsError;
use super::request::Payload;
use super::store::{Jobs, Notification};
use super::topic::{JobsRequest, JobsTopic, parse_topic};
use super::views::seconds;
use crate::mqtt::handle::{BrokerGone, BrokerHandle};
use crate::mqtt::hooks::{BrokerMessage, Service};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// An accepted request: the answer's members, the client token, the notifications.
type Answer = (Map<String, Value>, Option<String>, Vec<Notification>);

/// Name of the jobs file inside the state dir.
pub const JOBS_FILE: &str = "jobs.json";

impl Jobs {
    /// Handles a publish on `topic` (ignored unless it is a Jobs request) at `now` (Unix
    /// ms); returns what the service publishes: `/accepted` or `/rejected`, then the
    /// `notify` and `notify-next` messages of an accepted change.
    pub fn handle(&mut self, topic: &str, payload: &[u8], now: u64) -> Vec<Notification> {
        let Some(JobsTopic { thing, request }) = parse_topic(topic) else {
            return Vec::new();
        };
        match self.answer(thing, request, payload, now) {
            Ok((mut answer, token, notifications)) => {
                answer.insert("timestamp".into(), json!(seconds(now)));
                if let Some(token) = token {
                    answer.insert("clientToken".into(), Value::String(token));
                }
                let mut out = vec![(
                    format!("{topic}/accepted"),
                    Value::Object(answer).to_string(),
                )];
                out.extend(notifications);
                out
            }
            Err(error) => vec![(
                format!("{topic}/rejected"),
                error.document(seconds(now)).to_string(),
            )],
        }
    }

    fn answer(
        &mut self,
        thing: &str,
        request: JobsRequest<'_>,
        payload: &[u8],
        now: u64,
    ) -> Result<Answer, JobsError> {
        let payload = Payload::parse(payload)?;
        let token = payload.client_token.clone();
        let with_token = |error: JobsError| error.with_client_token(token.as_deref());
        let (answer, notifications) = match request {
            JobsRequest::GetPending => (self.get_pending(thing), Vec::new()),
            JobsRequest::StartNext => {
                let request = payload.start_next().map_err(with_token)?;
                self.start_next(thing, &request, now)
            }
            JobsRequest::Describe(job) => {
                let request = payload.describe().map_err(with_token)?;
                let answer = self.describe(thing, job, &request).map_err(with_token)?;
                (answer, Vec::new())
            }
            JobsRequest::Update(job_id) => {
                let request = payload.update().map_err(with_token)?;
                self.update(thing, job_id, &request, now)
                    .map_err(with_token)?
            }
        };
        Ok((answer, token, notifications))
    }
}

/// The Jobs service as a broker [`Service`]: every job and execution, answering requests
/// on `$aws/things/<thing>/jobs/...`. The admin API changes the same [`Jobs`] through
/// [`JobService::lock`].
#[derive(Debug, Default)]
pub struct JobService {
    jobs: Mutex<Jobs>,
    state_dir: Option<PathBuf>,
}

impl JobService {
    /// A service with the jobs saved in `state_dir` (none: empty, kept in memory).
    ///
    /// # Errors
    /// The jobs file exists but cannot be read or does not parse.
    pub fn new(state_dir: Option<&Path>) -> std::io::Result<Self> {
        let jobs = match state_dir {
            Some(dir) => match std::fs::read(dir.join(JOBS_FILE)) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", dir.join(JOBS_FILE).display()),
                    )
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Jobs::default(),
                Err(e) => return Err(e),
            },
            None => Jobs::default(),
        };
        Ok(JobService {
            jobs: Mutex::new(jobs),
            state_dir: state_dir.map(Path::to_owned),
        })
    }

    /// The jobs, locked. The broker calls the service with its own lock held: a change
    /// whose notifications must be published goes through [`JobService::change`], which
    /// takes this lock inside the broker's, never the other way round.
    pub fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `change` on the jobs with the broker behind `broker` locked, then publishes
    /// the notifications it returns there, before anything else can happen: a change made
    /// outside MQTT (the admin API's CreateJob and CancelJob, a harness creating a job in
    /// process) reaches devices in order with the MQTT side's. A refused change publishes
    /// nothing.
    ///
    /// # Errors
    /// [`BrokerGone`] when the broker has shut down; `change` did not run then.
    pub fn change<R, E>(
        &self,
        broker: &BrokerHandle,
        change: impl FnOnce(&mut Jobs) -> Result<(R, Vec<Notification>), E>,
    ) -> Result<Result<R, E>, BrokerGone> {
        broker.publish_with(|| match change(&mut self.lock()) {
            Ok((answer, notifications)) => {
                let messages = notifications
                    .into_iter()
                    .map(|(topic, payload)| BrokerMessage {
                        topic,
                        payload: payload.into_bytes(),
                    })
                    .collect();
                (Ok(answer), messages)
            }
            Err(error) => (Err(error), Vec::new()),
        })
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(&*self.lock()).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!("{JOBS_FILE}.tmp"));
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, dir.join(JOBS_FILE))
    }
}

impl Service for JobService {
    fn wants(&self, topic: &str) -> bool {
        parse_topic(topic).is_some()
    }

    fn on_message(&self, topic: &str, payload: &[u8], now_ms: u64) -> Vec<BrokerMessage> {
        self.lock()
            .handle(topic, payload, now_ms)
            .into_iter()
            .map(|(topic, payload)| BrokerMessage {
                topic,
                payload: payload.into_bytes(),
            })
            .collect()
    }

    fn stop(&self) {
        if let Err(error) = self.save() {
            tracing::error!(%error, "cannot save the jobs");
        }
    }
}
