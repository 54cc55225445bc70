//! Messages on the timeline, and whether one is what an `expect_message` step wants.
//!
//! The embedded broker taps every PUBLISH (`publish_in` from a client, `broker_publish`
//! from the broker itself); an external broker's observer records `observed_publish`.
//! [`message_of`] reads any of them into a [`Message`], except a PUBLISH the broker
//! refused (a policy or an AWS rule); [`MessageFilter`] holds a step's
//! conditions (JSON subset, regular expression, QoS, retain flag) and judges one message.

use crate::timeline::{Entry, What};
use serde_json::Value;

/// A message seen on the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Payload as text (the tap writes non-UTF-8 payloads as `hex:...`).
    pub payload: String,
    /// QoS of the PUBLISH, when the event says.
    pub qos: Option<u8>,
    /// Retain flag of the PUBLISH, when the event says.
    pub retain: Option<bool>,
}

/// The message a timeline entry records, if it records one.
pub fn message_of(entry: &Entry) -> Option<Message> {
    let What::Broker { event } = &entry.what else {
        return None;
    };
    let kind = event.get("event")?.as_str()?;
    if !matches!(kind, "publish_in" | "broker_publish" | "observed_publish") {
        return None;
    }
    if event.get("refused").is_some() {
        // The broker refused it: nobody got it.
        return None;
    }
    message_in(event)
}

/// The message fields of a PUBLISH event (tapped, observed or received by a client).
fn message_in(event: &Value) -> Option<Message> {
    Some(Message {
        topic: event.get("topic")?.as_str()?.to_owned(),
        payload: event.get("payload")?.as_str()?.to_owned(),
        qos: event
            .get("qos")
            .and_then(Value::as_u64)
            .and_then(|q| u8::try_from(q).ok()),
        retain: event.get("retain").and_then(Value::as_bool),
    })
}

/// Whose messages a step looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// What the broker saw published ([`message_of`]).
    Broker,
    /// What the named scenario client received.
    Client(String),
}

impl Source {
    /// The message `entry` records for this source, if any.
    pub fn message(&self, entry: &Entry) -> Option<Message> {
        match self {
            Source::Broker => message_of(entry),
            Source::Client(name) => {
                let What::Client { client, event } = &entry.what else {
                    return None;
                };
                if client != name || event.get("event")?.as_str()? != "received" {
                    return None;
                }
                message_in(event)
            }
        }
    }

    /// "the broker" or "client NAME", for reports.
    pub fn describe(&self) -> String {
        match self {
            Source::Broker => "the broker".into(),
            Source::Client(name) => format!("client {name}"),
        }
    }
}

/// Does `actual` contain every field of `expected` with an equal value?
pub fn json_contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| json_contains(av, v))),
        (Value::Number(a), Value::Number(e)) => a.as_f64() == e.as_f64(),
        (a, e) => a == e,
    }
}

/// The conditions of an `expect_message` step on one message (the topic is checked by
/// the caller). A condition that is `None` accepts anything.
#[derive(Clone, Default)]
pub struct MessageFilter {
    /// The payload is JSON containing these fields.
    pub json: Option<Value>,
    /// The payload matches this expression.
    pub regex: Option<regex::Regex>,
    /// The payload is JSON valid against this schema (named by the string, for reports).
    pub schema: Option<(String, std::sync::Arc<jsonschema::Validator>)>,
    /// The PUBLISH had this QoS.
    pub qos: Option<u8>,
    /// The PUBLISH had this retain flag.
    pub retained: Option<bool>,
}

impl MessageFilter {
    /// The conditions `message` does not meet, in words (empty when it matches), e.g.
    /// `["the retain flag unset"]`: what a failure report says of the last message seen.
    pub fn unmet(&self, message: &Message) -> Vec<String> {
        // Parsed once, and only when a condition needs JSON.
        let parsed: Option<Value> = if self.json.is_some() || self.schema.is_some() {
            serde_json::from_str(&message.payload).ok()
        } else {
            None
        };
        let mut unmet = Vec::new();
        if let Some(expected) = &self.json
            && !parsed
                .as_ref()
                .is_some_and(|actual| json_contains(actual, expected))
        {
            unmet.push(format!("not JSON containing {expected}"));
        }
        if let Some((name, validator)) = &self.schema
            && !parsed
                .as_ref()
                .is_some_and(|actual| validator.is_valid(actual))
        {
            unmet.push(format!("not valid against {name}"));
        }
        if let Some(r) = &self.regex
            && !r.is_match(&message.payload)
        {
            unmet.push(format!("not matching /{}/", r.as_str()));
        }
        if let Some(q) = self.qos
            && message.qos != Some(q)
        {
            unmet.push(match message.qos {
                Some(actual) => format!("QoS {actual}"),
                None => "no QoS known".into(),
            });
        }
        if let Some(r) = self.retained
            && message.retain != Some(r)
        {
            unmet.push(match message.retain {
                Some(true) => "the retain flag set".into(),
                Some(false) => "the retain flag unset".into(),
                None => "no retain flag known".into(),
            });
        }
        unmet
    }

    /// The conditions in words, for a failure report (empty when there are none).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        if let Some(json) = &self.json {
            out.push_str(&format!(" containing {json}"));
        }
        if let Some(r) = &self.regex {
            out.push_str(&format!(" matching /{}/", r.as_str()));
        }
        if let Some((name, _)) = &self.schema {
            out.push_str(&format!(" valid against {name}"));
        }
        if let Some(q) = self.qos {
            out.push_str(&format!(" at QoS {q}"));
        }
        match self.retained {
            Some(true) => out.push_str(" with the retain flag"),
            Some(false) => out.push_str(" without the retain flag"),
            None => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Timeline;
    use serde_json::json;

    fn message(payload: &str, qos: Option<u8>, retain: Option<bool>) -> Message {
        Message {
            topic: "t".into(),
            payload: payload.into(),
            qos,
            retain,
        }
    }

    #[test]
    fn a_refused_publish_is_not_a_message() {
        let timeline = Timeline::new();
        let accepted = json!({"event": "publish_in", "topic": "a/sensors", "payload": "{}", "qos": 0, "retain": false});
        let mut refused = accepted.clone();
        refused["refused"] = json!("not authorized: statement denies a/sensors");
        timeline.record(What::Broker { event: accepted });
        timeline.record(What::Broker { event: refused });
        let messages: Vec<Message> = timeline.entries().iter().filter_map(message_of).collect();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].topic, "a/sensors");
    }

    #[test]
    fn json_subsets() {
        let actual = json!({"Light": 412, "Temp": 21.5, "state": {"toggle": 1, "x": 2}});
        assert!(json_contains(&actual, &json!({"Light": 412})));
        assert!(json_contains(&actual, &json!({"Temp": 21.50})));
        assert!(json_contains(&actual, &json!({"state": {"toggle": 1}})));
        assert!(!json_contains(&actual, &json!({"Light": 413})));
        assert!(!json_contains(&actual, &json!({"missing": 1})));
    }

    #[test]
    fn every_condition_must_hold() {
        let filter = MessageFilter {
            json: Some(json!({"Light": 1})),
            regex: Some(regex::Regex::new("Temp").unwrap()),
            qos: Some(1),
            retained: Some(false),
            schema: None,
        };
        let good = r#"{"Light":1,"Temp":20.00}"#;
        let unmet = |payload, qos, retain| filter.unmet(&message(payload, qos, retain));
        assert!(unmet(good, Some(1), Some(false)).is_empty());
        assert_eq!(unmet(good, Some(0), Some(false)), ["QoS 0"]);
        assert_eq!(unmet(good, Some(1), Some(true)), ["the retain flag set"]);
        assert_eq!(unmet(good, None, Some(false)), ["no QoS known"]);
        assert_eq!(
            unmet(r#"{"Light":1}"#, Some(1), Some(false)),
            ["not matching /Temp/"]
        );
        assert_eq!(
            unmet("not json Temp", Some(1), None),
            [r#"not JSON containing {"Light":1}"#, "no retain flag known"]
        );
        assert!(
            MessageFilter::default()
                .unmet(&message("x", None, None))
                .is_empty()
        );
        assert_eq!(
            filter.describe(),
            r#" containing {"Light":1} matching /Temp/ at QoS 1 without the retain flag"#
        );
    }

    #[test]
    fn a_schema_condition_validates_the_payload() {
        let schema = json!({
            "type": "object",
            "required": ["Light", "Temp"],
            "properties": {"Light": {"type": "integer", "minimum": 0}, "Temp": {"type": "number"}}
        });
        let filter = MessageFilter {
            schema: Some((
                "telemetry.schema.json".into(),
                std::sync::Arc::new(jsonschema::validator_for(&schema).unwrap()),
            )),
            ..MessageFilter::default()
        };
        assert!(
            filter
                .unmet(&message(r#"{"Light":3,"Temp":-4.25}"#, None, None))
                .is_empty()
        );
        assert!(
            !filter
                .unmet(&message(r#"{"Light":-3,"Temp":1}"#, None, None))
                .is_empty()
        );
        assert!(
            !filter
                .unmet(&message(r#"{"Light":3}"#, None, None))
                .is_empty()
        );
        assert!(!filter.unmet(&message("not json", None, None)).is_empty());
        assert_eq!(filter.describe(), " valid against telemetry.schema.json");
    }

    #[test]
    fn messages_are_read_from_every_publish_event() {
        let timeline = Timeline::new();
        for event in [
            json!({"event": "publish_in", "topic": "a", "payload": "1", "qos": 1, "retain": false}),
            json!({"event": "broker_publish", "topic": "b", "payload": "2", "qos": 0, "retain": true}),
            json!({"event": "observed_publish", "topic": "c", "payload": "3"}),
            json!({"event": "publish_out", "topic": "d", "payload": "4"}),
        ] {
            timeline.record(What::Broker { event });
        }
        let seen: Vec<Message> = timeline.entries().iter().filter_map(message_of).collect();
        assert_eq!(
            seen,
            vec![
                Message {
                    topic: "a".into(),
                    payload: "1".into(),
                    qos: Some(1),
                    retain: Some(false)
                },
                Message {
                    topic: "b".into(),
                    payload: "2".into(),
                    qos: Some(0),
                    retain: Some(true)
                },
                Message {
                    topic: "c".into(),
                    payload: "3".into(),
                    qos: None,
                    retain: None
                },
            ]
        );
    }
}
