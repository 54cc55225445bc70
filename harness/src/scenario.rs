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

/// The provisioning mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Just-In-Time Registration.
    #[default]
    Jitr,
    /// Just-In-Time Provisioning.
    Jitp,
    /// Registered before the board connects.
    Preregistered,
    /// Nothing registered: the board's CA is unknown to the broker.
    Unregistered,
}

/// `provision`: write credentials over the console and register with the broker.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionStep {
    /// Board.
    pub board: BoardName,
    /// `jitr` (default), `jitp` or `preregistered`.
    #[serde(default)]
    pub mode: Mode,
}

/// A step that only names a board (`reset`, `power_cycle`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BoardStep {
    /// Board.
    pub board: BoardName,
}

/// `flash`: (re)load the firmware.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashStep {
    /// Board.
    pub board: BoardName,
    /// Erase the flash first (the provisioning data goes).
    #[serde(default)]
    pub erase: bool,
}

/// `command`: send a console command and check its reply.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandStep {
    /// Board.
    pub board: BoardName,
    /// The command line.
    pub send: String,
    /// A regular expression the reply must match.
    pub reply: Option<Span<String>>,
    /// Timeout (default 10s).
    pub within: Option<Span<String>>,
}

/// `send`: type a line on the console without waiting for a reply. Console output from
/// before the step is dropped, so a following `expect` sees only what the line caused.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendStep {
    /// Board.
    pub board: BoardName,
    /// The line, sent followed by CR LF.
    pub line: String,
}

/// `expect`: wait for console output matching a regular expression.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectStep {
    /// Board.
    pub board: BoardName,
    /// Regular expression.
    pub regex: Span<String>,
    /// Timeout.
    pub within: Span<String>,
}

/// The blink an `expect_led` step wants.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Blink {
    /// Frequency range in Hz, e.g. `"0.5..3"`.
    pub hz: Span<String>,
    /// Duty-cycle range, e.g. `"0.3..0.7"` (any when absent).
    pub duty: Option<Span<String>>,
}

/// `expect_led`: one of `is` (+ `within`), `holds` (+ `for`), `blinking` (+ `for`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectLedStep {
    /// Board.
    pub board: BoardName,
    /// `blue`, `green`, `yellow` or `red`.
    pub led: Span<String>,
    /// Solid `on` or `off` (a blink does not count) by `within`.
    pub is: Option<Span<String>>,
    /// Stays `on` or `off` for `for`.
    pub holds: Option<Span<String>>,
    /// Blinks at this rate for `for`.
    pub blinking: Option<Blink>,
    /// Deadline for `is`.
    pub within: Option<Span<String>>,
    /// Observation window for `holds` and `blinking`.
    #[serde(rename = "for")]
    pub for_: Option<Span<String>>,
}

/// `expect_message`: a message on a topic, matching what is given.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectMessageStep {
    /// Topic (exact, with variables).
    pub topic: Span<String>,
    /// Deadline, from the step's start; earlier messages of the run count too.
    pub within: Span<String>,
    /// The payload must be JSON containing these fields with these values.
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub json: Option<toml::Table>,
    /// The payload must match this regular expression.
    pub regex: Option<Span<String>>,
    /// The payload must be valid against this JSON Schema file (relative to the scenario).
    pub schema: Option<Span<String>>,
    /// At least this many messages (default 1).
    pub count: Option<u32>,
    /// The PUBLISH had this QoS (0 or 1). With an external broker it is the QoS the
    /// harness's observer received, at most its subscription's.
    pub qos: Option<Span<u8>>,
    /// The PUBLISH had (`true`) or lacked (`false`) the retain flag. With an external
    /// broker only messages delivered from the retained store carry it.
    pub retained: Option<bool>,
}

/// `expect_no_message`: nothing on a topic for a while.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectNoMessageStep {
    /// Topic.
    pub topic: Span<String>,
    /// How long.
    #[serde(rename = "for")]
    pub for_: Span<String>,
}

/// `publish`: a message from the cloud side.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishStep {
    /// Topic.
    pub topic: Span<String>,
    /// Text payload.
    pub payload: Option<String>,
    /// JSON payload (sent compact).
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub json: Option<toml::Table>,
    /// QoS 1 (default 0).
    #[serde(default)]
    pub qos1: bool,
    /// Retain.
    #[serde(default)]
    pub retain: bool,
}

/// `wait`: let time pass.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// How long.
    #[serde(rename = "for")]
    pub for_: Span<String>,
}

/// `wifi_down` / `wifi_up`: the board's access point goes away or comes back.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WifiStep {
    /// Board.
    pub board: BoardName,
}

/// `set_sensor`: override the emulated sensors.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SensorStep {
    /// Board.
    pub board: BoardName,
    /// Light reading.
    pub light: Option<u32>,
    /// Temperature, °C.
    pub temp: Option<f64>,
}

/// `certificate`: change the status of a board's certificate (revoke, deactivate, activate).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateStep {
    /// Board.
    pub board: BoardName,
    /// `ACTIVE`, `INACTIVE` or `REVOKED`.
    pub status: Span<String>,
}

/// `fault`: arm or clear a broker fault (the AWS IoT Device Advisor set). Exactly one of
/// `withhold_connack`, `withhold`, `disconnect`, `server_cert` and `clear`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    /// The board the fault applies to (every client when absent).
    pub board: Option<BoardName>,
    /// Withhold CONNACK for the next N connects.
    pub withhold_connack: Option<u32>,
    /// Withhold `puback`, `suback` or `pingresp`.
    pub withhold: Option<Span<String>>,
    /// Drop the board's connection now.
    #[serde(default)]
    pub disconnect: bool,
    /// Present `expired`, `wrong_name` or `untrusted` server certificates to new
    /// connections, or `restore` the good one.
    pub server_cert: Option<Span<String>>,
    /// Disarm every fault.
    #[serde(default)]
    pub clear: bool,
}

/// `broker_restart = {}`: the broker restarts on the same port (connections drop; the
/// registries, retained messages, persistent sessions and shadows stay).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrokerRestartStep {}

/// `expect_backoff`: the board's connection attempts back off exponentially, with jitter.
/// The attempts judged are the retries of the outage under way: those after the board's
/// last accepted connection before the step (attempts already made count).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectBackoffStep {
    /// Board (its certificate identifies its attempts).
    pub board: BoardName,
    /// At least this many attempts (at least 4).
    pub attempts: u32,
    /// Deadline for that many attempts, from the step's start.
    pub within: Span<String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Step {
    /// Provision a board.
    Provision(ProvisionStep),
    /// Flash a board.
    Flash(FlashStep),
    /// Reset a board.
    Reset(BoardStep),
    /// Power-cycle a board.
    PowerCycle(BoardStep),
    /// Console command.
    Command(CommandStep),
    /// Console line without waiting for a reply.
    Send(SendStep),
    /// Console output.
    Expect(ExpectStep),
    /// LED state.
    ExpectLed(ExpectLedStep),
    /// A message.
    ExpectMessage(ExpectMessageStep),
    /// No message.
    ExpectNoMessage(ExpectNoMessageStep),
    /// Publish as the cloud.
    Publish(PublishStep),
    /// Let time pass.
    Wait(WaitStep),
    /// Access point down.
    WifiDown(WifiStep),
    /// Access point up.
    WifiUp(WifiStep),
    /// Sensor override.
    SetSensor(SensorStep),
    /// Certificate status.
    Certificate(CertificateStep),
    /// Broker fault.
    Fault(FaultStep),
    /// Reconnect backoff verdict.
    ExpectBackoff(ExpectBackoffStep),
    /// Broker restart.
    BrokerRestart(BrokerRestartStep),
}

impl Step {
    /// The step's name as written in files.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Provision(_) => "provision",
            Step::Flash(_) => "flash",
            Step::Reset(_) => "reset",
            Step::PowerCycle(_) => "power_cycle",
            Step::Command(_) => "command",
            Step::Send(_) => "send",
            Step::Expect(_) => "expect",
            Step::ExpectLed(_) => "expect_led",
            Step::ExpectMessage(_) => "expect_message",
            Step::ExpectNoMessage(_) => "expect_no_message",
            Step::Publish(_) => "publish",
            Step::Wait(_) => "wait",
            Step::WifiDown(_) => "wifi_down",
            Step::WifiUp(_) => "wifi_up",
            Step::SetSensor(_) => "set_sensor",
            Step::Certificate(_) => "certificate",
            Step::Fault(_) => "fault",
            Step::ExpectBackoff(_) => "expect_backoff",
            Step::BrokerRestart(_) => "broker_restart",
        }
    }

    /// The board the step acts on, if any.
    pub fn board(&self) -> Option<&BoardName> {
        match self {
            Step::Provision(s) => Some(&s.board),
            Step::Flash(s) => Some(&s.board),
            Step::Reset(s) | Step::PowerCycle(s) => Some(&s.board),
            Step::Command(s) => Some(&s.board),
            Step::Send(s) => Some(&s.board),
            Step::Expect(s) => Some(&s.board),
            Step::ExpectLed(s) => Some(&s.board),
            Step::WifiDown(s) | Step::WifiUp(s) => Some(&s.board),
            Step::SetSensor(s) => Some(&s.board),
            Step::Certificate(s) => Some(&s.board),
            Step::ExpectBackoff(s) => Some(&s.board),
            Step::Fault(s) => s.board.as_ref(),
            Step::ExpectMessage(_)
            | Step::ExpectNoMessage(_)
            | Step::Publish(_)
            | Step::Wait(_)
            | Step::BrokerRestart(_) => None,
        }
    }
}

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

    fn variables(&self, span: &Span<String>) -> Result<(), ScenarioError> {
        for variable in variables_in(span.get()) {
            let ok = match variable.split_once('.') {
                Some(("ca", "id")) => true,
                Some((board, "thing" | "certificate_id")) => self.boards.iter().any(|b| b == board),
                _ => false,
            };
            if !ok {
                return Err(self.error_at(
                    span,
                    format!("unknown variable {{{variable}}}"),
                    "unknown variable",
                    Some("variables: {<board>.thing}, {<board>.certificate_id}, {ca.id}"),
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
        for step in &self.steps {
            if let Some(board) = step.get().board() {
                self.board(board)?;
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
                    if let Some(qos) = &s.qos
                        && *qos.get() > 1
                    {
                        return Err(self.error_at(
                            qos,
                            format!("QoS {} is not one AWS IoT Core supports", qos.get()),
                            "0 or 1",
                            Some("AWS IoT Core has QoS 0 and 1 only"),
                        ));
                    }
                }
                Step::ExpectNoMessage(s) => {
                    self.duration(&s.for_)?;
                    self.variables(&s.topic)?;
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
                Step::Certificate(s)
                    if !["ACTIVE", "INACTIVE", "REVOKED"].contains(&s.status.get().as_str()) =>
                {
                    return Err(self.error_at(
                        &s.status,
                        "status is ACTIVE, INACTIVE or REVOKED",
                        "unknown status",
                        None,
                    ));
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

/// Replaces variables with their values; unknown ones are left as they are.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
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
