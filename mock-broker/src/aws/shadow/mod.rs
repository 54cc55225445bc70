//! The classic (unnamed) device shadow service.
//!
//! [`Shadows::handle`] takes a publish to `$aws/things/<thing>/shadow/{update,get,delete}`
//! and returns the messages AWS IoT Core answers with: `/accepted` or `/rejected`, and for
//! updates `/update/documents` and, when desired and reported differ, `/update/delta`. All
//! JSON is compact: Microchip's firmware finds `"toggle":` by text. Versions start at 1 and
//! an update carrying a stale `version` is rejected with 409. Nothing here knows about
//! connections: [`ShadowService`] plugs [`Shadows`] into the broker as a
//! [`Service`], whose replies the core routes like any other message, and keeps them in
//! `<state dir>/shadows.json` across restarts.

use crate::mqtt::hooks::{BrokerMessage, Service};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// A shadow operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `update`.
    Update,
    /// `get`.
    Get,
    /// `delete`.
    Delete,
}

/// Splits a shadow request topic into the thing name and the operation.
pub fn parse_topic(topic: &str) -> Option<(&str, Operation)> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, op) = rest.split_once("/shadow/")?;
    let op = match op {
        "update" => Operation::Update,
        "get" => Operation::Get,
        "delete" => Operation::Delete,
        _ => return None,
    };
    (!thing.is_empty() && !thing.contains('/')).then_some((thing, op))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Document {
    desired: Map<String, Value>,
    reported: Map<String, Value>,
    desired_meta: Map<String, Value>,
    reported_meta: Map<String, Value>,
    version: u64,
}

/// Every thing's shadow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Shadows {
    documents: BTreeMap<String, Document>,
}

/// A message the shadow service publishes.
pub type Reply = (String, String);

fn rejected(
    base: &str,
    op: &str,
    code: u16,
    message: &str,
    token: Option<&Value>,
    now: u64,
) -> Reply {
    let mut body = json!({"code": code, "message": message, "timestamp": now});
    if let Some(token) = token {
        body["clientToken"] = token.clone();
    }
    (format!("{base}/{op}/rejected"), body.to_string())
}

/// Merges `update` into `target`: `null` deletes a key, objects merge recursively. Metadata
/// gets the time of every leaf written.
fn merge(
    target: &mut Map<String, Value>,
    meta: &mut Map<String, Value>,
    update: &Map<String, Value>,
    now: u64,
) {
    for (key, value) in update {
        match value {
            Value::Null => {
                target.remove(key);
                meta.remove(key);
            }
            Value::Object(inner) => {
                let mut sub = match target.remove(key) {
                    Some(Value::Object(existing)) => existing,
                    _ => Map::new(),
                };
                let mut sub_meta = match meta.remove(key) {
                    Some(Value::Object(existing)) => existing,
                    _ => Map::new(),
                };
                merge(&mut sub, &mut sub_meta, inner, now);
                target.insert(key.clone(), Value::Object(sub));
                meta.insert(key.clone(), Value::Object(sub_meta));
            }
            leaf => {
                target.insert(key.clone(), leaf.clone());
                meta.insert(key.clone(), json!({"timestamp": now}));
            }
        }
    }
}

/// Desired minus reported: the keys whose desired value differs from the reported one.
fn delta(desired: &Map<String, Value>, reported: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, want) in desired {
        match (want, reported.get(key)) {
            (Value::Object(w), Some(Value::Object(r))) => {
                let inner = delta(w, r);
                if !inner.is_empty() {
                    out.insert(key.clone(), Value::Object(inner));
                }
            }
            (w, Some(r)) if w == r => {}
            (w, _) => {
                out.insert(key.clone(), w.clone());
            }
        }
    }
    out
}

fn pick_meta(meta: &Map<String, Value>, shape: &Map<String, Value>) -> Map<String, Value> {
    shape
        .iter()
        .filter_map(|(key, value)| {
            let m = meta.get(key)?;
            Some(match (value, m) {
                (Value::Object(v), Value::Object(m)) => {
                    (key.clone(), Value::Object(pick_meta(m, v)))
                }
                _ => (key.clone(), m.clone()),
            })
        })
        .collect()
}

/// `{"desired": .., "reported": ..}`, each only when it is not empty.
fn sections(desired: &Map<String, Value>, reported: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (name, section) in [("desired", desired), ("reported", reported)] {
        if !section.is_empty() {
            out.insert(name.into(), Value::Object(section.clone()));
        }
    }
    Value::Object(out)
}

impl Document {
    fn state(&self) -> Value {
        sections(&self.desired, &self.reported)
    }

    fn metadata(&self) -> Value {
        sections(&self.desired_meta, &self.reported_meta)
    }

    fn snapshot(&self) -> Value {
        json!({"state": self.state(), "metadata": self.metadata(), "version": self.version})
    }
}

impl Shadows {
    /// Handles a publish on `topic` (ignored unless it is a shadow request) at `now`
    /// (Unix seconds); returns the replies to publish.
    pub fn handle(&mut self, topic: &str, payload: &[u8], now: u64) -> Vec<Reply> {
        let Some((thing, op)) = parse_topic(topic) else {
            return Vec::new();
        };
        let base = format!("$aws/things/{thing}/shadow");
        let request: Option<Value> = if payload.is_empty() {
            Some(json!({}))
        } else {
            serde_json::from_slice(payload).ok()
        };
        let op_name = match op {
            Operation::Update => "update",
            Operation::Get => "get",
            Operation::Delete => "delete",
        };
        let Some(request) = request.filter(Value::is_object) else {
            return vec![rejected(&base, op_name, 400, "Invalid JSON", None, now)];
        };
        let token = request.get("clientToken");
        match op {
            Operation::Update => self.update(thing, &base, &request, token, now),
            Operation::Get => match self.documents.get(thing) {
                None => vec![rejected(
                    &base,
                    "get",
                    404,
                    &format!("No shadow exists with name: '{thing}'"),
                    token,
                    now,
                )],
                Some(doc) => {
                    let mut body = doc.snapshot();
                    let d = delta(&doc.desired, &doc.reported);
                    if !d.is_empty() {
                        body["state"]["delta"] = Value::Object(d);
                    }
                    body["timestamp"] = json!(now);
                    if let Some(token) = token {
                        body["clientToken"] = token.clone();
                    }
                    vec![(format!("{base}/get/accepted"), body.to_string())]
                }
            },
            Operation::Delete => match self.documents.remove(thing) {
                None => vec![rejected(
                    &base,
                    "delete",
                    404,
                    &format!("No shadow exists with name: '{thing}'"),
                    token,
                    now,
                )],
                Some(doc) => {
                    let mut body = json!({"version": doc.version, "timestamp": now});
                    if let Some(token) = token {
                        body["clientToken"] = token.clone();
                    }
                    vec![(format!("{base}/delete/accepted"), body.to_string())]
                }
            },
        }
    }

    fn update(
        &mut self,
        thing: &str,
        base: &str,
        request: &Value,
        token: Option<&Value>,
        now: u64,
    ) -> Vec<Reply> {
        let Some(state) = request.get("state").and_then(Value::as_object) else {
            return vec![rejected(
                base,
                "update",
                400,
                "Missing required node: state",
                token,
                now,
            )];
        };
        let section = |name: &str| -> Result<Option<&Map<String, Value>>, ()> {
            match state.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(map)) => Ok(Some(map)),
                Some(_) => Err(()),
            }
        };
        let (Ok(desired), Ok(reported)) = (section("desired"), section("reported")) else {
            return vec![rejected(
                base,
                "update",
                400,
                "State node must be an object",
                token,
                now,
            )];
        };
        let current = self.documents.get(thing);
        if let (Some(asked), Some(doc)) = (request.get("version").and_then(Value::as_u64), current)
            && asked != doc.version
        {
            return vec![rejected(
                base,
                "update",
                409,
                "Version conflict",
                token,
                now,
            )];
        }
        let previous = current.cloned();
        let doc = self.documents.entry(thing.to_owned()).or_default();
        if let Some(desired) = desired {
            merge(&mut doc.desired, &mut doc.desired_meta, desired, now);
        }
        if let Some(reported) = reported {
            merge(&mut doc.reported, &mut doc.reported_meta, reported, now);
        }
        doc.version += 1;

        let mut accepted_meta = Map::new();
        if let Some(desired) = desired {
            accepted_meta.insert(
                "desired".into(),
                Value::Object(pick_meta(&doc.desired_meta, desired)),
            );
        }
        if let Some(reported) = reported {
            accepted_meta.insert(
                "reported".into(),
                Value::Object(pick_meta(&doc.reported_meta, reported)),
            );
        }
        let mut accepted = json!({
            "state": Value::Object(state.clone()),
            "metadata": Value::Object(accepted_meta),
            "version": doc.version,
            "timestamp": now,
        });
        if let Some(token) = token {
            accepted["clientToken"] = token.clone();
        }
        let mut replies = vec![(format!("{base}/update/accepted"), accepted.to_string())];
        let previous = previous.map_or(Value::Null, |p| p.snapshot());
        let documents = json!({"previous": previous, "current": doc.snapshot(), "timestamp": now});
        replies.push((format!("{base}/update/documents"), documents.to_string()));
        let d = delta(&doc.desired, &doc.reported);
        if desired.is_some() && !d.is_empty() {
            let meta = pick_meta(&doc.desired_meta, &d);
            let body = json!({"version": doc.version, "timestamp": now, "state": Value::Object(d), "metadata": Value::Object(meta)});
            replies.push((format!("{base}/update/delta"), body.to_string()));
        }
        replies
    }
}

/// Name of the shadow file inside the state dir.
pub const SHADOWS_FILE: &str = "shadows.json";

/// The Device Shadow service as a broker [`Service`]: every thing's shadows, answering
/// requests on `$aws/things/<thing>/shadow/...`.
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
        let shadows = match state_dir {
            Some(dir) => match std::fs::read(dir.join(SHADOWS_FILE)) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", dir.join(SHADOWS_FILE).display()),
                    )
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Shadows::default(),
                Err(e) => return Err(e),
            },
            None => Shadows::default(),
        };
        Ok(ShadowService {
            shadows: Mutex::new(shadows),
            state_dir: state_dir.map(Path::to_owned),
        })
    }

    /// The shadows, locked.
    pub fn lock(&self) -> MutexGuard<'_, Shadows> {
        self.shadows.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(&*self.lock()).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!("{SHADOWS_FILE}.tmp"));
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, dir.join(SHADOWS_FILE))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(replies: &[Reply]) -> Vec<&str> {
        replies
            .iter()
            .map(|(t, _)| t.rsplit("/shadow/").next().unwrap_or(""))
            .collect()
    }

    fn body(replies: &[Reply], suffix: &str) -> Value {
        let (_, payload) = replies.iter().find(|(t, _)| t.ends_with(suffix)).unwrap();
        serde_json::from_str(payload).unwrap()
    }

    #[test]
    fn topics_parse() {
        assert_eq!(
            parse_topic("$aws/things/abc/shadow/update"),
            Some(("abc", Operation::Update))
        );
        assert_eq!(parse_topic("$aws/things/abc/shadow/update/delta"), None);
        assert_eq!(parse_topic("$aws/things//shadow/get"), None);
        assert_eq!(parse_topic("abc/shadow/get"), None);
    }

    #[test]
    fn a_desired_toggle_produces_a_compact_delta_microchip_can_parse() {
        let mut shadows = Shadows::default();
        let replies = shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"desired":{"toggle":1}}}"#,
            100,
        );
        assert_eq!(
            topics(&replies),
            ["update/accepted", "update/documents", "update/delta"]
        );
        let (_, delta) = &replies[2];
        assert!(delta.contains(r#""state":{"toggle":1}"#), "{delta}");
        assert_eq!(body(&replies, "update/delta")["version"], 1);
    }

    #[test]
    fn the_delta_has_state_before_metadata_like_aws() {
        // Microchip's firmware takes the first `"toggle":` in the delta; metadata has one too.
        let mut shadows = Shadows::default();
        let replies = shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"desired":{"toggle":1}}}"#,
            100,
        );
        let (_, delta) = &replies[2];
        assert!(
            delta.starts_with(r#"{"version":1,"timestamp":100,"state":{"toggle":1},"metadata":"#),
            "{delta}"
        );
    }

    #[test]
    fn a_matching_report_clears_the_delta() {
        let mut shadows = Shadows::default();
        shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"desired":{"toggle":1}}}"#,
            100,
        );
        let replies = shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"reported":{"toggle":1}}}"#,
            101,
        );
        assert_eq!(topics(&replies), ["update/accepted", "update/documents"]);
        let get = shadows.handle("$aws/things/dev/shadow/get", b"", 102);
        let doc = body(&get, "get/accepted");
        assert_eq!(doc["state"]["reported"]["toggle"], 1);
        assert!(doc["state"].get("delta").is_none());
        assert_eq!(doc["version"], 2);
    }

    #[test]
    fn a_stale_version_is_rejected() {
        let mut shadows = Shadows::default();
        shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"desired":{"a":1}}}"#,
            1,
        );
        let replies = shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"desired":{"a":2}},"version":7,"clientToken":"t1"}"#,
            2,
        );
        let rejected = body(&replies, "update/rejected");
        assert_eq!(rejected["code"], 409);
        assert_eq!(rejected["clientToken"], "t1");
        let ok = shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"desired":{"a":2}},"version":1}"#,
            3,
        );
        assert_eq!(body(&ok, "update/accepted")["version"], 2);
    }

    #[test]
    fn null_deletes_and_documents_show_previous_and_current() {
        let mut shadows = Shadows::default();
        shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"reported":{"a":1,"b":{"c":2}}}}"#,
            1,
        );
        let replies = shadows.handle(
            "$aws/things/dev/shadow/update",
            br#"{"state":{"reported":{"a":null}}}"#,
            2,
        );
        let documents = body(&replies, "update/documents");
        assert_eq!(documents["previous"]["state"]["reported"]["a"], 1);
        assert!(documents["current"]["state"]["reported"].get("a").is_none());
        assert_eq!(documents["current"]["state"]["reported"]["b"]["c"], 2);
        assert_eq!(
            documents["current"]["metadata"]["reported"]["b"]["c"]["timestamp"],
            1
        );
    }

    #[test]
    fn bad_requests_are_rejected() {
        let mut shadows = Shadows::default();
        assert_eq!(
            body(
                &shadows.handle("$aws/things/d/shadow/update", b"{oops", 1),
                "update/rejected"
            )["code"],
            400
        );
        assert_eq!(
            body(
                &shadows.handle("$aws/things/d/shadow/update", b"{}", 1),
                "update/rejected"
            )["code"],
            400
        );
        assert_eq!(
            body(
                &shadows.handle("$aws/things/d/shadow/get", b"", 1),
                "get/rejected"
            )["code"],
            404
        );
        assert_eq!(
            body(
                &shadows.handle("$aws/things/d/shadow/delete", b"", 1),
                "delete/rejected"
            )["code"],
            404
        );
        assert!(shadows.handle("d/sensors", b"{}", 1).is_empty());
    }

    #[test]
    fn delete_removes_the_shadow() {
        let mut shadows = Shadows::default();
        shadows.handle(
            "$aws/things/d/shadow/update",
            br#"{"state":{"desired":{"x":1}}}"#,
            1,
        );
        let replies = shadows.handle("$aws/things/d/shadow/delete", b"", 2);
        assert_eq!(body(&replies, "delete/accepted")["version"], 1);
        assert_eq!(
            body(
                &shadows.handle("$aws/things/d/shadow/get", b"", 3),
                "get/rejected"
            )["code"],
            404
        );
    }
}
