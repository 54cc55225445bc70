//! Which notifications a change publishes: `$aws/things/<thing>/jobs/notify` (the
//! ListNotification, [`Jobs::notify_document`]) and `.../jobs/notify-next` (the
//! NextNotification, [`Jobs::notify_next_document`]).
//!
//! AWS's rules ("Jobs notifications",
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>):
//! `notify` is published when an execution joins or leaves the thing's pending list (it is
//! queued, or reaches a terminal status); `notify-next` when the first execution of that
//! list changes. Neither is published when an execution only moves within the list or
//! changes its details: in AWS's worked example, `job1` going from QUEUED to IN_PROGRESS
//! publishes nothing, and `job3` jumping ahead to IN_PROGRESS publishes `notify-next` but
//! not `notify`. The list holds at most [`MAX_LISTED`] executions, IN_PROGRESS before
//! QUEUED, each in queue order, under `"IN_PROGRESS"` and `"QUEUED"` (a key is left out
//! when it has none: `{"jobs":{}}` for an empty list); the next notification carries the
//! execution with its job document, or only a `timestamp` when nothing is pending.

use super::store::{Jobs, Notification};
use super::topic::jobs_prefix;
use super::views::{execution_data, seconds, summary};
use serde_json::{Map, Value, json};

/// Most executions a ListNotification holds.
pub const MAX_LISTED: usize = 10;

impl Jobs {
    /// The job ids of `thing`'s pending executions, in order.
    pub(crate) fn pending_ids(&self, thing: &str) -> Vec<String> {
        self.pending(thing)
            .into_iter()
            .map(|execution| execution.job_id.clone())
            .collect()
    }

    /// What to publish for `thing` at `now` (Unix ms), its pending list having been
    /// `before`: `notify` when the list's members changed, `notify-next` when its first
    /// one did.
    pub(crate) fn notifications(
        &self,
        thing: &str,
        before: &[String],
        now: u64,
    ) -> Vec<Notification> {
        let after = self.pending_ids(thing);
        let mut sorted_before = before.to_vec();
        let mut sorted_after = after.clone();
        sorted_before.sort();
        sorted_after.sort();
        let prefix = jobs_prefix(thing);
        let mut out = Vec::new();
        if sorted_before != sorted_after {
            out.push((
                format!("{prefix}/notify"),
                self.notify_document(thing, now).to_string(),
            ));
        }
        if before.first() != after.first() {
            out.push((
                format!("{prefix}/notify-next"),
                self.notify_next_document(thing, now).to_string(),
            ));
        }
        out
    }

    /// The ListNotification of `thing` at `now` (Unix ms):
    /// `{"timestamp":..,"jobs":{"IN_PROGRESS":[..],"QUEUED":[..]}}`.
    pub fn notify_document(&self, thing: &str, now: u64) -> Value {
        let mut jobs = Map::new();
        for execution in self.pending(thing).into_iter().take(MAX_LISTED) {
            let key = execution.status.as_str();
            if let Value::Array(list) = jobs.entry(key).or_insert_with(|| Value::Array(Vec::new()))
            {
                list.push(summary(execution));
            }
        }
        json!({"timestamp": seconds(now), "jobs": jobs})
    }

    /// The NextNotification of `thing` at `now` (Unix ms):
    /// `{"timestamp":..,"execution":{..}}`, or `{"timestamp":..}` when nothing is pending.
    pub fn notify_next_document(&self, thing: &str, now: u64) -> Value {
        let mut body = json!({"timestamp": seconds(now)});
        if let (Some(next), Value::Object(map)) = (self.pending(thing).first(), &mut body) {
            let document = self.document(&next.job_id);
            map.insert("execution".into(), execution_data(next, document));
        }
        body
    }
}
