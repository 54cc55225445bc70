//! Snapshots for the `snapshot` step: the text that is compared (a message payload or a
//! console transcript), made stable across runs, and the comparison through insta.
//!
//! Redactions, in order:
//! 1. in JSON payloads, the values of timestamp-like keys ([`AUTO_REDACTED_KEYS`], and any
//!    key with `timestamp` in its name) and of the keys the step names become
//!    `"[<key>]"`; the payload is pretty-printed with sorted keys;
//! 2. matches of the step's regular expressions become `[redacted]` (a variable in them
//!    has been filled in with its value, escaped, so they run on the text as received);
//! 3. the values of the scenario's variables (thing names, certificate ids, the CA id)
//!    become their names in braces, `{dut.thing}`, longest value first.
//!
//! Snapshots live in `snapshots/` beside the scenario file, named
//! `<scenario>__<name>.snap`. A missing or different snapshot fails the step; insta
//! writes the new text beside it as `.snap.new` (`cargo insta review` accepts it, or run
//! with `INSTA_UPDATE=always`).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Keys whose values change on every run, redacted without being asked.
pub const AUTO_REDACTED_KEYS: [&str; 3] = ["sessionIdentifier", "clientToken", "versionNumber"];

fn redacted_key(key: &str, keys: &[String]) -> bool {
    key.to_ascii_lowercase().contains("timestamp")
        || AUTO_REDACTED_KEYS.contains(&key)
        || keys.iter().any(|k| k == key)
}

/// Replaces, at any depth, the values of timestamp-like keys and of `keys` by `"[key]"`,
/// and sorts object keys.
pub fn redact_json(value: &mut Value, keys: &[String]) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, mut item) in entries {
                if redacted_key(&key, keys) {
                    item = Value::String(format!("[{key}]"));
                } else {
                    redact_json(&mut item, keys);
                }
                map.insert(key, item);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact_json(item, keys)),
        _ => {}
    }
}

/// A payload as snapshot text: pretty JSON (sorted keys) with `keys` redacted, or the
/// payload as it is if it is not JSON.
pub fn payload_text(payload: &str, keys: &[String]) -> String {
    match serde_json::from_str::<Value>(payload) {
        Ok(mut value) => {
            redact_json(&mut value, keys);
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| payload.to_owned())
        }
        Err(_) => payload.to_owned(),
    }
}

/// Replaces each variable's value in `text` by `{name}`, longest value first (so a
/// value that contains another is replaced whole).
pub fn replace_variables(text: &str, variables: &BTreeMap<String, String>) -> String {
    let mut pairs: Vec<(&String, &String)> =
        variables.iter().filter(|(_, v)| !v.is_empty()).collect();
    pairs.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
    let mut out = text.to_owned();
    for (name, value) in pairs {
        out = out.replace(value.as_str(), &format!("{{{name}}}"));
    }
    out
}

/// Replaces every match of `patterns` by `[redacted]`.
pub fn mask(text: &str, patterns: &[regex::Regex]) -> String {
    patterns.iter().fold(text.to_owned(), |text, pattern| {
        pattern.replace_all(&text, "[redacted]").into_owned()
    })
}

/// Compares `text` with the snapshot `<dir>/<name>.snap` through insta. `input` is the
/// scenario file (recorded in the snapshot's header). The error is insta's verdict.
pub fn compare(dir: &Path, input: &Path, name: &str, text: &str) -> Result<(), String> {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(input);
    settings.set_omit_expression(true);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name, text));
    }));
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("the snapshot differs");
        format!(
            "{message} (snapshot {}; the diff is printed above; accept a change with `cargo insta review` or INSTA_UPDATE=always)",
            dir.join(format!("{name}.snap")).display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_and_named_keys_are_redacted_at_any_depth() {
        let mut value = json!({
            "certificateRegistrationTimestamp": 1700000000000u64,
            "nested": [{"timestamp": 5, "Light": 200, "Temp": 21.5}],
            "sessionIdentifier": "abc",
            "kept": "yes",
        });
        redact_json(&mut value, &["Light".to_owned()]);
        assert_eq!(
            value,
            json!({
                "certificateRegistrationTimestamp": "[certificateRegistrationTimestamp]",
                "nested": [{"timestamp": "[timestamp]", "Light": "[Light]", "Temp": 21.5}],
                "sessionIdentifier": "[sessionIdentifier]",
                "kept": "yes",
            })
        );
    }

    #[test]
    fn a_payload_that_is_not_json_is_kept_as_it_is() {
        assert_eq!(payload_text("hello {", &[]), "hello {");
        assert_eq!(
            payload_text(r#"{"b":1,"a":2}"#, &[]),
            "{\n  \"a\": 2,\n  \"b\": 1\n}"
        );
    }

    #[test]
    fn variable_values_become_their_names_longest_first() {
        let variables = BTreeMap::from([
            ("dut.thing".to_owned(), "abc".to_owned()),
            ("dut.certificate_id".to_owned(), "abcdef".to_owned()),
            ("empty".to_owned(), String::new()),
        ]);
        assert_eq!(
            replace_variables("abcdef/abc/x", &variables),
            "{dut.certificate_id}/{dut.thing}/x"
        );
    }

    #[test]
    fn masks_replace_every_match() {
        let patterns = [regex::Regex::new(r"\d+ ms").unwrap()];
        assert_eq!(
            mask("retry in 739 ms, then 12 ms", &patterns),
            "retry in [redacted], then [redacted]"
        );
    }

    #[test]
    fn a_matching_snapshot_passes_and_a_different_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("demo.toml");
        std::fs::write(
            dir.path().join("demo__text.snap"),
            "---\nsource: demo.toml\n---\nhello\n",
        )
        .unwrap();
        assert_eq!(compare(dir.path(), &input, "demo__text", "hello"), Ok(()));
        let error = compare(dir.path(), &input, "demo__text", "goodbye").unwrap_err();
        assert!(error.contains("demo__text.snap"), "{error}");
    }
}
