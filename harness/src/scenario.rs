//! Scenario files: what a test does to the boards and what it expects to see.
//!
//! A scenario is TOML: a `name`, a `description`, `tags`, the `boards` it uses, and an
//! ordered list of `[[step]]` tables, each holding exactly one step (`provision = {...}`,
//! `expect_led = {...}`, ...). Loading is three passes: the bytes are decoded (UTF-8),
//! serde reads the text into the [`Scenario`] types (unknown keys and steps are errors),
//! then [`Scenario::validate`] checks everything else that can be known before a board
//! starts: durations, LEDs, boards, clients, regular expressions (their syntax and size),
//! topic names and filters (MQTT's wildcard rules), and the variables in every string.
//! Every error is a [`ScenarioError`] with file, line and column (miette), never a panic.
//!
//! Any string of a step may use variables (`{<board>.thing}`, `{<board>.certificate_id}`,
//! `{ca.id}`, `{<client>.thing}`, with `|upper` or `|lower`; syntax in `variables`).
//! Their values are known only at run time, once a board is provisioned: the runner asks
//! [`Scenario::step_filled`] for each step just before it runs, which fills in every
//! string of it (`step_strings`). [`json_schema`] generates the JSON Schema of the format
//! from these types.

// A ScenarioError carries the file's text for its report; it is returned once per file.
#![allow(clippy::result_large_err)]

use crate::led::{LED_NAMES, Range};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A scenario file that cannot be run, with where and why.
pub use crate::file_error::FileError as ScenarioError;

/// A value with its place in the file, for error reports; in the schema, just the value.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Span<T>(#[schemars(with = "T")] pub Spanned<T>);

impl<T> Span<T> {
    /// The value.
    pub fn get(&self) -> &T {
        self.0.get_ref()
    }
}

/// A board name.
pub type BoardName = Span<String>;

mod cloud_steps;
mod fleet_steps;
mod job_steps;
mod packet_steps;
mod step_strings;
mod steps;
mod text_checks;
mod toml_json;
mod validate;
mod variables;
pub use cloud_steps::*;
pub use fleet_steps::*;
pub use job_steps::*;
pub use packet_steps::*;
pub use step_strings::REGEX_FIELDS;
pub use steps::*;
pub use toml_json::{json_of, json_of_value};
pub use variables::{FILTERS, substitute, variables_in};

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One line saying what is tested.
    pub name: String,
    /// More words, if needed.
    #[serde(default)]
    pub description: String,
    /// Tags, for `hil run --tag`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The AWS IoT Device Advisor test case this scenario stands for, by Device Advisor's
    /// name (e.g. `"TLS Expired Server Cert"`); `hil qualify` runs and reports it by this.
    #[serde(default)]
    pub device_advisor: Option<String>,
    /// The highest rig clock speed the scenario's judgements hold at: on a faster rig it
    /// runs at this speed instead (board time stays exact; only the wall time grows). A
    /// millisecond of the host's own scheduling is `speed` ms of board time, so a verdict
    /// that must resolve a board's delays finely (jitter, to 5% of a 1 s delay) needs a
    /// slow clock.
    #[serde(default)]
    pub max_speed: Option<Span<f64>>,
    /// The rig boards the scenario uses (default `["dut"]`).
    #[serde(default = "default_boards")]
    pub boards: Vec<String>,
    /// MQTT clients the harness runs beside the boards, by name.
    #[serde(default)]
    pub clients: BTreeMap<String, ClientSpec>,
    /// A fleet instead of the rig's boards: see [`FleetSection`].
    #[serde(default)]
    pub fleet: Option<FleetSection>,
    /// The steps, in order.
    #[serde(rename = "step", default)]
    pub steps: Vec<Span<Step>>,
    /// Where it was read from (not in the file).
    #[serde(skip)]
    #[schemars(skip)]
    pub path: PathBuf,
    #[serde(skip)]
    #[schemars(skip)]
    text: String,
}

fn default_boards() -> Vec<String> {
    vec!["dut".to_owned()]
}

/// Parses `5s`, `250ms`, `1m 30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. 250ms, 5s, 1m"))
}

impl Scenario {
    /// Reads, parses and validates a scenario file (UTF-8; a byte that is not is
    /// reported with its line and column).
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let bytes = std::fs::read(path)
            .map_err(|e| ScenarioError::unreadable(path, "scenario", &e, None))?;
        let text = ScenarioError::decode(path, bytes)?;
        Self::parse(path, &text)
    }

    /// Parses and validates scenario text as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let help = Some("see scenarios/scenario.schema.json for the format");
        let located = |e: toml::de::Error| {
            // serde's words for a step (an enum) with no action or several.
            let message = match e.message() {
                m if m.starts_with("wanted exactly 1 element, found 0") => {
                    "an empty step: a step names one action (`provision`, `expect_message`, ...)"
                }
                m if m.starts_with("wanted exactly 1 element, more than 1") => {
                    "a step names one action; this one names several: split it into steps"
                }
                m => m,
            };
            ScenarioError::new(path, text, e.span(), message, "here", help)
        };
        // The document's values keep their places: errors point at them, and the steps'
        // strings are walked from them again (`step_strings`).
        let document = toml::de::DeTable::parse(text).map_err(located)?;
        let mut scenario =
            Scenario::deserialize(toml::de::Deserializer::from(document)).map_err(located)?;
        scenario.path = path.to_owned();
        scenario.text = text.to_owned();
        scenario.validate()?;
        Ok(scenario)
    }

    /// An error located at `span` in this scenario's file.
    pub fn error_at<T>(
        &self,
        span: &Span<T>,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) -> ScenarioError {
        ScenarioError::new(
            &self.path,
            &self.text,
            Some(span.0.span()),
            message,
            label,
            help,
        )
    }

    /// An error located at bytes `at` of this scenario's file.
    fn error_at_range(
        &self,
        at: std::ops::Range<usize>,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) -> ScenarioError {
        ScenarioError::new(&self.path, &self.text, Some(at), message, label, help)
    }

    /// An error about this scenario's file as a whole.
    fn file_error(&self, message: &str, help: Option<&str>) -> ScenarioError {
        ScenarioError::new(&self.path, &self.text, None, message, "", help)
    }

    /// Loads and compiles the JSON Schema file `span` names, relative to the scenario.
    pub fn json_schema(&self, span: &Span<String>) -> Result<jsonschema::Validator, ScenarioError> {
        let path = self
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join(span.get());
        let text = std::fs::read_to_string(&path).map_err(|e| {
            self.error_at(
                span,
                format!("cannot read JSON Schema {}: {e}", path.display()),
                "this file",
                Some("the path is relative to the scenario file"),
            )
        })?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            self.error_at(
                span,
                format!("{} is not JSON: {e}", path.display()),
                "this file",
                None,
            )
        })?;
        jsonschema::validator_for(&value).map_err(|e| {
            self.error_at(
                span,
                format!("{} is not a valid JSON Schema: {e}", path.display()),
                "this file",
                None,
            )
        })
    }

    /// A duration field that validation has checked.
    pub fn checked_duration(span: &Span<String>) -> Duration {
        parse_duration(span.get()).unwrap_or_default()
    }

    /// A range field that validation has checked.
    pub fn checked_range(span: &Span<String>) -> Range {
        span.get().parse().unwrap_or(Range {
            min: 0.0,
            max: f64::MAX,
        })
    }

    /// Every step, those inside `parallel` blocks included, in file order.
    pub fn all_steps(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        for step in &self.steps {
            out.push(step.get());
            if let Step::Parallel(inner) = step.get() {
                out.extend(inner.iter().map(Span::get));
            }
        }
        out
    }

    /// The file stem: the scenario's id in test names and output folders.
    pub fn id(&self) -> String {
        self.path
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
    }

    /// The scenario with the `for` of every top-level `long_duration` step set to
    /// `duration` (`hil qualify --long-duration`). The file's text is changed and parsed
    /// again, since steps are read from it when they run; a `duration` that is not one is
    /// the located error `load` would give.
    pub fn with_long_duration(&self, duration: &str) -> Result<Scenario, ScenarioError> {
        let mut places: Vec<std::ops::Range<usize>> = self
            .steps
            .iter()
            .filter_map(|step| match step.get() {
                Step::LongDuration(s) => Some(s.for_.0.span()),
                _ => None,
            })
            .collect();
        places.sort_by_key(|place| std::cmp::Reverse(place.start));
        let mut text = self.text.clone();
        for place in places {
            let quoted = toml::Value::String(duration.to_owned()).to_string();
            text.replace_range(place, &quoted);
        }
        Self::parse(&self.path, &text)
    }
}

/// The JSON Schema of scenario files, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod load_errors;
#[cfg(test)]
mod tests;
