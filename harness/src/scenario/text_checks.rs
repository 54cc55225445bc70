//! The load-time checks of what is written inside strings: the variables of every string
//! of a step (syntax, names, filters), regular expressions (syntax and compiled size, with
//! variables standing in at their run-time length) and topics (MQTT 3.1.1's rules for
//! names and filters, through `mock_broker::mqtt::topic`). The step-by-step checks are
//! in `validate`; the walk over a step's strings is `step_strings`'.

use super::step_strings::{StepString, walk_step};
use super::variables::{FILTERS, Piece, fill, pieces};
use super::*;
use mock_broker::Violation;
use mock_broker::mqtt::topic::{check_filter, check_name};
use std::collections::BTreeSet;
use std::ops::Range as Bytes;

/// The length of a thing name (hex SHA-1) and of a certificate or CA id (hex SHA-256).
const THING_LEN: usize = 40;
const ID_LEN: usize = 64;

const VARIABLES_HELP: &str = "variables: {<board>.thing}, {<board>.certificate_id}, {ca.id}, and {<client>.thing} of a device client; write {{ for a literal {";

impl Scenario {
    /// Every variable this scenario's strings may use.
    pub fn known_variables(&self) -> BTreeSet<String> {
        let device_clients = self
            .clients
            .iter()
            .filter(|(_, spec)| spec.identity == ClientIdentity::Device)
            .map(|(name, _)| name);
        let mut known = BTreeSet::from(["ca.id".to_owned()]);
        for owner in self.boards.iter().chain(device_clients) {
            known.insert(format!("{owner}.thing"));
            known.insert(format!("{owner}.certificate_id"));
        }
        known
    }

    /// Checks the variables of every string of every step.
    pub(super) fn validate_variables(&self) -> Result<(), ScenarioError> {
        let known = self.known_variables();
        for mut step in self.step_values()? {
            walk_step(&mut step, &mut |found: StepString<'_>| {
                self.check_variables(&found, &known).map(|()| None)
            })?;
        }
        Ok(())
    }

    fn check_variables(
        &self,
        found: &StepString<'_>,
        known: &BTreeSet<String>,
    ) -> Result<(), ScenarioError> {
        let place = |inner: Bytes<usize>| self.place_in_string(found, inner);
        let pieces = pieces(found.text).map_err(|unclosed| {
            let written = &found.text[unclosed.at.clone()];
            self.error_at_range(
                place(unclosed.at),
                format!("unclosed variable {written}: a variable ends with }}"),
                "unclosed variable",
                Some(VARIABLES_HELP),
            )
        })?;
        // `${...}` stays as written (AWS policy variables); one holding a scenario variable
        // is the shell's habit, not what the author meant.
        for known_name in known {
            let shell = format!("${{{known_name}}}");
            if let Some(at) = found.text.find(&shell) {
                return Err(self.error_at_range(
                    place(at..at + shell.len()),
                    format!("{shell} stays as written: `${{...}}` is how AWS policy variables are written"),
                    "not filled in",
                    Some(&format!("a scenario variable is written {{{known_name}}}, without the $")),
                ));
            }
        }
        for piece in pieces {
            let Piece::Variable(variable) = piece else {
                continue;
            };
            if !known.contains(variable.name) {
                let nearest = known
                    .iter()
                    .map(|k| (strsim::levenshtein(k, variable.name), k))
                    .min()
                    .filter(|(distance, _)| *distance <= 3)
                    .map(|(_, k)| format!("did you mean {{{k}}}? "))
                    .unwrap_or_default();
                let listed: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
                return Err(self.error_at_range(
                    place(variable.at.clone()),
                    format!("unknown variable {{{}}}", variable.name),
                    "unknown variable",
                    Some(&format!(
                        "{nearest}this scenario's variables: {}",
                        listed.join(", ")
                    )),
                ));
            }
            if let Some(filter) = variable.filter
                && !FILTERS.contains(&filter)
            {
                return Err(self.error_at_range(
                    place(variable.at.clone()),
                    format!("unknown filter |{filter} in {}", &found.text[variable.at]),
                    "unknown filter",
                    Some("filters: |upper, |lower"),
                ));
            }
        }
        Ok(())
    }

    /// Where bytes `inner` of a string's value are in the file: exact when the string is
    /// written without escapes, the whole string otherwise.
    fn place_in_string(&self, found: &StepString<'_>, inner: Bytes<usize>) -> Bytes<usize> {
        let span = found.span.clone();
        let Some(written) = self.text.get(span.clone()) else {
            return span;
        };
        // Bare keys, '...' and "..." strings, '''...''' and """...""" strings.
        let offset = [0, 1, 3].into_iter().find(|quote| {
            written.len() == found.text.len() + 2 * quote
                && written.get(*quote..written.len() - quote) == Some(found.text)
        });
        match offset {
            Some(offset) => span.start + offset + inner.start..span.start + offset + inner.end,
            None => span,
        }
    }

    /// `text` with each variable replaced by a value of the length it will have at run
    /// time (validation has checked the variables).
    fn with_stand_ins(&self, text: &str, escape: fn(&str) -> String) -> String {
        let values = self
            .known_variables()
            .into_iter()
            .map(|name| {
                let len = if name.ends_with(".thing") {
                    THING_LEN
                } else {
                    ID_LEN
                };
                (name, "0".repeat(len))
            })
            .collect();
        fill(text, &values, escape).unwrap_or_else(|_| text.to_owned())
    }

    /// Checks a regular expression as the runner compiles it (`console` for the console's
    /// byte regexes): its syntax, and its compiled size against the regex crate's limit.
    pub(super) fn regex(&self, span: &Span<String>, console: bool) -> Result<(), ScenarioError> {
        let pattern = self.with_stand_ins(span.get(), regex::escape);
        let compiled = if console {
            regex::bytes::Regex::new(&pattern).map(drop)
        } else {
            regex::Regex::new(&pattern).map(drop)
        };
        compiled.map_err(|e| self.error_at(span, e.to_string(), "invalid regex", None))
    }

    /// The text of a snapshot name as it will be at run time.
    pub(super) fn snapshot_name(&self, span: &Span<String>) -> String {
        self.with_stand_ins(span.get(), str::to_owned)
    }

    /// Checks a topic name (what `publish` sends to, what `expect_message` and the others
    /// compare exactly): no wildcard. A variable stands for a level's text, which cannot
    /// hold one, so the text is checked with its variables in it.
    pub(super) fn topic_name(&self, span: &Span<String>, step: &str) -> Result<(), ScenarioError> {
        let topic = span.get();
        match check_name(topic) {
            Ok(()) => Ok(()),
            Err(Violation::WildcardInTopic(_)) => {
                let at = topic.find(['+', '#']).unwrap_or_default();
                let help = if step == "publish" {
                    "a message goes to one topic; `+` and `#` belong in `subscribe` filters"
                } else {
                    "this step compares topics exactly; a scenario client can `subscribe` with a filter"
                };
                Err(self.topic_error(
                    span,
                    at..at + 1,
                    format!("the {step} topic {topic:?} holds a wildcard"),
                    "wildcard",
                    help,
                ))
            }
            Err(other) => Err(self.error_at(span, other.to_string(), "not a topic name", None)),
        }
    }

    /// Checks a topic filter: `#` only as the whole last level, `+` only as a whole level.
    pub(super) fn topic_filter(&self, span: &Span<String>) -> Result<(), ScenarioError> {
        check_filter(span.get()).map_err(|violation| {
            let at = misplaced_wildcard(span.get()).unwrap_or(0..span.get().len());
            self.topic_error(
                span,
                at,
                violation.to_string(),
                "misplaced wildcard",
                "MQTT 3.1.1: `#` only as the whole last level (`a/#`), `+` only as a whole level (`a/+/b`)",
            )
        })
    }

    fn topic_error(
        &self,
        span: &Span<String>,
        inner: Bytes<usize>,
        message: String,
        label: &str,
        help: &str,
    ) -> ScenarioError {
        let found = StepString {
            text: span.get(),
            span: span.0.span(),
            regex: false,
        };
        self.error_at_range(
            self.place_in_string(&found, inner),
            message,
            label,
            Some(help),
        )
    }
}

/// The level of `filter` whose wildcard is misplaced, as bytes.
fn misplaced_wildcard(filter: &str) -> Option<Bytes<usize>> {
    let levels: Vec<&str> = filter.split('/').collect();
    let mut start = 0;
    for (index, level) in levels.iter().enumerate() {
        let bad_hash = level.contains('#') && (*level != "#" || index + 1 != levels.len());
        let bad_plus = level.contains('+') && *level != "+";
        if bad_hash || bad_plus {
            return Some(start..start + level.len());
        }
        start += level.len() + 1;
    }
    None
}
