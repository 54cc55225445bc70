//! Every string of a step, in one walk: checked for variables when the file loads
//! ([`Scenario::validate`]) and filled in just before the step runs
//! ([`Scenario::step_filled`]).
//!
//! The walk goes over the step's TOML value (`toml::de::DeValue`, whose strings keep their
//! place in the file) rather than over the typed [`Step`], so every field of every step
//! kind is covered, JSON tables at any depth (their keys too) and arrays included, with no
//! per-step code to forget. The one thing it knows of the fields is [`REGEX_FIELDS`]:
//! there a variable's value is escaped, so it matches itself. The syntax of variables is
//! the `variables` module's.

use super::variables::{FillError, fill};
use super::{Scenario, ScenarioError, Step};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The fields whose values are regular expressions, as `(step kind, field)` (a test
/// checks that they are the fields whose documentation says "regular expression").
pub const REGEX_FIELDS: [(&str, &str); 5] = [
    ("command", "reply"),
    ("expect", "regex"),
    ("expect_message", "regex"),
    ("expect_no_message", "regex"),
    ("snapshot", "redact"),
];

/// A string of a step as the walk hands it over.
pub(crate) struct StepString<'a> {
    /// The string's value.
    pub(crate) text: &'a str,
    /// The string's place in the file (quotes included).
    pub(crate) span: Range<usize>,
    /// Whether it is a regular expression (an item of a [`REGEX_FIELDS`] field).
    pub(crate) regex: bool,
}

/// Calls `f` on every string of `step` (one `[[step]]` table, a `parallel` block's steps
/// included), and replaces the string by what `f` returns, if anything.
pub(crate) fn walk_step<E>(
    step: &mut Spanned<DeValue<'_>>,
    f: &mut dyn FnMut(StepString<'_>) -> Result<Option<String>, E>,
) -> Result<(), E> {
    let DeValue::Table(table) = step.get_mut() else {
        return walk_value(step, false, f);
    };
    for (kind, body) in table.iter_mut() {
        match (kind.get_ref().as_ref(), body.get_mut()) {
            ("parallel", DeValue::Array(steps)) => {
                for inner in steps.iter_mut() {
                    walk_step(inner, f)?;
                }
            }
            (kind, DeValue::Table(fields)) => {
                for (field, value) in fields.iter_mut() {
                    let regex = REGEX_FIELDS.contains(&(kind, field.get_ref().as_ref()));
                    walk_value(value, regex, f)?;
                }
            }
            _ => walk_value(body, false, f)?,
        }
    }
    Ok(())
}

fn walk_value<E>(
    value: &mut Spanned<DeValue<'_>>,
    regex: bool,
    f: &mut dyn FnMut(StepString<'_>) -> Result<Option<String>, E>,
) -> Result<(), E> {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(text) => {
            if let Some(new) = f(StepString { text, span, regex })? {
                *text = new.into();
            }
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                walk_value(item, regex, f)?;
            }
        }
        DeValue::Table(table) => {
            let mut walked = DeTable::new();
            for (mut key, mut item) in std::mem::take(table) {
                let found = StepString {
                    text: key.get_ref(),
                    span: key.span(),
                    regex: false,
                };
                if let Some(new) = f(found)? {
                    *key.get_mut() = new.into();
                }
                walk_value(&mut item, false, f)?;
                walked.insert(key, item);
            }
            *table = walked;
        }
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
    Ok(())
}

impl Scenario {
    /// The `[[step]]` tables of the file, as TOML values with their places.
    pub(crate) fn step_values(&self) -> Result<Vec<Spanned<DeValue<'_>>>, ScenarioError> {
        let document = DeTable::parse(&self.text).map_err(|e| {
            ScenarioError::new(&self.path, &self.text, e.span(), e.message(), "here", None)
        })?;
        let steps = document
            .into_inner()
            .remove("step")
            .map(Spanned::into_inner);
        Ok(match steps {
            Some(DeValue::Array(steps)) => steps.iter().cloned().collect(),
            _ => Vec::new(),
        })
    }

    /// Step `index` (from 0) with the variables filled in from `values`: in a regular
    /// expression a value is escaped, so it matches itself. Fails when a variable has no
    /// value yet (say, `{dut.thing}` before `dut` is provisioned).
    pub fn step_filled(
        &self,
        index: usize,
        values: &BTreeMap<String, String>,
    ) -> Result<Step, String> {
        let mut step = self
            .step_values()
            .map_err(|e| e.message().to_owned())?
            .into_iter()
            .nth(index)
            .ok_or_else(|| format!("the scenario has no step {}", index + 1))?;
        walk_step(&mut step, &mut |found: StepString<'_>| {
            let escape: fn(&str) -> String = if found.regex {
                regex::escape
            } else {
                str::to_owned
            };
            match fill(found.text, values, escape) {
                Ok(filled) if filled == found.text => Ok(None),
                Ok(filled) => Ok(Some(filled)),
                Err(FillError::NoValue(name)) => Err(no_value(&name)),
                Err(e) => Err(format!("{e} in {:?}", found.text)),
            }
        })?;
        Step::deserialize(toml::de::ValueDeserializer::from(step)).map_err(|e| e.to_string())
    }
}

/// Why `{name}` has no value yet, and what gives it one.
fn no_value(name: &str) -> String {
    let owner = name.split_once('.').map_or(name, |(owner, _)| owner);
    if owner == "ca" {
        format!("{{{name}}} has no value yet")
    } else {
        format!(
            "{{{name}}} has no value yet: a board's variables are set by its `provision` step, a device client's by its `connect` step"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ExpectMessageStep, PublishStep, SnapshotStep};
    use std::path::Path;

    fn scenario(steps: &str) -> Scenario {
        let text = format!("name = \"x\"\n[clients.console]\n{steps}");
        Scenario::parse(Path::new("/scenarios/t.toml"), &text)
            .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)))
    }

    fn values() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("dut.thing".to_owned(), "0a1b".to_owned()),
            ("dut.certificate_id".to_owned(), "c3r7".to_owned()),
            ("ca.id".to_owned(), "ca+1".to_owned()),
        ])
    }

    #[test]
    fn json_matchers_are_filled_at_any_depth_keys_included() {
        let s = scenario(
            r#"[[step]]
expect_message = { topic = "$aws/events/certificates/registered/{ca.id}", within = "15s", json = { caCertificateId = "{ca.id}", certificateId = "{dut.certificate_id}", deep = { list = ["{dut.thing|upper}", 1], "{dut.thing}" = true } } }
"#,
        );
        let Step::ExpectMessage(ExpectMessageStep { topic, json, .. }) =
            s.step_filled(0, &values()).unwrap()
        else {
            panic!("an expect_message step")
        };
        assert_eq!(topic.get(), "$aws/events/certificates/registered/ca+1");
        assert_eq!(
            serde_json::to_value(json.unwrap()).unwrap(),
            serde_json::json!({
                "caCertificateId": "ca+1",
                "certificateId": "c3r7",
                "deep": { "list": ["0A1B", 1], "0a1b": true }
            })
        );
    }

    #[test]
    fn a_regex_gets_the_value_escaped_and_a_payload_gets_it_as_it_is() {
        let s = scenario(
            r#"[[step]]
expect_message = { topic = "t", within = "1s", regex = '^\{"ca":"{ca.id}"\}$' }
[[step]]
publish = { topic = "{dut.thing}/in", payload = "ca {ca.id}" }
[[step]]
publish = { topic = "a", json = { a = "{ca.id}" } }
[[step]]
snapshot = { name = "s", topic = "t", redact = ['{ca.id}\d', 'x'] }
[[step]]
command = { board = "dut", send = "thing {dut.thing}", reply = "{ca.id}" }
"#,
        );
        let Step::ExpectMessage(expect) = s.step_filled(0, &values()).unwrap() else {
            panic!("expect_message")
        };
        let regex = expect.regex.unwrap();
        assert_eq!(regex.get(), r#"^\{"ca":"ca\+1"\}$"#);
        let compiled = regex::Regex::new(regex.get()).unwrap();
        assert!(compiled.is_match(r#"{"ca":"ca+1"}"#));
        assert!(!compiled.is_match(r#"{"ca":"caa1"}"#));

        let Step::Publish(PublishStep { topic, payload, .. }) =
            s.step_filled(1, &values()).unwrap()
        else {
            panic!("publish")
        };
        assert_eq!(topic.get(), "0a1b/in");
        assert_eq!(payload.as_deref(), Some("ca ca+1"));
        let Step::Publish(PublishStep { json, .. }) = s.step_filled(2, &values()).unwrap() else {
            panic!("publish")
        };
        assert_eq!(json.unwrap()["a"].as_str(), Some("ca+1"));

        let Step::Snapshot(SnapshotStep { redact, .. }) = s.step_filled(3, &values()).unwrap()
        else {
            panic!("snapshot")
        };
        let redact: Vec<&str> = redact.iter().map(|r| r.get().as_str()).collect();
        assert_eq!(redact, [r"ca\+1\d", "x"]);

        let Step::Command(command) = s.step_filled(4, &values()).unwrap() else {
            panic!("command")
        };
        assert_eq!(command.send, "thing 0a1b");
        assert_eq!(command.reply.unwrap().get(), r"ca\+1");
    }

    #[test]
    fn a_parallel_block_is_filled_step_by_step() {
        let s = scenario(
            r#"[[step]]
parallel = [
    { expect_no_message = { topic = "{dut.thing}/x", regex = "{ca.id}", for = "1s" } },
    { subscribe = { client = "console", topic = "{dut.thing|upper}/#" } },
]
"#,
        );
        let Step::Parallel(steps) = s.step_filled(0, &values()).unwrap() else {
            panic!("parallel")
        };
        let Step::ExpectNoMessage(silence) = steps[0].get() else {
            panic!("expect_no_message")
        };
        assert_eq!(silence.topic.get(), "0a1b/x");
        assert_eq!(silence.regex.as_ref().unwrap().get(), r"ca\+1");
        let Step::Subscribe(subscribe) = steps[1].get() else {
            panic!("subscribe")
        };
        assert_eq!(subscribe.topic.get(), "0A1B/#");
    }

    #[test]
    fn a_variable_without_a_value_yet_fails_the_step_with_what_sets_it() {
        let s = scenario("[[step]]\npublish = { topic = \"{dut.thing}/x\", payload = \"\" }\n");
        let error = s.step_filled(0, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            error,
            "{dut.thing} has no value yet: a board's variables are set by its `provision` step, a device client's by its `connect` step"
        );
        assert_eq!(
            s.step_filled(1, &values()).unwrap_err(),
            "the scenario has no step 2"
        );
    }

    #[test]
    fn the_regex_fields_are_the_ones_documented_as_regular_expressions() {
        let schema: serde_json::Value =
            serde_json::from_str(&crate::scenario::json_schema()).unwrap();
        let mut documented = Vec::new();
        for step in schema["$defs"]["Step"]["oneOf"].as_array().unwrap() {
            let (kind, body) = step["properties"]
                .as_object()
                .unwrap()
                .iter()
                .next()
                .unwrap();
            let Some(reference) = body["$ref"].as_str() else {
                continue;
            };
            let name = reference.trim_start_matches("#/$defs/");
            let fields = schema["$defs"][name]["properties"].as_object();
            for (field, spec) in fields.into_iter().flatten() {
                let doc = spec["description"].as_str().unwrap_or_default();
                if doc.to_lowercase().contains("regular expression") {
                    documented.push((kind.clone(), field.clone()));
                }
            }
        }
        documented.sort();
        let mut listed: Vec<(String, String)> = REGEX_FIELDS
            .iter()
            .map(|(k, f)| ((*k).to_owned(), (*f).to_owned()))
            .collect();
        listed.sort();
        assert_eq!(documented, listed);
    }
}
