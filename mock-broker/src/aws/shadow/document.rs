//! One stored shadow document and the JSON rules of AWS's Device Shadow service: merging
//! an update into it, the delta, metadata, and the documents the service sends.
//!
//! [`Document`] is plain data: no names, no clock (times come in as `now`, Unix seconds),
//! no validation (that is [`super::request`]'s). The rules, from "Device Shadow service
//! documents" (<https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-document.html>):
//!
//! - **Merge.** `desired` and `reported` merge key by key; a key set to `null` is removed
//!   with its metadata; objects merge recursively; arrays and scalars replace the stored
//!   value whole. An empty object `{}` is stored as an empty object (and merging into an
//!   object never removes it, even when it ends up empty); only the top-level `desired` and
//!   `reported` sections disappear from the documents when they hold no key.
//! - **Delta.** Desired minus reported: every desired key whose value differs from the
//!   reported one, or that is not reported; nested objects hold only their differing keys
//!   (the path down to them is kept); arrays compare and go into the delta whole. Its
//!   metadata is the desired metadata of the same keys.
//! - **Metadata.** Every leaf written gets `{"timestamp": now}`; an array's metadata is an
//!   array with the metadata of each element (AWS's shape), an object's is an object of its
//!   keys' metadata. Metadata does not count towards the size limit.
//! - **Size.** [`Document::size`] is the length of the compact JSON of `desired` plus that
//!   of `reported`, each counted only when it holds a key.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::request::SectionUpdate;

/// One shadow: its two sections, their metadata and its version.
///
/// The field names are those of the first `shadows.json` format, which still loads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Document {
    pub desired: Map<String, Value>,
    pub reported: Map<String, Value>,
    pub desired_meta: Map<String, Value>,
    pub reported_meta: Map<String, Value>,
    pub version: u64,
}

impl Document {
    /// Applies an update of both sections at `now`.
    pub fn apply(&mut self, desired: &SectionUpdate, reported: &SectionUpdate, now: u64) {
        apply_section(&mut self.desired, &mut self.desired_meta, desired, now);
        apply_section(&mut self.reported, &mut self.reported_meta, reported, now);
    }

    /// Desired minus reported; empty when they agree.
    pub fn delta(&self) -> Map<String, Value> {
        delta(&self.desired, &self.reported)
    }

    /// The metadata of `delta`: the desired metadata of the same keys.
    pub fn delta_metadata(&self, delta: &Map<String, Value>) -> Map<String, Value> {
        pick_metadata(&self.desired_meta, delta)
    }

    /// `{"desired": .., "reported": ..}`, each only when it holds a key.
    pub fn state(&self) -> Map<String, Value> {
        sections(&self.desired, &self.reported)
    }

    /// The metadata of [`Document::state`], in the same shape.
    pub fn metadata(&self) -> Map<String, Value> {
        sections(&self.desired_meta, &self.reported_meta)
    }

    /// `{"state": .., "metadata": .., "version": ..}`, as in `update/documents`.
    pub fn snapshot(&self) -> Value {
        json!({"state": self.state(), "metadata": self.metadata(), "version": self.version})
    }

    /// The get/accepted document at `now` (without client token): state with the delta
    /// when there is one, metadata, version and timestamp.
    pub fn get_document(&self, now: u64) -> Value {
        let mut state = self.state();
        let delta = self.delta();
        if !delta.is_empty() {
            state.insert("delta".into(), Value::Object(delta));
        }
        json!({"state": state, "metadata": self.metadata(), "version": self.version, "timestamp": now})
    }

    /// Bytes counted against the 8 KiB limit: the compact JSON of `desired` plus that of
    /// `reported`, each only when it holds a key.
    pub fn size(&self) -> usize {
        [&self.desired, &self.reported]
            .into_iter()
            .filter(|section| !section.is_empty())
            .map(|section| serde_json::to_vec(section).map_or(usize::MAX, |json| json.len()))
            .fold(0, usize::saturating_add)
    }
}

/// The metadata of a request's `state` as `update/accepted` reports it: each section and
/// each key sent, `null`s included, with the time it was written.
pub(crate) fn request_metadata(state: &Value, now: u64) -> Value {
    let Value::Object(state) = state else {
        return json!({});
    };
    let sections = ["desired", "reported"].into_iter().filter_map(|name| {
        let value = state.get(name)?;
        Some((name.to_owned(), written_metadata(value, now)))
    });
    Value::Object(sections.collect())
}

/// The metadata of a value written at `now`: `{"timestamp": now}` for a scalar or `null`,
/// per element for an array, per key for an object.
fn written_metadata(value: &Value, now: u64) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), written_metadata(value, now)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| written_metadata(v, now)).collect())
        }
        _ => json!({"timestamp": now}),
    }
}

fn apply_section(
    target: &mut Map<String, Value>,
    meta: &mut Map<String, Value>,
    update: &SectionUpdate,
    now: u64,
) {
    match update {
        SectionUpdate::Keep => {}
        SectionUpdate::Clear => {
            target.clear();
            meta.clear();
        }
        SectionUpdate::Merge(update) => merge(target, meta, update, now),
    }
}

/// Merges `update` into `target` and its metadata `meta`; see the module documentation.
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
                let (mut sub, mut sub_meta) = match (target.remove(key), meta.remove(key)) {
                    (Some(Value::Object(existing)), Some(Value::Object(existing_meta))) => {
                        (existing, existing_meta)
                    }
                    (Some(Value::Object(existing)), _) => (existing, Map::new()),
                    _ => (Map::new(), Map::new()),
                };
                merge(&mut sub, &mut sub_meta, inner, now);
                target.insert(key.clone(), Value::Object(sub));
                meta.insert(key.clone(), Value::Object(sub_meta));
            }
            leaf => {
                target.insert(key.clone(), leaf.clone());
                meta.insert(key.clone(), written_metadata(leaf, now));
            }
        }
    }
}

/// Desired minus reported; see the module documentation.
fn delta(desired: &Map<String, Value>, reported: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, want) in desired {
        match (want, reported.get(key)) {
            (Value::Object(want), Some(Value::Object(have))) => {
                let inner = delta(want, have);
                if !inner.is_empty() {
                    out.insert(key.clone(), Value::Object(inner));
                }
            }
            (want, Some(have)) if want == have => {}
            (want, _) => {
                out.insert(key.clone(), want.clone());
            }
        }
    }
    out
}

/// The part of `meta` that has the keys of `shape`, recursively through objects.
fn pick_metadata(meta: &Map<String, Value>, shape: &Map<String, Value>) -> Map<String, Value> {
    shape
        .iter()
        .filter_map(|(key, value)| {
            let m = meta.get(key)?;
            Some(match (value, m) {
                (Value::Object(v), Value::Object(m)) => {
                    (key.clone(), Value::Object(pick_metadata(m, v)))
                }
                _ => (key.clone(), m.clone()),
            })
        })
        .collect()
}

/// `{"desired": .., "reported": ..}`, each only when it holds a key.
fn sections(desired: &Map<String, Value>, reported: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, section) in [("desired", desired), ("reported", reported)] {
        if !section.is_empty() {
            out.insert(name.into(), Value::Object(section.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn merged(updates: &[Value]) -> Document {
        let mut doc = Document::default();
        for (now, update) in (1..).zip(updates) {
            let update = SectionUpdate::Merge(object(update.clone()));
            doc.apply(&update, &SectionUpdate::Keep, now);
        }
        doc
    }

    #[test]
    fn merge_is_recursive_for_objects_and_whole_for_arrays() {
        let doc = merged(&[
            json!({"a": {"b": 1, "c": [1, 2, 3]}, "d": "x"}),
            json!({"a": {"c": [4], "e": {}}, "d": null}),
        ]);
        assert_eq!(
            Value::Object(doc.desired.clone()),
            json!({"a": {"b": 1, "c": [4], "e": {}}})
        );
        assert_eq!(
            Value::Object(doc.desired_meta.clone()),
            json!({"a": {"b": {"timestamp": 1}, "c": [{"timestamp": 2}], "e": {}}})
        );
    }

    #[test]
    fn an_object_replaces_a_scalar_and_a_scalar_an_object() {
        let doc = merged(&[
            json!({"a": 1, "b": {"c": 1}}),
            json!({"a": {"x": 2}, "b": 5}),
        ]);
        assert_eq!(
            Value::Object(doc.desired.clone()),
            json!({"a": {"x": 2}, "b": 5})
        );
        assert_eq!(
            Value::Object(doc.desired_meta),
            json!({"a": {"x": {"timestamp": 2}}, "b": {"timestamp": 2}})
        );
    }

    #[test]
    fn size_counts_the_compact_sections_only() {
        let mut doc = merged(&[json!({"a": "xy"})]);
        assert_eq!(doc.size(), r#"{"a":"xy"}"#.len());
        doc.apply(
            &SectionUpdate::Keep,
            &SectionUpdate::Merge(object(json!({"b": [1, 2]}))),
            2,
        );
        assert_eq!(doc.size(), r#"{"a":"xy"}{"b":[1,2]}"#.len());
    }

    #[test]
    fn request_metadata_covers_nulls_and_sections() {
        assert_eq!(
            request_metadata(
                &json!({"desired": {"a": null, "b": [1, {"c": 2}]}, "reported": null}),
                7
            ),
            json!({
                "desired": {"a": {"timestamp": 7}, "b": [{"timestamp": 7}, {"c": {"timestamp": 7}}]},
                "reported": {"timestamp": 7}
            })
        );
        assert_eq!(request_metadata(&Value::Null, 7), json!({}));
    }
}
