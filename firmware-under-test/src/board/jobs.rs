//! AWS IoT Jobs: the board takes jobs over the Jobs MQTT API
//! (`$aws/things/<thing>/jobs/...`), applies their document and reports the outcome.
//!
//! **Topics.** The board's one SUBSCRIBE (see `connection.rs`) holds, beside the shadow
//! delta, [`jobs_filters`]: `jobs/notify-next`, `jobs/start-next/+` (the answers to its
//! StartNextPendingJobExecution requests) and `jobs/+/update/+` (the answers to its
//! UpdateJobExecution requests, whatever the job). It publishes on `jobs/start-next` and
//! `jobs/<jobId>/update`, at QoS 1.
//!
//! **Flow.** After every CONNACK, and whenever `notify-next` names an execution while no
//! request is under way, the board publishes `start-next`: the service moves the next
//! pending execution to IN_PROGRESS and answers it with its job document and
//! `versionNumber`. The board applies the document at once and publishes
//! `jobs/<jobId>/update` with the outcome and `expectedVersion` = that version:
//! SUCCEEDED, FAILED (a document it knows but cannot apply, `statusDetails.reason` says
//! why) or REJECTED (an operation it does not know). The service then sends `notify-next`
//! with the next job, if any, and the loop goes on. A job queued while the board was
//! offline is picked up by the `start-next` after reconnecting; one that was IN_PROGRESS
//! when the connection dropped is handed back by `start-next` and applied again (every
//! operation is idempotent).
//!
//! **Job document** (compact JSON as AWS sends it, read with [`crate::json`]):
//! `{"operation":"set_telemetry_period","period_ms":N}` sets the telemetry period to `N`
//! ms, [`MIN_PERIOD_MS`] to [`MAX_PERIOD_MS`], the next telemetry coming `N` ms after the
//! job is applied; the period holds until reset. SUCCEEDED carries
//! `statusDetails.period_ms`.
//!
//! **Requests and answers.** Every request carries a new `clientToken` (`r<n>`); an answer
//! is taken only when it carries the token of the request under way, so a stale answer
//! (redelivered in a resumed session, say) changes nothing. A request whose answer never
//! comes is forgotten at the next CONNACK. Nothing here runs while disconnected: messages
//! come only on a connection, and publishing needs one.

use super::output::{LOG_INFO, LOG_WARN};
use super::{Actions, Board, Payload, Phase, Qos, Topic};
use crate::flaws::Flaw;
use crate::json;
use crate::time::{Duration, Instant};
use core::fmt::Write;

/// Shortest telemetry period a job may set, in ms.
pub const MIN_PERIOD_MS: u64 = 100;
/// Longest telemetry period a job may set, in ms (an hour).
pub const MAX_PERIOD_MS: u64 = 3_600_000;
/// Capacity of a job id (AWS allows 64 characters of `[a-zA-Z0-9_-]`).
pub type JobId = heapless::String<64>;

/// The request whose answer the board waits for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Awaiting {
    /// None.
    #[default]
    Nothing,
    /// `start-next`.
    StartNext,
    /// `<job>/update`, to `status`.
    Update { job: JobId, status: &'static str },
}

/// What the board keeps of the Jobs exchange; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct JobsState {
    /// The `clientToken` number of the last request.
    token: u32,
    awaiting: Awaiting,
}

/// What applying a job document came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Applied: the telemetry period set, in ms.
    Applied { period_ms: u64 },
    /// An operation the board knows, which it could not apply: why.
    Failed(&'static str),
    /// An operation the board does not know (or no document): why.
    Rejected(&'static str),
}

impl Outcome {
    fn status(self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "SUCCEEDED",
            Outcome::Failed(_) => "FAILED",
            Outcome::Rejected(_) => "REJECTED",
        }
    }
}

/// Reads a job document; see the module documentation.
fn outcome(document: Option<&[u8]>) -> Outcome {
    let Some(document) = document else {
        return Outcome::Rejected("no job document");
    };
    match json::member(document, "operation").and_then(json::string) {
        Some("set_telemetry_period") => {
            match json::member(document, "period_ms").and_then(json::unsigned) {
                Some(ms) if (MIN_PERIOD_MS..=MAX_PERIOD_MS).contains(&ms) => {
                    Outcome::Applied { period_ms: ms }
                }
                _ => Outcome::Failed("period_ms must be a whole number from 100 to 3600000"),
            }
        }
        Some(_) => Outcome::Rejected("unknown operation"),
        None => Outcome::Rejected("the job document has no operation"),
    }
}

/// The jobs topics the board subscribes to, for `thing`.
pub fn jobs_filters(thing: &str) -> [Topic; 3] {
    ["notify-next", "start-next/+", "+/update/+"].map(|tail| jobs_topic(thing, tail))
}

fn jobs_topic(thing: &str, tail: &str) -> Topic {
    let mut topic = Topic::new();
    let _ = write!(topic, "$aws/things/{thing}/jobs/{tail}");
    topic
}

impl Board {
    /// A new connection: forgets the request under way and asks for the next job.
    pub(super) fn jobs_connected(&mut self, now: Instant, thing: &str, out: &mut Actions) {
        self.jobs.awaiting = Awaiting::Nothing;
        self.start_next(now, thing, out);
    }

    /// A message on a topic other than the shadow delta: the Jobs service's, or ignored.
    pub(super) fn on_jobs_message(
        &mut self,
        now: Instant,
        thing: &str,
        topic: &str,
        payload: &[u8],
        out: &mut Actions,
    ) {
        let Some(rest) = topic
            .strip_prefix("$aws/things/")
            .and_then(|t| t.strip_prefix(thing))
            .and_then(|t| t.strip_prefix("/jobs/"))
        else {
            return;
        };
        match rest {
            "notify-next" => {
                if json::member(payload, "execution").is_some()
                    && self.jobs.awaiting == Awaiting::Nothing
                {
                    self.start_next(now, thing, out);
                }
            }
            "start-next/accepted" | "start-next/rejected" => {
                if self.jobs.awaiting != Awaiting::StartNext || !self.is_answer(payload) {
                    return;
                }
                self.jobs.awaiting = Awaiting::Nothing;
                if rest.ends_with("accepted") {
                    self.on_next_job(now, thing, payload, out);
                } else {
                    self.log_rejection("start-next", payload);
                }
            }
            _ => {
                let Some((job, accepted)) = rest
                    .strip_suffix("/update/accepted")
                    .map(|job| (job, true))
                    .or_else(|| rest.strip_suffix("/update/rejected").map(|j| (j, false)))
                else {
                    return;
                };
                let Awaiting::Update {
                    job: waited,
                    status,
                } = &self.jobs.awaiting
                else {
                    return;
                };
                if waited.as_str() != job || !self.is_answer(payload) {
                    return;
                }
                let status = *status;
                self.jobs.awaiting = Awaiting::Nothing;
                if accepted {
                    self.log(LOG_INFO, format_args!("jobs: {job} reported {status}"));
                } else {
                    let mut what: heapless::String<96> = heapless::String::new();
                    let _ = write!(what, "{job} update to {status}");
                    self.log_rejection(&what, payload);
                }
            }
        }
    }

    /// Sets the telemetry period; the next telemetry comes a period from `now`.
    fn set_telemetry_period(&mut self, now: Instant, period: Duration) {
        self.config.telemetry_interval = period;
        if let Phase::Connected(s) = &mut self.phase {
            s.next_telemetry = now + period;
        }
    }

    /// Does `payload` carry the token of the request under way?
    fn is_answer(&self, payload: &[u8]) -> bool {
        let mut token: heapless::String<16> = heapless::String::new();
        let _ = write!(token, "r{}", self.jobs.token);
        json::member(payload, "clientToken").and_then(json::string) == Some(token.as_str())
    }

    fn log_rejection(&mut self, what: &str, payload: &[u8]) {
        let code = json::member(payload, "code")
            .and_then(json::string)
            .unwrap_or("no code");
        self.log(LOG_WARN, format_args!("jobs: {what} rejected: {code}"));
    }

    /// Publishes `start-next`.
    fn start_next(&mut self, now: Instant, thing: &str, out: &mut Actions) {
        self.jobs.token = self.jobs.token.wrapping_add(1);
        let mut payload = Payload::new();
        let _ = write!(payload, "{{\"clientToken\":\"r{}\"}}", self.jobs.token);
        let topic = jobs_topic(thing, "start-next");
        if self.publish(now, topic, payload, Qos::AtLeastOnce, out) {
            self.jobs.awaiting = Awaiting::StartNext;
        }
    }

    /// The answer to `start-next`: applies the execution it holds, if any, and reports.
    fn on_next_job(&mut self, now: Instant, thing: &str, payload: &[u8], out: &mut Actions) {
        let Some(execution) = json::member(payload, "execution") else {
            return;
        };
        let Some(job) = json::member(execution, "jobId")
            .and_then(json::string)
            .and_then(|id| JobId::try_from(id).ok())
        else {
            self.log(
                LOG_WARN,
                format_args!("jobs: an execution without a job id"),
            );
            return;
        };
        let version = json::member(execution, "versionNumber").and_then(json::unsigned);
        let outcome = outcome(json::member(execution, "jobDocument"));
        self.log(
            LOG_INFO,
            format_args!("jobs: {job} started, {}", outcome.status()),
        );
        if let Outcome::Applied { period_ms } = outcome {
            self.set_telemetry_period(now, Duration::from_millis(period_ms));
            self.log(
                LOG_INFO,
                format_args!("jobs: telemetry every {period_ms} ms"),
            );
        }
        if self.config.flaws.has(Flaw::JobsNeverComplete) {
            return;
        }
        let mut report = Payload::new();
        let _ = write!(report, "{{\"status\":\"{}\",", outcome.status());
        let _ = match outcome {
            Outcome::Applied { period_ms } => {
                write!(
                    report,
                    "\"statusDetails\":{{\"period_ms\":\"{period_ms}\"}},"
                )
            }
            Outcome::Failed(why) | Outcome::Rejected(why) => {
                write!(report, "\"statusDetails\":{{\"reason\":\"{why}\"}},")
            }
        };
        if let Some(version) = version {
            let _ = write!(report, "\"expectedVersion\":{version},");
        }
        self.jobs.token = self.jobs.token.wrapping_add(1);
        let _ = write!(report, "\"clientToken\":\"r{}\"}}", self.jobs.token);
        let mut tail: heapless::String<80> = heapless::String::new();
        let _ = write!(tail, "{job}/update");
        let topic = jobs_topic(thing, &tail);
        if self.publish(now, topic, report, Qos::AtLeastOnce, out) {
            self.jobs.awaiting = Awaiting::Update {
                job,
                status: outcome.status(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;

    #[test]
    fn documents_are_applied_failed_or_rejected() {
        let read = |text: &str| outcome(Some(text.as_bytes()));
        assert_eq!(
            read(r#"{"operation":"set_telemetry_period","period_ms":5000}"#),
            Outcome::Applied { period_ms: 5000 }
        );
        for ms in ["99", "3600001", "-5", "5000.5", "\"5000\"", "null"] {
            let text = format!(r#"{{"operation":"set_telemetry_period","period_ms":{ms}}}"#);
            assert!(matches!(read(&text), Outcome::Failed(_)), "{text}");
        }
        assert!(matches!(
            read(r#"{"operation":"set_telemetry_period"}"#),
            Outcome::Failed(_)
        ));
        assert_eq!(
            read(r#"{"operation":"reboot"}"#),
            Outcome::Rejected("unknown operation")
        );
        assert!(matches!(read(r#"{"op":"x"}"#), Outcome::Rejected(_)));
        assert!(matches!(read("[1]"), Outcome::Rejected(_)));
        assert!(matches!(outcome(None), Outcome::Rejected(_)));
    }

    #[test]
    fn the_filters_fit_a_topic() {
        let thing = "0123456789abcdef0123456789abcdef01234567";
        let filters = jobs_filters(thing);
        assert_eq!(
            filters[2].as_str(),
            "$aws/things/0123456789abcdef0123456789abcdef01234567/jobs/+/update/+"
        );
        // The longest topic published: a 64-character job id's update.
        let job = "j".repeat(64);
        let topic = jobs_topic(thing, &format!("{job}/update"));
        assert_eq!(topic.len(), 129, "{topic}");
    }
}
