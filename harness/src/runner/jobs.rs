//! The `job` and `expect_job` steps, on the embedded broker's AWS IoT Jobs service.
//!
//! `job` creates the job in process, as the admin API's CreateJob does: through
//! [`mock_broker::aws::jobs::JobService::change`], so its `notify` and `notify-next`
//! messages go out under the broker's lock, in order with the device's requests.
//! `expect_job` reads the execution as DescribeJobExecution does, each time the timeline
//! moves (the device's updates are publishes, so they are on it), until it has the status
//! wanted, reaches another terminal one, or the deadline passes. Its evidence, pass or
//! fail, is [`job_history`]: what the timeline shows of the execution. Times are board time.

use super::message::message_of;
use super::world::{Mismatch, World, mismatch};
use crate::scenario::{ExpectJobStep, JobStep, Scenario};
use crate::timeline::{Entry, What};
use mock_broker::aws::jobs::{Execution, ExecutionStatus, NewJob};
use serde_json::Value;
use std::time::Duration;

fn secs(at: Duration) -> String {
    format!("{:.2} s", at.as_secs_f64())
}

/// What the timeline shows of `thing`'s execution of job `id`, in order: its creation by
/// a `job` step, its start (the `start-next` answer that handed it over), each update the
/// device asked for, and the answer to each; with their board times.
pub fn job_history(entries: &[Entry], thing: &str, id: &str) -> Vec<String> {
    let jobs = format!("$aws/things/{thing}/jobs/");
    let created = format!("job {id} created");
    let update = format!("{id}/update");
    let mut history = Vec::new();
    for entry in entries {
        let at = secs(entry.at);
        if let What::Action { text } = &entry.what
            && text.starts_with(&created)
        {
            history.push(format!("queued at {at}"));
            continue;
        }
        let Some(message) = message_of(entry) else {
            continue;
        };
        let Some(tail) = message.topic.strip_prefix(&jobs) else {
            continue;
        };
        let payload: Value = serde_json::from_str(&message.payload).unwrap_or(Value::Null);
        if tail == "start-next/accepted" && payload["execution"]["jobId"] == id {
            let version = &payload["execution"]["versionNumber"];
            history.push(format!("started by start-next at {at} (version {version})"));
        } else if tail == update {
            let status = payload["status"].as_str().unwrap_or("?");
            let version = match &payload["expectedVersion"] {
                Value::Null => String::new(),
                version => format!(", expectedVersion {version}"),
            };
            history.push(format!("update to {status} sent at {at}{version}"));
        } else if tail == format!("{update}/accepted") {
            history.push(format!("accepted at {at}"));
        } else if tail == format!("{update}/rejected") {
            let code = payload["code"].as_str().unwrap_or("?");
            history.push(format!("rejected ({code}) at {at}"));
        }
    }
    history
}

/// An execution in words: `SUCCEEDED, version 3, statusDetails {"period_ms":"5000"}`.
fn describe(execution: &Execution) -> String {
    let mut text = format!(
        "{}, version {}",
        execution.status.as_str(),
        execution.version_number
    );
    if !execution.status_details.is_empty() {
        let details = serde_json::to_string(&execution.status_details).unwrap_or_default();
        text.push_str(&format!(", statusDetails {details}"));
    }
    text
}

/// Now, in Unix milliseconds (the Jobs service's clock, as the admin API's).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl World {
    pub(super) async fn create_job(&self, s: &JobStep) -> Result<(), Mismatch> {
        let thing = self.provisioned(&s.board)?.thing;
        let id = s.id.get().clone();
        let document = crate::scenario::json_of(&s.document).to_string();
        let expected = format!("job {id} created for {thing}");
        let broker = self.broker.read().await;
        let broker = Self::registry(broker.as_ref(), "create jobs")?;
        let plane = broker.control_plane();
        let (arn, target) = plane
            .read(|reg| {
                reg.thing(&thing)?;
                Ok((reg.arn("job", &id), reg.arn("thing", &thing)))
            })
            .map_err(|e: mock_broker::aws::registry::AwsError| {
                mismatch(expected.clone(), e.to_string())
            })?;
        let job = NewJob {
            id: id.clone(),
            arn,
            targets: vec![target],
            things: vec![thing],
            document: document.clone(),
            description: None,
        };
        // Recorded first: the notifications it causes come after it on the timeline.
        self.timeline.record(What::Action {
            text: format!("job {id} created for {}: {document}", s.board.get()),
        });
        let now = now_ms();
        plane
            .jobs()
            .change(&broker.mock().handle(), |jobs| jobs.create_job(job, now))
            .map_err(|gone| mismatch(expected.clone(), gone.to_string()))?
            .map(drop)
            .map_err(|e| mismatch(expected, e.to_string()))
    }

    /// The execution of job `id` on `thing`, as DescribeJobExecution reads it.
    async fn execution(&self, thing: &str, id: &str) -> Result<Execution, String> {
        let broker = self.broker.read().await;
        let broker = Self::registry(broker.as_ref(), "run jobs").map_err(|m| m.seen)?;
        let jobs = broker.control_plane().jobs().lock();
        jobs.execution(thing, id)
            .cloned()
            .map_err(|e| e.to_string())
    }

    pub(super) async fn expect_job(&self, s: &ExpectJobStep) -> Result<(), Mismatch> {
        let thing = self.provisioned(&s.board)?.thing;
        let id = s.id.get();
        let wanted = ExecutionStatus::parse(s.status.get()).unwrap_or(ExecutionStatus::Succeeded);
        let within = Scenario::checked_duration(&s.within);
        let deadline = self.timeline.instant(self.timeline.now() + within);
        let mut live = self.timeline.subscribe();
        let board = s.board.get();
        let expected = format!(
            "{board}'s execution of job {id} {} within {within:?}",
            wanted.as_str()
        );
        let seen = |state: String| {
            let history = job_history(&self.timeline.entries(), &thing, id);
            if history.is_empty() {
                format!("{state}; nothing of it on the timeline")
            } else {
                format!("{state}; history: {}", history.join(", "))
            }
        };
        loop {
            let execution = self
                .execution(&thing, id)
                .await
                .map_err(|e| mismatch(expected.clone(), e))?;
            if execution.status == wanted {
                self.timeline.record(What::Note {
                    text: format!("expect_job {board} {id}: {}", seen(describe(&execution))),
                    warning: false,
                });
                return Ok(());
            }
            if execution.status.is_terminal() || !Self::next_entry(&mut live, deadline).await {
                return Err(mismatch(expected, seen(describe(&execution))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(ms: u64, what: What) -> Entry {
        Entry {
            seq: ms,
            at: Duration::from_millis(ms),
            wall: Duration::from_millis(ms),
            what,
        }
    }

    fn publish(ms: u64, event: &str, topic: &str, payload: Value) -> Entry {
        let event = json!({"event": event, "topic": format!("$aws/things/t/jobs/{topic}"),
                           "payload": payload.to_string(), "qos": 1, "retain": false});
        entry(ms, What::Broker { event })
    }

    #[test]
    fn the_history_follows_the_execution_and_nothing_else() {
        let entries = [
            entry(
                1000,
                What::Action {
                    text: "job j1 created for dut: {}".into(),
                },
            ),
            publish(
                1010,
                "publish_in",
                "start-next",
                json!({"clientToken": "r1"}),
            ),
            publish(
                1020,
                "broker_publish",
                "start-next/accepted",
                json!({"execution": {"jobId": "j1", "versionNumber": 2}}),
            ),
            publish(
                1030,
                "publish_in",
                "j1/update",
                json!({"status": "SUCCEEDED", "expectedVersion": 2}),
            ),
            publish(1040, "broker_publish", "j1/update/accepted", json!({})),
            // Another job's, and another thing's, are not this one's.
            publish(1050, "publish_in", "j2/update", json!({"status": "FAILED"})),
            publish(
                1060,
                "broker_publish",
                "start-next/accepted",
                json!({"execution": {"jobId": "j2", "versionNumber": 2}}),
            ),
            publish(
                1070,
                "broker_publish",
                "j1/update/rejected",
                json!({"code": "InvalidStateTransition"}),
            ),
        ];
        assert_eq!(
            job_history(&entries, "t", "j1"),
            [
                "queued at 1.00 s",
                "started by start-next at 1.02 s (version 2)",
                "update to SUCCEEDED sent at 1.03 s, expectedVersion 2",
                "accepted at 1.04 s",
                "rejected (InvalidStateTransition) at 1.07 s",
            ]
        );
        assert!(job_history(&entries, "other", "j1").len() == 1);
        assert!(job_history(&entries, "t", "j3").is_empty());
    }
}
