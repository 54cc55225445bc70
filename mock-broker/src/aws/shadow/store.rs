//! Every thing's shadows, classic and named, and the service's operations on them:
//! [`Shadows::update`], [`Shadows::get`], [`Shadows::delete`] and [`Shadows::list_named`].
//!
//! This is the clock-free core both data planes call: the HTTP API (UpdateThingShadow,
//! GetThingShadow, DeleteThingShadow, ListNamedShadowsForThing) directly, MQTT through
//! [`Shadows::handle`] (in [`super::service`]), which only adds the `/rejected` replies and
//! the client tokens of get and delete requests. So both paths answer alike and publish the
//! same notifications. Times are Unix seconds passed in as `now`; topics, JSON rules and
//! request validation are the sibling modules'.
//!
//! **Versions.** A shadow's first accepted update makes version 1; each accepted update adds
//! one. Deleting a shadow keeps its version for 48 hours: an update within that time
//! recreates the shadow at the deleted version + 1, a later one starts again at 1 ("If you
//! create a device shadow document that has the same name as one that was deleted within
//! the past 48 hours, the version number of the new device shadow document will follow
//! that of the deleted one", Interacting with shadows,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-data-flow.html>).
//! A request's `version` is checked only against a shadow that exists: an update of a
//! missing (or deleted) shadow is never a 409.
//!
//! **Notifications.** An accepted update publishes `update/accepted` (the same document
//! the HTTP API returns), `update/documents` (`previous` is `null` when the update creates
//! the shadow) and, when desired and reported differ anywhere in the merged document,
//! `update/delta`, whatever the update touched. A delete publishes `delete/accepted`, also
//! for HTTP deletes: AWS publishes it whenever a shadow is deleted (AWS's answer in
//! aws/aws-iot-device-sdk-embedded-C#12: "Anytime a shadow is deleted, a message is sent on
//! the `$aws/things/thingName/shadow/delete/accepted` topic"). Refused requests publish
//! nothing here: over HTTP the error is the response, over MQTT the service publishes it on
//! `/rejected`.

use super::document::{Document, request_metadata};
use super::error::{
    INVALID_SHADOW_NAME, INVALID_THING_NAME, ShadowError, TOO_LARGE, VERSION_CONFLICT,
};
use super::request::{MAX_PAYLOAD, parse_update};
use super::topic::{topic_prefix, valid_shadow_name, valid_thing_name};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// How long a deleted shadow's version is remembered, in seconds (48 hours).
pub const VERSION_MEMORY_SECS: u64 = 48 * 3600;

/// A message the service publishes: `(topic, payload)`, the payload compact JSON.
pub type Notification = (String, String);

/// An accepted update.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The `update/accepted` document: the request's state, its metadata, the new version,
    /// the timestamp and the client token. AWS's UpdateThingShadow returns it as its body.
    pub document: Value,
    /// What to publish, in order: `update/accepted`, `update/documents` and, when there is
    /// a delta, `update/delta`, all under the shadow's topic prefix.
    pub notifications: Vec<Notification>,
}

/// Every thing's shadows: the classic (unnamed) one and the named ones.
///
/// Serializable as it is saved to `shadows.json`; the first format of that file (classic
/// shadows only, under `documents`) still loads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(from = "ShadowsFile")]
pub struct Shadows {
    things: BTreeMap<String, ThingShadows>,
}

/// One thing's shadows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct ThingShadows {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    classic: Option<Entry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    named: BTreeMap<String, Entry>,
}

/// A shadow, or what is left of a deleted one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Live(Box<Document>),
    /// Deleted at `at` (Unix seconds) with this version.
    Deleted {
        version: u64,
        at: u64,
    },
}

/// `shadows.json` as read: the current format, or the first one.
#[derive(Deserialize)]
struct ShadowsFile {
    #[serde(default)]
    things: BTreeMap<String, ThingShadows>,
    /// The first format: classic shadows by thing.
    #[serde(default)]
    documents: BTreeMap<String, Document>,
}

impl From<ShadowsFile> for Shadows {
    fn from(file: ShadowsFile) -> Self {
        let mut things = file.things;
        for (thing, document) in file.documents {
            let shadows = things.entry(thing).or_default();
            shadows
                .classic
                .get_or_insert(Entry::Live(Box::new(document)));
        }
        Shadows { things }
    }
}

fn check_names(thing: &str, shadow: Option<&str>) -> Result<(), ShadowError> {
    if !valid_thing_name(thing) {
        return Err(ShadowError::bad_request(INVALID_THING_NAME));
    }
    if !shadow.is_none_or(valid_shadow_name) {
        return Err(ShadowError::bad_request(INVALID_SHADOW_NAME));
    }
    Ok(())
}

/// Adds `"clientToken": token` at the end of `body`, if there is a token.
pub(crate) fn add_client_token(body: &mut Value, token: Option<&str>) {
    if let (Some(token), Value::Object(map)) = (token, body) {
        map.insert("clientToken".into(), Value::String(token.to_owned()));
    }
}

impl Shadows {
    /// Updates the shadow `shadow` of `thing` (`None`: the classic one), creating it if
    /// needed, with the request document `payload` at `now` (Unix seconds): AWS's
    /// UpdateThingShadow and `.../update`.
    ///
    /// # Errors
    /// The request is refused (see [`ShadowError`]); nothing changed.
    pub fn update(
        &mut self,
        thing: &str,
        shadow: Option<&str>,
        payload: &[u8],
        now: u64,
    ) -> Result<Update, ShadowError> {
        check_names(thing, shadow)?;
        let request = parse_update(payload)?;
        let token = request.client_token.as_deref();
        let (previous, base_version) = match self.entry(thing, shadow) {
            Some(Entry::Live(doc)) => (Some(&**doc), doc.version),
            Some(Entry::Deleted { version, at })
                if now.saturating_sub(*at) < VERSION_MEMORY_SECS =>
            {
                (None, *version)
            }
            _ => (None, 0),
        };
        if let (Some(asked), Some(doc)) = (request.version, previous)
            && asked != doc.version
        {
            return Err(ShadowError::new(409, VERSION_CONFLICT).with_client_token(token));
        }
        let mut current = previous.cloned().unwrap_or_default();
        current.apply(&request.desired, &request.reported, now);
        current.version = base_version.saturating_add(1);
        if current.size() > MAX_PAYLOAD {
            return Err(ShadowError::new(413, TOO_LARGE).with_client_token(token));
        }

        let prefix = topic_prefix(thing, shadow);
        let mut accepted = json!({
            "state": request.state,
            "metadata": request_metadata(&request.state, now),
            "version": current.version,
            "timestamp": now,
        });
        add_client_token(&mut accepted, token);
        let mut documents = json!({
            "previous": previous.map_or(Value::Null, Document::snapshot),
            "current": current.snapshot(),
            "timestamp": now,
        });
        add_client_token(&mut documents, token);
        let mut notifications = vec![
            (format!("{prefix}/update/accepted"), accepted.to_string()),
            (format!("{prefix}/update/documents"), documents.to_string()),
        ];
        let delta = current.delta();
        if !delta.is_empty() {
            // `state` before `metadata`: Microchip's firmware takes the first `"key":` in
            // the text, and the metadata repeats the keys.
            let metadata = current.delta_metadata(&delta);
            let mut body = json!({
                "version": current.version,
                "timestamp": now,
                "state": delta,
                "metadata": metadata,
            });
            add_client_token(&mut body, token);
            notifications.push((format!("{prefix}/update/delta"), body.to_string()));
        }
        self.set(thing, shadow, Entry::Live(Box::new(current)));
        Ok(Update {
            document: accepted,
            notifications,
        })
    }

    /// The shadow `shadow` of `thing` at `now`: the get/accepted document (state with the
    /// delta when desired and reported differ, metadata, version, timestamp), AWS's
    /// GetThingShadow.
    ///
    /// # Errors
    /// 404 when the shadow does not exist; 400 for an invalid name.
    pub fn get(&self, thing: &str, shadow: Option<&str>, now: u64) -> Result<Value, ShadowError> {
        check_names(thing, shadow)?;
        self.live(thing, shadow)
            .map(|doc| doc.get_document(now))
            .ok_or_else(|| ShadowError::not_found(thing, shadow))
    }

    /// Deletes the shadow `shadow` of `thing` at `now`, AWS's DeleteThingShadow: returns
    /// `{"version":..,"timestamp":..}` (the deleted version) and the notification to
    /// publish on `delete/accepted`.
    ///
    /// # Errors
    /// 404 when the shadow does not exist; 400 for an invalid name.
    pub fn delete(
        &mut self,
        thing: &str,
        shadow: Option<&str>,
        now: u64,
    ) -> Result<(Value, Vec<Notification>), ShadowError> {
        self.delete_with_token(thing, shadow, None, now)
    }

    /// [`Shadows::delete`] for a request carrying `token` (MQTT), which the answer and any
    /// error carry.
    pub(crate) fn delete_with_token(
        &mut self,
        thing: &str,
        shadow: Option<&str>,
        token: Option<&str>,
        now: u64,
    ) -> Result<(Value, Vec<Notification>), ShadowError> {
        check_names(thing, shadow)?;
        let version = self
            .live(thing, shadow)
            .map(|doc| doc.version)
            .ok_or_else(|| ShadowError::not_found(thing, shadow).with_client_token(token))?;
        self.set(thing, shadow, Entry::Deleted { version, at: now });
        let mut body = json!({"version": version, "timestamp": now});
        add_client_token(&mut body, token);
        let prefix = topic_prefix(thing, shadow);
        let notification = (format!("{prefix}/delete/accepted"), body.to_string());
        Ok((body, vec![notification]))
    }

    /// The names of `thing`'s named shadows, sorted (ListNamedShadowsForThing). Never the
    /// classic shadow; empty for an unknown thing.
    pub fn list_named(&self, thing: &str) -> Vec<String> {
        self.things
            .get(thing)
            .map(|shadows| {
                shadows
                    .named
                    .iter()
                    .filter(|(_, entry)| matches!(entry, Entry::Live(_)))
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn entry(&self, thing: &str, shadow: Option<&str>) -> Option<&Entry> {
        let shadows = self.things.get(thing)?;
        match shadow {
            None => shadows.classic.as_ref(),
            Some(name) => shadows.named.get(name),
        }
    }

    fn live(&self, thing: &str, shadow: Option<&str>) -> Option<&Document> {
        match self.entry(thing, shadow)? {
            Entry::Live(doc) => Some(doc),
            Entry::Deleted { .. } => None,
        }
    }

    fn set(&mut self, thing: &str, shadow: Option<&str>, entry: Entry) {
        let shadows = self.things.entry(thing.to_owned()).or_default();
        match shadow {
            None => shadows.classic = Some(entry),
            Some(name) => {
                shadows.named.insert(name.to_owned(), entry);
            }
        }
    }
}
