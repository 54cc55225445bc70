//! Scenario files: what a test does to the boards and what it expects to see.
//!
//! A scenario is TOML: a `name`, a `description`, `tags`, the `boards` it uses, and an
//! ordered list of `[[step]]` tables, each holding exactly one step (`provision = {...}`,
//! `expect_led = {...}`, ...). Loading is two passes: serde reads the file into the
//! [`Scenario`] types (unknown keys and steps are errors), then [`Scenario::validate`]
//! checks what serde cannot: durations, LED names, boards, variables. Every error is a
//! [`ScenarioError`] with file, line and column (miette), never a panic.
//!
//! Topics and payloads may use variables: `{<board>.thing}`, `{<board>.certificate_id}`
//! and `{ca.id}`, filled in by the runner once the board is provisioned.
//! [`json_schema`] generates the JSON Schema of the format from these types.

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

mod steps;
pub use steps::*;

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
    /// The rig boards the scenario uses (default `["dut"]`).
    #[serde(default = "default_boards")]
    pub boards: Vec<String>,
    /// MQTT clients the harness runs beside the boards, by name.
    #[serde(default)]
    pub clients: BTreeMap<String, ClientSpec>,
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
    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::unreadable(path, "scenario", &e, None))?;
        Self::parse(path, &text)
    }

    /// Parses and validates scenario text as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
            let help = Some("see scenarios/scenario.schema.json for the format");
            ScenarioError::new(path, text, e.span(), e.message(), "here", help)
        })?;
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

    fn duration(&self, span: &Span<String>) -> Result<Duration, ScenarioError> {
        parse_duration(span.get()).map_err(|e| self.error_at(span, e, "not a duration", None))
    }

    fn range(&self, span: &Span<String>) -> Result<Range, ScenarioError> {
        span.get()
            .parse::<Range>()
            .map_err(|e| self.error_at(span, e, "not a range", Some("write e.g. \"0.5..3\"")))
    }

    fn board(&self, span: &BoardName) -> Result<(), ScenarioError> {
        if self.boards.contains(span.get()) {
            Ok(())
        } else {
            Err(self.error_at(
                span,
                format!("unknown board {:?}", span.get()),
                "not in `boards`",
                Some(&format!(
                    "this scenario's boards: {}",
                    self.boards.join(", ")
                )),
            ))
        }
    }

    fn client(&self, span: &ClientName) -> Result<(), ScenarioError> {
        if self.clients.contains_key(span.get()) {
            return Ok(());
        }
        let known: Vec<&String> = self.clients.keys().collect();
        Err(self.error_at(
            span,
            format!("unknown client {:?}", span.get()),
            "not in [clients]",
            Some(&if known.is_empty() {
                "declare it in a [clients.<name>] table".to_owned()
            } else {
                format!("this scenario's clients: {known:?}")
            }),
        ))
    }

    fn variables(&self, span: &Span<String>) -> Result<(), ScenarioError> {
        for variable in variables_in(span.get()) {
            let (name, filter) = match variable.split_once('|') {
                Some((name, filter)) => (name, Some(filter)),
                None => (variable.as_str(), None),
            };
            let is_device = |client: &str| {
                self.clients
                    .get(client)
                    .is_some_and(|c| c.identity == ClientIdentity::Device)
            };
            let known = match name.split_once('.') {
                Some(("ca", "id")) => true,
                Some((owner, "thing" | "certificate_id")) => {
                    self.boards.iter().any(|b| b == owner) || is_device(owner)
                }
                _ => false,
            };
            if !known {
                return Err(self.error_at(
                    span,
                    format!("unknown variable {{{variable}}}"),
                    "unknown variable",
                    Some("variables: {<board>.thing}, {<board>.certificate_id}, {ca.id}, and {<client>.thing} of a device client"),
                ));
            }
            if let Some(filter) = filter
                && !FILTERS.contains(&filter)
            {
                return Err(self.error_at(
                    span,
                    format!("unknown filter |{filter} in {{{variable}}}"),
                    "unknown filter",
                    Some("filters: |upper, |lower"),
                ));
            }
        }
        Ok(())
    }

    /// Checks durations, ranges, LEDs, boards and variables.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.steps.is_empty() {
            return Err(self.file_error("the scenario has no steps", Some("add [[step]] tables")));
        }
        for name in self.clients.keys() {
            if self.boards.contains(name) || name == "ca" {
                return Err(self.file_error(
                    &format!("client {name:?} has the name of a board or of `ca`"),
                    Some("variables such as {<name>.thing} need distinct names"),
                ));
            }
        }
        for step in &self.steps {
            self.validate_step(step, false)?;
        }
        Ok(())
    }

    /// Checks one step; `nested` inside a `parallel` block.
    fn validate_step(&self, step: &Span<Step>, nested: bool) -> Result<(), ScenarioError> {
        {
            if let Some(board) = step.get().board() {
                self.board(board)?;
            }
            if let Some(client) = step.get().client() {
                self.client(client)?;
            }
            match step.get() {
                Step::Command(s) => {
                    if let Some(within) = &s.within {
                        self.duration(within)?;
                    }
                    if let Some(reply) = &s.reply {
                        regex::Regex::new(reply.get()).map_err(|e| {
                            self.error_at(reply, e.to_string(), "invalid regex", None)
                        })?;
                    }
                }
                Step::Expect(s) => {
                    self.duration(&s.within)?;
                    regex::Regex::new(s.regex.get()).map_err(|e| {
                        self.error_at(&s.regex, e.to_string(), "invalid regex", None)
                    })?;
                }
                Step::ExpectLed(s) => self.validate_led(s)?,
                Step::ExpectMessage(s) => {
                    self.duration(&s.within)?;
                    self.variables(&s.topic)?;
                    if let Some(regex) = &s.regex {
                        regex::Regex::new(regex.get()).map_err(|e| {
                            self.error_at(regex, e.to_string(), "invalid regex", None)
                        })?;
                    }
                    if let Some(schema) = &s.schema {
                        self.json_schema(schema)?;
                    }
                    if let Some(qos) = &s.qos {
                        self.qos(qos)?;
                    }
                }
                Step::ExpectNoMessage(s) => {
                    self.duration(&s.for_)?;
                    self.variables(&s.topic)?;
                    if let Some(regex) = &s.regex {
                        regex::Regex::new(regex.get()).map_err(|e| {
                            self.error_at(regex, e.to_string(), "invalid regex", None)
                        })?;
                    }
                }
                Step::Publish(s) => {
                    self.variables(&s.topic)?;
                    if s.payload.is_some() == s.json.is_some() {
                        return Err(self.error_at(
                            &s.topic,
                            "publish needs exactly one of `payload` and `json`",
                            "in this step",
                            None,
                        ));
                    }
                }
                Step::Wait(s) => {
                    self.duration(&s.for_)?;
                }
                Step::Connect(s) => {
                    if let Some(within) = &s.within {
                        self.duration(within)?;
                    }
                }
                Step::Subscribe(s) => {
                    self.variables(&s.topic)?;
                    if let Some(qos) = &s.qos {
                        self.qos(qos)?;
                    }
                }
                Step::ExpectDisconnected(s) => {
                    self.duration(&s.within)?;
                }
                Step::Certificate(s) => {
                    if let Some(status) = &s.status {
                        self.status(status, &["ACTIVE", "INACTIVE", "REVOKED"])?;
                    } else if !s.register {
                        return Err(self.error_at(
                            &s.board,
                            "certificate needs a `status`, or `register = true`",
                            "in this step",
                            None,
                        ));
                    }
                }
                Step::Ca(s) => {
                    if let Some(status) = &s.status {
                        self.status(status, &["ACTIVE", "INACTIVE"])?;
                    } else if !s.register && s.auto_registration.is_none() {
                        return Err(self.file_error(
                            "a `ca` step needs `register`, `status` or `auto_registration`",
                            Some("e.g. ca = { status = \"INACTIVE\" }"),
                        ));
                    }
                }
                Step::Snapshot(s) => self.validate_snapshot(s)?,
                Step::Parallel(steps) => {
                    if nested {
                        return Err(self.error_at(
                            step,
                            "a parallel block cannot hold another parallel block",
                            "nested",
                            None,
                        ));
                    }
                    if steps.is_empty() {
                        return Err(self.error_at(step, "an empty parallel block", "here", None));
                    }
                    for inner in steps {
                        self.validate_step(inner, true)?;
                    }
                }
                Step::Fault(s) => self.validate_fault(s)?,
                Step::ExpectBackoff(s) => {
                    self.duration(&s.within)?;
                    if s.attempts < 4 {
                        return Err(self.error_at(
                            &s.board,
                            "expect_backoff needs at least 4 attempts to judge",
                            "in this step",
                            None,
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn validate_snapshot(&self, s: &SnapshotStep) -> Result<(), ScenarioError> {
        let name = s.name.get();
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(self.error_at(
                &s.name,
                format!("{name:?} cannot name a snapshot file"),
                "letters, digits, _ and - only",
                None,
            ));
        }
        match (&s.topic, &s.console) {
            (Some(topic), None) => self.variables(topic)?,
            (None, Some(_)) if s.client.is_none() => {}
            _ => {
                return Err(self.error_at(
                    &s.name,
                    "snapshot needs exactly one of `topic` (with an optional `client`) and `console`",
                    "in this step",
                    None,
                ));
            }
        }
        for pattern in &s.redact {
            regex::Regex::new(pattern.get())
                .map_err(|e| self.error_at(pattern, e.to_string(), "invalid regex", None))?;
        }
        Ok(())
    }

    fn status(&self, status: &Span<String>, allowed: &[&str]) -> Result<(), ScenarioError> {
        if allowed.contains(&status.get().as_str()) {
            Ok(())
        } else {
            Err(self.error_at(
                status,
                format!("status is one of {}", allowed.join(", ")),
                "unknown status",
                None,
            ))
        }
    }

    fn qos(&self, qos: &Span<u8>) -> Result<(), ScenarioError> {
        if *qos.get() > 1 {
            return Err(self.error_at(
                qos,
                format!("QoS {} is not one AWS IoT Core supports", qos.get()),
                "0 or 1",
                Some("AWS IoT Core has QoS 0 and 1 only"),
            ));
        }
        Ok(())
    }

    fn validate_fault(&self, s: &FaultStep) -> Result<(), ScenarioError> {
        let actions = [
            s.withhold_connack.is_some(),
            s.withhold.is_some(),
            s.disconnect,
            s.server_cert.is_some(),
            s.clear,
        ];
        let place = s
            .withhold
            .as_ref()
            .or(s.server_cert.as_ref())
            .or(s.board.as_ref());
        if actions.iter().filter(|a| **a).count() != 1 {
            let message = "fault needs exactly one of withhold_connack, withhold, disconnect, server_cert and clear";
            return Err(match place {
                Some(span) => self.error_at(span, message, "in this step", None),
                None => self.file_error(message, None),
            });
        }
        if let Some(packet) = &s.withhold
            && !["puback", "suback", "pingresp"].contains(&packet.get().as_str())
        {
            return Err(self.error_at(
                packet,
                "withhold is puback, suback or pingresp",
                "unknown packet",
                None,
            ));
        }
        if let Some(cert) = &s.server_cert
            && !["expired", "wrong_name", "untrusted", "restore"].contains(&cert.get().as_str())
        {
            return Err(self.error_at(
                cert,
                "server_cert is expired, wrong_name, untrusted or restore",
                "unknown",
                None,
            ));
        }
        if s.disconnect && s.board.is_none() {
            return Err(self.file_error("fault disconnect needs a board", None));
        }
        Ok(())
    }

    fn validate_led(&self, s: &ExpectLedStep) -> Result<(), ScenarioError> {
        if !LED_NAMES.contains(&s.led.get().as_str()) {
            return Err(self.error_at(
                &s.led,
                format!("unknown LED {:?}", s.led.get()),
                "unknown LED",
                Some("LEDs: blue, green, yellow, red"),
            ));
        }
        let on_off = |span: &Span<String>| match span.get().as_str() {
            "on" | "off" => Ok(()),
            _ => Err(self.error_at(span, "expected \"on\" or \"off\"", "not on/off", None)),
        };
        match (&s.is, &s.holds, &s.blinking) {
            (Some(is), None, None) => {
                on_off(is)?;
                let within = s
                    .within
                    .as_ref()
                    .ok_or_else(|| self.error_at(is, "`is` needs `within`", "here", None))?;
                self.duration(within)?;
            }
            (None, Some(holds), None) => {
                on_off(holds)?;
                let window = s
                    .for_
                    .as_ref()
                    .ok_or_else(|| self.error_at(holds, "`holds` needs `for`", "here", None))?;
                self.duration(window)?;
            }
            (None, None, Some(blink)) => {
                self.range(&blink.hz)?;
                if let Some(duty) = &blink.duty {
                    self.range(duty)?;
                }
                let window = s.for_.as_ref().ok_or_else(|| {
                    self.error_at(&blink.hz, "`blinking` needs `for`", "here", None)
                })?;
                self.duration(window)?;
            }
            _ => {
                return Err(self.error_at(
                    &s.led,
                    "expect_led needs exactly one of `is`, `holds` and `blinking`",
                    "in this step",
                    None,
                ));
            }
        }
        Ok(())
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
}

/// The `{...}` variables in a text.
pub fn variables_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push(rest[start + 1..start + end].to_owned());
        rest = &rest[start + end + 1..];
    }
    out
}

/// The filters a variable may carry: `{dut.thing|upper}`.
pub const FILTERS: [&str; 2] = ["upper", "lower"];

/// Replaces variables (with their filters) by their values; unknown ones are left as
/// they are.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 1..start + len];
        let (name, filter) = inner.split_once('|').unwrap_or((inner, ""));
        match (values.get(name), filter) {
            (Some(value), "") => out.push_str(value),
            (Some(value), "upper") => out.push_str(&value.to_uppercase()),
            (Some(value), "lower") => out.push_str(&value.to_lowercase()),
            _ => out.push_str(&rest[start..=start + len]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The JSON Schema of scenario files, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
