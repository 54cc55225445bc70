//! The step types of scenario files: one struct per step, and [`Step`], the enum of them.
//!
//! Field docs become the descriptions in the generated JSON Schema, which editors show.

use super::{
    BoardName, CaStep, CertificateStep, ExpectCipherSuitesStep, ExpectFleetStep, ExpectJobStep,
    ExpectPacketStep, ExpectRetryStep, FleetPowerOnStep, FleetStormStep, JobStep, LongDurationStep,
    PolicyStep, Span,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

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

/// A step that only names a board (`erase`, `reset`, `power_cycle`).
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
    /// Count what this scenario client received (after its `subscribe`), instead of
    /// every PUBLISH the broker accepted.
    pub client: Option<ClientName>,
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
    /// Watch what this scenario client receives instead of what the broker sees.
    pub client: Option<ClientName>,
    /// Only a payload matching this regular expression fails the step.
    pub regex: Option<Span<String>>,
    /// How long.
    #[serde(rename = "for")]
    pub for_: Span<String>,
}

/// `publish`: a message from the cloud side, or from a scenario client.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishStep {
    /// Topic.
    pub topic: Span<String>,
    /// Publish as this scenario client (connected first) instead of as the broker.
    pub client: Option<ClientName>,
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
    /// Pad the payload with `x`s to this many bytes (Device Advisor's large payload, for
    /// TLS Receive Maximum Size Fragments): a JSON payload gets a `padding` member.
    pub size: Option<Span<u32>>,
    /// How a cloud-side message reaches the broker: `mqtt` (default, the operator's
    /// connection) or `http` (AWS IoT's `iot-data` Publish API, as cloud-side code calls
    /// it through boto3; the embedded broker only). Not with `client`.
    pub via: Option<Span<PublishVia>>,
}

/// The way a `publish` step's message reaches the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PublishVia {
    /// An MQTT PUBLISH from the operator (or the client named).
    Mqtt,
    /// `POST /topics/{topic}` on the data plane (`iot-data` Publish).
    Http,
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
    /// Make the board's next N connections unstable: each is dropped at a random moment
    /// within 5 s (board time) of its CONNACK.
    pub unstable: Option<u32>,
    /// Expire the board's persistent session now (the board must be offline): its next
    /// CONNECT gets session present 0, as an hour offline would give.
    #[serde(default)]
    pub expire_session: bool,
    /// Present `expired`, `wrong_name` or `untrusted` server certificates to new
    /// connections, a valid but `large` chain (10 KiB or more), or `restore` the good one.
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
/// last accepted connection before the step (attempts already made count). The verdict
/// decides once `attempts` are in if the delays clearly grow, else it waits for more
/// attempts, up to 11 (see `harness::runner::backoff_verdict` for its error rates).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectBackoffStep {
    /// Board (its certificate identifies its attempts).
    pub board: BoardName,
    /// Attempts judged first (at least 4; 5 is what the documented error rates assume);
    /// more are awaited while the verdict is unclear.
    pub attempts: u32,
    /// Deadline for the verdict, from the step's start (board time). Leave room for the
    /// unclear cases: with full jitter from 1 s to a 32 s cap, 99.9% of verdicts come
    /// within 90 s, all within 4 minutes.
    pub within: Span<String>,
    /// What delays that grow by one exact ratio (exponential backoff without jitter) make
    /// of the step: `fail` (default; Device Advisor's jitter case) or `warn` (a pass with a
    /// warning: its other backoff cases).
    #[serde(default)]
    pub without_jitter: WithoutJitter,
    /// Which attempts are judged: those since the board's last accepted connection
    /// (`outage`, default: CONNACK withheld or refused), or all since the step before
    /// this one started (`step`: connections that are accepted and then dropped, as
    /// `fault = { unstable = N }` does; the delay is from each drop to the next attempt).
    #[serde(default)]
    pub since: BackoffSince,
}

/// Where `expect_backoff` starts counting attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackoffSince {
    /// The board's last accepted connection before the step.
    #[default]
    Outage,
    /// The start of the step before this one.
    Step,
}

/// What `expect_backoff` makes of exponential backoff without jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum WithoutJitter {
    /// The step fails.
    #[default]
    Fail,
    /// The step passes with a warning.
    Warn,
}

/// Who a scenario client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientIdentity {
    /// The harness's operator certificate: a cloud-side client that policies do not
    /// restrict, like the AWS console's MQTT test client.
    #[default]
    Operator,
    /// A new device certificate from the test CA, registered ACTIVE with its own thing
    /// (`{<client>.thing}`) and Microchip's policy: another device on the account.
    Device,
}

/// `[clients.<name>]`: an MQTT client the harness runs beside the boards.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// `operator` (default) or `device`.
    #[serde(default)]
    pub identity: ClientIdentity,
}

/// A scenario client's name.
pub type ClientName = Span<String>;

/// `connect`: connect a scenario client; the step fails if the broker refuses it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectStep {
    /// Client.
    pub client: ClientName,
    /// Timeout for the CONNACK (default 10s).
    pub within: Option<Span<String>>,
}

/// `subscribe`: subscribe a connected client to a topic filter; the step fails if the
/// broker refuses it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeStep {
    /// Client.
    pub client: ClientName,
    /// Topic filter (`+` and `#` allowed, with variables).
    pub topic: Span<String>,
    /// QoS 0 (default) or 1.
    pub qos: Option<Span<u8>>,
}

/// `expect_disconnected`: the broker closes a client's connection.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectDisconnectedStep {
    /// Client.
    pub client: ClientName,
    /// Deadline.
    pub within: Span<String>,
}

/// `snapshot`: compares a message payload, or a board's console transcript, with a
/// stored snapshot (insta), after redacting what changes from run to run: timestamps,
/// thing names, certificate and CA ids (see the `snapshot` module). Exactly one of
/// `topic` and `console`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotStep {
    /// The snapshot's name: `snapshots/<scenario>__<name>.snap` beside the scenario.
    pub name: Span<String>,
    /// The latest message seen so far on this topic (with variables).
    pub topic: Option<Span<String>>,
    /// With `topic`: what this scenario client received, instead of what the broker saw.
    pub client: Option<ClientName>,
    /// The board whose console transcript is compared: the lines from the harness's last
    /// line typed on it (`>>`) to now (`<<` received).
    pub console: Option<BoardName>,
    /// JSON keys (at any depth) whose values are redacted, e.g. `["Light", "Temp"]`.
    #[serde(default)]
    pub redact_keys: Vec<String>,
    /// Regular expressions whose matches are redacted, e.g. `['\d+ ms']`.
    #[serde(default)]
    pub redact: Vec<Span<String>>,
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
    /// Erase a board's flash.
    Erase(BoardStep),
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
    /// An unacknowledged packet resent.
    ExpectRetry(ExpectRetryStep),
    /// How many packets of a kind a board sent.
    ExpectPacket(ExpectPacketStep),
    /// Device Advisor's long-duration suite.
    LongDuration(LongDurationStep),
    /// The cipher suites a board's ClientHello offers.
    ExpectCipherSuites(ExpectCipherSuitesStep),
    /// Broker restart.
    BrokerRestart(BrokerRestartStep),
    /// Connect a scenario client.
    Connect(ConnectStep),
    /// Subscribe a scenario client.
    Subscribe(SubscribeStep),
    /// A scenario client is disconnected by the broker.
    ExpectDisconnected(ExpectDisconnectedStep),
    /// The signer CA's registration.
    Ca(CaStep),
    /// Attach a policy to a board's certificate.
    Policy(PolicyStep),
    /// Compare with a stored snapshot.
    Snapshot(SnapshotStep),
    /// Create a job for a board.
    Job(JobStep),
    /// A board's job execution status.
    ExpectJob(ExpectJobStep),
    /// Power a `[fleet]` on.
    FleetPowerOn(FleetPowerOnStep),
    /// A reconnect storm of the `[fleet]`.
    FleetStorm(FleetStormStep),
    /// The `[fleet]`'s figures.
    ExpectFleet(ExpectFleetStep),
    /// Steps run at once; the block fails as soon as one fails, passes when all pass.
    #[schemars(with = "Vec<Step>")]
    Parallel(Vec<Span<Step>>),
}

impl Step {
    /// The step's name as written in files.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Provision(_) => "provision",
            Step::Flash(_) => "flash",
            Step::Erase(_) => "erase",
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
            Step::ExpectRetry(_) => "expect_retry",
            Step::ExpectPacket(_) => "expect_packet",
            Step::LongDuration(_) => "long_duration",
            Step::ExpectCipherSuites(_) => "expect_cipher_suites",
            Step::BrokerRestart(_) => "broker_restart",
            Step::Connect(_) => "connect",
            Step::Subscribe(_) => "subscribe",
            Step::ExpectDisconnected(_) => "expect_disconnected",
            Step::Ca(_) => "ca",
            Step::Policy(_) => "policy",
            Step::Snapshot(_) => "snapshot",
            Step::Job(_) => "job",
            Step::ExpectJob(_) => "expect_job",
            Step::FleetPowerOn(_) => "fleet_power_on",
            Step::FleetStorm(_) => "fleet_storm",
            Step::ExpectFleet(_) => "expect_fleet",
            Step::Parallel(_) => "parallel",
        }
    }

    /// The board the step acts on, if any.
    pub fn board(&self) -> Option<&BoardName> {
        match self {
            Step::Provision(s) => Some(&s.board),
            Step::Flash(s) => Some(&s.board),
            Step::Erase(s) | Step::Reset(s) | Step::PowerCycle(s) => Some(&s.board),
            Step::Command(s) => Some(&s.board),
            Step::Send(s) => Some(&s.board),
            Step::Expect(s) => Some(&s.board),
            Step::ExpectLed(s) => Some(&s.board),
            Step::WifiDown(s) | Step::WifiUp(s) => Some(&s.board),
            Step::SetSensor(s) => Some(&s.board),
            Step::Certificate(s) => Some(&s.board),
            Step::Policy(s) => Some(&s.board),
            Step::ExpectBackoff(s) => Some(&s.board),
            Step::ExpectRetry(s) => Some(&s.board),
            Step::ExpectPacket(s) => Some(&s.board),
            Step::LongDuration(s) => Some(&s.board),
            Step::ExpectCipherSuites(s) => Some(&s.board),
            Step::Fault(s) => s.board.as_ref(),
            Step::Snapshot(s) => s.console.as_ref(),
            Step::Job(s) => Some(&s.board),
            Step::ExpectJob(s) => Some(&s.board),
            Step::ExpectMessage(_)
            | Step::ExpectNoMessage(_)
            | Step::Publish(_)
            | Step::Wait(_)
            | Step::BrokerRestart(_)
            | Step::Connect(_)
            | Step::Subscribe(_)
            | Step::ExpectDisconnected(_)
            | Step::Ca(_)
            | Step::FleetPowerOn(_)
            | Step::FleetStorm(_)
            | Step::ExpectFleet(_)
            | Step::Parallel(_) => None,
        }
    }

    /// The scenario client the step uses, if any.
    pub fn client(&self) -> Option<&ClientName> {
        match self {
            Step::Connect(s) => Some(&s.client),
            Step::Subscribe(s) => Some(&s.client),
            Step::ExpectDisconnected(s) => Some(&s.client),
            Step::Publish(s) => s.client.as_ref(),
            Step::ExpectMessage(s) => s.client.as_ref(),
            Step::ExpectNoMessage(s) => s.client.as_ref(),
            Step::Snapshot(s) => s.client.as_ref(),
            _ => None,
        }
    }
}
