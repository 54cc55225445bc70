//! Tests of the Device Shadow service, driven at chosen `now` values: `delta` (merge, delta
//! and the update notifications), `validation` (every refusal), `lifecycle` (get, delete,
//! versions), `named` (named shadows) and `mqtt` (the MQTT path, the broker service and
//! persistence). The helpers here publish requests and read the answers.

mod delta;
mod lifecycle;
mod mqtt;
mod named;
mod validation;

use super::*;
use serde_json::Value;

/// The thing most tests use.
const THING: &str = "dev";

/// Publishes `payload` on the classic shadow's `op` topic (`update`, `get`, `delete`) of
/// [`THING`] at `now`.
fn publish(shadows: &mut Shadows, op: &str, payload: &str, now: u64) -> Vec<Notification> {
    shadows.handle(
        &format!("$aws/things/{THING}/shadow/{op}"),
        payload.as_bytes(),
        now,
    )
}

/// Publishes an update of [`THING`]'s classic shadow.
fn update(shadows: &mut Shadows, payload: &str, now: u64) -> Vec<Notification> {
    publish(shadows, "update", payload, now)
}

/// The topics of `replies`, after `.../shadow/` (and `name/<n>/`).
fn suffixes(replies: &[Notification]) -> Vec<&str> {
    replies
        .iter()
        .map(|(topic, _)| {
            let rest = topic.split_once("/shadow/").map_or("", |(_, rest)| rest);
            match rest.strip_prefix("name/") {
                Some(named) => named.split_once('/').map_or("", |(_, op)| op),
                None => rest,
            }
        })
        .collect()
}

/// The payload of the reply whose topic ends with `suffix`.
fn payload<'a>(replies: &'a [Notification], suffix: &str) -> &'a str {
    let found = replies.iter().find(|(topic, _)| topic.ends_with(suffix));
    match found {
        Some((_, payload)) => payload,
        None => panic!("no {suffix} in {replies:?}"),
    }
}

/// The payload of the reply whose topic ends with `suffix`, parsed.
fn body(replies: &[Notification], suffix: &str) -> Value {
    serde_json::from_str(payload(replies, suffix)).unwrap()
}

/// The get/accepted document of [`THING`]'s classic shadow at `now`, or the error.
fn get(shadows: &Shadows, now: u64) -> Result<Value, ShadowError> {
    shadows.get(THING, None, now)
}
