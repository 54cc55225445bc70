//! The runner: sets up a rig, runs a scenario's steps, and reports.
//!
//! [`Runner::run`] opens the test PKI, starts the rig's broker and the boards the scenario
//! uses, runs each step with its timeout, and always tears everything down. Before starting
//! anything it checks that the rig can do what the scenario needs; if not, the scenario is
//! [`Outcome::Skipped`] with the reason. A failed step gives a [`Failure`]: what was
//! expected, what was seen, and the timeline around it. Every run writes its timeline to
//! `target/hil/<scenario>/`, as JSON (`timeline.json`) and as a picture (`timeline.svg`).
//!
//! `expect_message` counts messages since the scenario started (so a message that came
//! during an earlier step counts), with its deadline measured from the step's start.

use crate::board::{Board, DEFAULT_SETTLE, NoProgress};
use crate::broker::Broker;
use crate::broker::embedded::EmbeddedBroker;
use crate::led::Pattern;
use crate::pki::TestPki;
use crate::provision::{ProvisionMode, Provisioned, provision};
use crate::rig::{BoardSpec, BrokerSpec, Rig};
use crate::scenario::{Mode, Scenario, Span, Step, substitute};
use crate::timeline::{Entry, Timeline, What};
use message::MessageFilter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod message;
mod start;
pub use message::{Message, json_contains, message_of};
pub use start::{open_pki, start_board, start_broker};

/// How long console steps wait when the scenario gives no timeout.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How much timeline a failure report shows before and after the failure.
pub const REPORT_WINDOW: Duration = Duration::from_secs(5);

/// A failed step.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Step index (from 1).
    pub step: usize,
    /// Step kind.
    pub kind: String,
    /// What the step expected.
    pub expected: String,
    /// What happened instead.
    pub seen: String,
    /// Timeline entries around the failure.
    pub context: Vec<Entry>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "step {} ({}) failed", self.step, self.kind)?;
        writeln!(f, "  expected: {}", self.expected)?;
        writeln!(f, "  seen:     {}", self.seen)?;
        writeln!(f, "  timeline around the failure:")?;
        for entry in &self.context {
            writeln!(f, "    {entry}")?;
        }
        Ok(())
    }
}

/// How a scenario ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step failed (or the rig could not be set up).
    Failed(Box<Failure>),
    /// The rig lacks what the scenario needs.
    Skipped(String),
}

/// One step's timing.
#[derive(Debug, Clone)]
pub struct StepTiming {
    /// Step kind.
    pub kind: String,
    /// How long it took.
    pub duration: Duration,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario id (file stem).
    pub id: String,
    /// Scenario name.
    pub name: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Wall time of the whole run.
    pub duration: Duration,
    /// Steps that ran.
    pub steps: Vec<StepTiming>,
    /// Where the timeline was written.
    pub output: PathBuf,
}

/// Receives progress while a scenario runs.
pub trait Progress: Send + Sync {
    /// A step starts.
    fn step_started(&self, _index: usize, _kind: &str) {}
    /// A step ended.
    fn step_finished(&self, _index: usize, _kind: &str, _passed: bool, _took: Duration) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// Runs scenarios on a rig.
#[derive(Debug, Clone)]
pub struct Runner {
    rig: Rig,
    output_root: PathBuf,
}

/// What a step saw that it did not expect.
struct Mismatch {
    expected: String,
    seen: String,
}

fn mismatch(expected: impl Into<String>, seen: impl Into<String>) -> Mismatch {
    Mismatch {
        expected: expected.into(),
        seen: seen.into(),
    }
}

/// Everything a run holds.
struct World {
    timeline: Arc<Timeline>,
    broker: EmbeddedBroker,
    boards: BTreeMap<String, Box<dyn Board>>,
    provisioned: BTreeMap<String, Provisioned>,
    variables: BTreeMap<String, String>,
    pki: Arc<TestPki>,
    /// The access point each board is provisioned with.
    access_points: BTreeMap<String, crate::rig::AccessPoint>,
}

impl Runner {
    /// A runner for `rig`, writing under `<workspace>/target/hil`.
    pub fn new(rig: Rig) -> Self {
        Runner {
            rig,
            output_root: crate::rig::workspace_root().join("target").join("hil"),
        }
    }

    /// Writes outputs under `root` instead.
    pub fn with_output_root(mut self, root: PathBuf) -> Self {
        self.output_root = root;
        self
    }

    /// Why the rig cannot run `scenario`, if it cannot.
    pub fn unsupported(&self, scenario: &Scenario) -> Option<String> {
        if !matches!(self.rig.broker, BrokerSpec::Embedded { .. }) {
            return Some(format!(
                "the runner drives the embedded broker only; this rig's broker is {}",
                self.rig.broker.kind()
            ));
        }
        for board in &scenario.boards {
            let Some(spec) = self.rig.boards.get(board) else {
                return Some(format!(
                    "the rig {} has no board {board:?}",
                    self.rig.path.display()
                ));
            };
            let emulated = matches!(spec, BoardSpec::Emulated { .. });
            for step in &scenario.steps {
                let needs_environment = matches!(
                    step.get(),
                    Step::WifiDown(_) | Step::WifiUp(_) | Step::SetSensor(_)
                );
                let needs_power = matches!(step.get(), Step::PowerCycle(_));
                let on_board = step.get().board().is_some_and(|b| b.get() == board);
                if on_board && !emulated && (needs_environment || needs_power) {
                    return Some(format!(
                        "step {} needs control of Wi-Fi, sensors or power, which board {board} on this rig does not offer",
                        step.get().kind()
                    ));
                }
            }
        }
        None
    }

    /// Runs `scenario`.
    pub async fn run(&self, scenario: &Scenario, progress: &dyn Progress) -> Report {
        let started = std::time::Instant::now();
        let output = self.output_root.join(scenario.id());
        let mut report = Report {
            id: scenario.id(),
            name: scenario.name.clone(),
            outcome: Outcome::Passed,
            duration: Duration::ZERO,
            steps: Vec::new(),
            output: output.clone(),
        };
        if let Some(reason) = self.unsupported(scenario) {
            report.outcome = Outcome::Skipped(reason);
            return report;
        }
        let timeline = Timeline::new();
        let world = self.set_up(scenario, timeline.clone()).await;
        let mut world = match world {
            Ok(world) => world,
            Err(reason) => {
                report.outcome = Outcome::Failed(Box::new(Failure {
                    step: 0,
                    kind: "set-up".into(),
                    expected: "the rig starts".into(),
                    seen: reason,
                    context: timeline.entries(),
                }));
                report.duration = started.elapsed();
                return report;
            }
        };
        for (index, step) in scenario.steps.iter().enumerate() {
            let number = index + 1;
            let kind = step.get().kind();
            progress.step_started(number, kind);
            timeline.record(What::Step {
                index: number,
                text: kind.to_owned(),
                status: "started".into(),
            });
            let step_start = std::time::Instant::now();
            let result = world.run_step(scenario, step.get()).await;
            let took = step_start.elapsed();
            report.steps.push(StepTiming {
                kind: kind.to_owned(),
                duration: took,
            });
            let passed = result.is_ok();
            let at = timeline.record(What::Step {
                index: number,
                text: kind.to_owned(),
                status: if passed { "passed" } else { "failed" }.into(),
            });
            progress.step_finished(number, kind, passed, took);
            if let Err(m) = result {
                report.outcome = Outcome::Failed(Box::new(Failure {
                    step: number,
                    kind: kind.to_owned(),
                    expected: m.expected,
                    seen: m.seen,
                    context: timeline.around(at, REPORT_WINDOW, Duration::ZERO),
                }));
                break;
            }
        }
        world.tear_down().await;
        if std::fs::create_dir_all(&output).is_ok() {
            let _ = std::fs::write(output.join("timeline.json"), timeline.to_json());
            let picture = crate::svg::render(&scenario.name, &timeline.entries());
            let _ = std::fs::write(output.join("timeline.svg"), picture);
        }
        report.duration = started.elapsed();
        report
    }

    async fn set_up(&self, scenario: &Scenario, timeline: Arc<Timeline>) -> Result<World, String> {
        let (pki, broker) = start_broker(&self.rig, None, timeline.clone()).await?;
        let mut boards: BTreeMap<String, Box<dyn Board>> = BTreeMap::new();
        for name in &scenario.boards {
            let board = start_board(&self.rig, name, &broker, timeline.clone()).await?;
            boards.insert(name.clone(), board);
        }
        let access_points = scenario
            .boards
            .iter()
            .filter_map(|b| Some((b.clone(), self.rig.access_point(b)?.clone())))
            .collect();
        Ok(World {
            timeline,
            broker,
            boards,
            provisioned: BTreeMap::new(),
            variables: BTreeMap::new(),
            pki,
            access_points,
        })
    }
}

/// Is `entry` a TLS handshake the broker finished (accepted or refused)?
fn is_handshake(entry: &Entry) -> bool {
    matches!(&entry.what, What::Broker { event }
        if matches!(event["event"].as_str(), Some("tls_accepted" | "tls_rejected")))
}

/// One connection attempt on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// When the TLS handshake finished (accepted or refused).
    pub start: Duration,
    /// When the connection closed; `None` while it is open. A refused handshake ends
    /// when it starts.
    pub end: Option<Duration>,
}

/// Judges connection attempts: the delays between one attempt's end and the next one's
/// start (the backoff, without the time an attempt took, e.g. a CONNACK timeout) must
/// grow (the later half longer on average than the earlier half) and carry jitter (not a
/// fixed doubling, not all equal).
pub fn backoff_verdict(attempts: &[Attempt]) -> Result<(), String> {
    let delays: Vec<f64> = attempts
        .windows(2)
        .map(|w| {
            w[1].start
                .saturating_sub(w[0].end.unwrap_or(w[0].start))
                .as_secs_f64()
        })
        .collect();
    let shown = delays
        .iter()
        .map(|d| format!("{d:.2}s"))
        .collect::<Vec<_>>()
        .join(", ");
    if delays.len() < 3 {
        return Err(format!("only {} delays ({shown})", delays.len()));
    }
    let half = delays.len() / 2;
    let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len() as f64;
    let (early, late) = (mean(&delays[..half]), mean(&delays[delays.len() - half..]));
    if late <= early {
        return Err(format!("delays do not grow: {shown}"));
    }
    let ratios: Vec<f64> = delays
        .windows(2)
        .filter(|w| w[0] > 0.0)
        .map(|w| w[1] / w[0])
        .collect();
    let fixed_ratio = ratios
        .windows(2)
        .all(|r| (r[1] - r[0]).abs() <= 0.05 * r[0].abs().max(1e-9));
    if fixed_ratio {
        return Err(format!("delays grow without jitter: {shown}"));
    }
    Ok(())
}

impl World {
    fn board(&mut self, name: &Span<String>) -> Result<&mut Box<dyn Board>, Mismatch> {
        self.boards
            .get_mut(name.get())
            .ok_or_else(|| mismatch(format!("board {}", name.get()), "no such board in the rig"))
    }

    /// Runs one step of `scenario` (which also resolves the files a step names).
    async fn run_step(&mut self, scenario: &Scenario, step: &Step) -> Result<(), Mismatch> {
        match step {
            Step::Provision(s) => {
                let name = s.board.get().clone();
                let mode = match s.mode {
                    Mode::Jitr => ProvisionMode::Jitr,
                    Mode::Jitp => ProvisionMode::Jitp,
                    Mode::Preregistered => ProvisionMode::Preregistered,
                    Mode::Unregistered => ProvisionMode::Unregistered,
                };
                let ap = self.ap_for(&name)?;
                let (pki, broker) = (self.pki.clone(), &self.broker);
                let board = self
                    .boards
                    .get_mut(&name)
                    .ok_or_else(|| mismatch(format!("board {name}"), "no such board"))?;
                let done = provision(board.as_mut(), broker, &pki, &ap, mode)
                    .await
                    .map_err(|e| {
                        mismatch(
                            format!("{name} provisioned"),
                            format!("{e}: {}", source_chain(&e)),
                        )
                    })?;
                self.variables
                    .insert(format!("{name}.thing"), done.thing.clone());
                self.variables.insert(
                    format!("{name}.certificate_id"),
                    done.certificate_id.clone(),
                );
                self.variables.insert("ca.id".into(), done.ca_id.clone());
                self.provisioned.insert(name, done);
                Ok(())
            }
            Step::Flash(s) => {
                let erase = s.erase;
                self.board(&s.board)?
                    .flash(erase, &NoProgress)
                    .await
                    .map_err(|e| mismatch("the board flashed", e.to_string()))
            }
            Step::Reset(s) => self
                .board(&s.board)?
                .reset()
                .await
                .map_err(|e| mismatch("reset", e.to_string())),
            Step::PowerCycle(s) => self
                .board(&s.board)?
                .power_cycle()
                .await
                .map_err(|e| mismatch("power cycle", e.to_string())),
            Step::Command(s) => {
                let within = s
                    .within
                    .as_ref()
                    .map_or(DEFAULT_COMMAND_TIMEOUT, Scenario::checked_duration);
                let reply = self
                    .board(&s.board)?
                    .console()
                    .command(&s.send, within)
                    .await
                    .map_err(|e| mismatch(format!("a reply to `{}`", s.send), e.to_string()))?;
                match &s.reply {
                    Some(pattern) => {
                        let regex = regex::Regex::new(pattern.get())
                            .map_err(|e| mismatch("a valid regex", e.to_string()))?;
                        if regex.is_match(&reply) {
                            Ok(())
                        } else {
                            Err(mismatch(
                                format!("a reply matching /{}/", pattern.get()),
                                format!("{reply:?}"),
                            ))
                        }
                    }
                    None => Ok(()),
                }
            }
            Step::Send(s) => {
                let console = self.board(&s.board)?.console();
                console.discard_output();
                console
                    .send(&s.line)
                    .map_err(|e| mismatch(format!("`{}` sent", s.line), e.to_string()))
            }
            Step::Expect(s) => self
                .board(&s.board)?
                .console()
                .expect(s.regex.get(), Scenario::checked_duration(&s.within))
                .await
                .map(drop)
                .map_err(|e| {
                    mismatch(
                        format!("console output matching /{}/", s.regex.get()),
                        e.to_string(),
                    )
                }),
            Step::ExpectLed(s) => self.expect_led(s).await,
            Step::ExpectMessage(s) => self.expect_message(scenario, s).await,
            Step::ExpectNoMessage(s) => {
                let topic = substitute(s.topic.get(), &self.variables);
                let window = Scenario::checked_duration(&s.for_);
                let mut live = self.timeline.subscribe();
                let watching = async {
                    loop {
                        match live.recv().await {
                            Ok(entry) => {
                                if let Some(message) = message_of(&entry)
                                    && message.topic == topic
                                {
                                    return Some(message.payload);
                                }
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(_) => return None,
                        }
                    }
                };
                match tokio::time::timeout(window, watching).await {
                    Ok(Some(payload)) => Err(mismatch(
                        format!("no message on {topic} for {window:?}"),
                        format!("a message: {payload}"),
                    )),
                    _ => Ok(()),
                }
            }
            Step::Publish(s) => {
                let topic = substitute(s.topic.get(), &self.variables);
                let payload = match (&s.payload, &s.json) {
                    (Some(text), _) => substitute(text, &self.variables),
                    (None, Some(table)) => serde_json::to_string(table).unwrap_or_default(),
                    (None, None) => String::new(),
                };
                self.broker
                    .publish(
                        &topic,
                        payload.as_bytes(),
                        if s.qos1 {
                            rumqttc::QoS::AtLeastOnce
                        } else {
                            rumqttc::QoS::AtMostOnce
                        },
                        s.retain,
                    )
                    .await
                    .map_err(|e| mismatch(format!("a publish on {topic}"), e.to_string()))
            }
            Step::Wait(s) => {
                tokio::time::sleep(Scenario::checked_duration(&s.for_)).await;
                Ok(())
            }
            Step::WifiDown(s) | Step::WifiUp(s) => {
                let up = matches!(step, Step::WifiUp(_));
                let ssid = self.ap_for(s.board.get())?.ssid;
                let board = self.board(&s.board)?;
                let environment = board.environment().ok_or_else(|| {
                    mismatch(
                        "control of the access point",
                        "this board has no environment",
                    )
                })?;
                environment.set_wifi(&ssid, up).await.map_err(|e| {
                    mismatch(
                        format!("access point {ssid} {}", if up { "up" } else { "down" }),
                        e.to_string(),
                    )
                })
            }
            Step::SetSensor(s) => {
                let (light, temp) = (s.light, s.temp);
                let board = self.board(&s.board)?;
                let environment = board.environment().ok_or_else(|| {
                    mismatch("control of the sensors", "this board has no environment")
                })?;
                environment
                    .set_sensors(light, temp)
                    .await
                    .map_err(|e| mismatch("sensor values set", e.to_string()))
            }
            Step::Fault(s) => self.fault(s),
            Step::BrokerRestart(_) => self
                .broker
                .restart()
                .await
                .map_err(|e| mismatch("the broker restarts on its port", e.to_string())),
            Step::ExpectBackoff(s) => self.expect_backoff(s).await,
            Step::Certificate(s) => {
                let provisioned = self.provisioned.get(s.board.get()).ok_or_else(|| {
                    mismatch(
                        "a provisioned board",
                        format!("{} was not provisioned", s.board.get()),
                    )
                })?;
                let status = mock_broker::registry::CertificateStatus::parse(s.status.get())
                    .map_err(|e| mismatch("a certificate status", e.to_string()))?;
                self.broker
                    .set_certificate_status(&provisioned.certificate_id, status)
                    .map_err(|e| {
                        mismatch(format!("certificate set {}", s.status.get()), e.to_string())
                    })
            }
        }
    }

    fn ap_for(&self, board: &str) -> Result<crate::rig::AccessPoint, Mismatch> {
        self.access_points.get(board).cloned().ok_or_else(|| {
            mismatch(
                format!("a Wi-Fi access point for {board} in the rig"),
                "none",
            )
        })
    }

    async fn expect_led(&mut self, s: &crate::scenario::ExpectLedStep) -> Result<(), Mismatch> {
        let led = s.led.get().clone();
        let leds = self.board(&s.board)?.leds().clone();
        if let Some(is) = &s.is {
            let on = is.get() == "on";
            let within = s
                .within
                .as_ref()
                .map_or(Duration::ZERO, Scenario::checked_duration);
            return leds
                .wait_solid(&led, on, DEFAULT_SETTLE, within)
                .await
                .map(drop)
                .map_err(|m| mismatch(m.expected, m.seen));
        }
        let window = s
            .for_
            .as_ref()
            .map_or(Duration::ZERO, Scenario::checked_duration);
        if let Some(holds) = &s.holds {
            return leds
                .wait_held(&led, holds.get() == "on", window)
                .await
                .map_err(|m| mismatch(m.expected, m.seen));
        }
        let Some(blink) = &s.blinking else {
            return Ok(());
        };
        let hz = Scenario::checked_range(&blink.hz);
        let duty = blink.duty.as_ref().map(Scenario::checked_range);
        let expected = match duty {
            Some(duty) => format!("{led} blinking at {hz} Hz with duty {duty} for {window:?}"),
            None => format!("{led} blinking at {hz} Hz for {window:?}"),
        };
        match leds.observe(&led, window).await {
            Pattern::Blinking { hz: f, duty: d }
                if hz.contains(f) && duty.is_none_or(|r| r.contains(d)) =>
            {
                Ok(())
            }
            other => Err(mismatch(expected, other.to_string())),
        }
    }

    async fn expect_message(
        &mut self,
        scenario: &Scenario,
        s: &crate::scenario::ExpectMessageStep,
    ) -> Result<(), Mismatch> {
        let topic = substitute(s.topic.get(), &self.variables);
        let within = Scenario::checked_duration(&s.within);
        let wanted = s.count.unwrap_or(1).max(1) as usize;
        let filter = MessageFilter {
            json: s
                .json
                .as_ref()
                .map(|t| serde_json::to_value(t).unwrap_or(Value::Null)),
            regex: match &s.regex {
                Some(r) => Some(
                    regex::Regex::new(r.get())
                        .map_err(|e| mismatch("a valid regex", e.to_string()))?,
                ),
                None => None,
            },
            qos: s.qos.as_ref().map(|q| *q.get()),
            schema: match &s.schema {
                Some(path) => Some((
                    path.get().clone(),
                    Arc::new(
                        scenario
                            .json_schema(path)
                            .map_err(|e| mismatch("a JSON Schema", e.message().to_owned()))?,
                    ),
                )),
                None => None,
            },
            retained: s.retained,
        };
        let description = format!(
            "{wanted} message(s) on {topic} within {within:?}{}",
            filter.describe()
        );
        let mut live = self.timeline.subscribe();
        let mut seen_on_topic: Vec<String> = Vec::new();
        let mut count = 0;
        // Entries recorded between subscribing and reading the history arrive twice.
        let mut last_seq = None;
        for entry in self.timeline.entries() {
            last_seq = Some(entry.seq);
            if let Some(message) = message_of(&entry)
                && message.topic == topic
            {
                if filter.matches(&message) {
                    count += 1;
                }
                seen_on_topic.push(message.payload);
            }
        }
        let deadline = tokio::time::Instant::now() + within;
        while count < wanted {
            match tokio::time::timeout_at(deadline, live.recv()).await {
                Ok(Ok(entry)) if last_seq.is_some_and(|last| entry.seq <= last) => {}
                Ok(Ok(entry)) => {
                    if let Some(message) = message_of(&entry)
                        && message.topic == topic
                    {
                        if filter.matches(&message) {
                            count += 1;
                        }
                        seen_on_topic.push(message.payload);
                    }
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                _ => break,
            }
        }
        if count >= wanted {
            return Ok(());
        }
        let seen = if seen_on_topic.is_empty() {
            let recent: Vec<String> = self
                .timeline
                .entries()
                .iter()
                .filter_map(message_of)
                .map(|m| m.topic)
                .rev()
                .take(5)
                .collect();
            format!("no message on {topic}; recent topics: {recent:?}")
        } else {
            let last: Vec<&String> = seen_on_topic.iter().rev().take(3).collect();
            format!(
                "{count} matching of {} on the topic; last payloads: {last:?}",
                seen_on_topic.len()
            )
        };
        Err(mismatch(description, seen))
    }

    fn thing_of(&self, board: &Span<String>) -> Result<String, Mismatch> {
        self.provisioned
            .get(board.get())
            .map(|p| p.thing.clone())
            .ok_or_else(|| {
                mismatch(
                    "a provisioned board",
                    format!("{} was not provisioned", board.get()),
                )
            })
    }

    fn fault(&mut self, s: &crate::scenario::FaultStep) -> Result<(), Mismatch> {
        use mock_broker::{Target, Withhold};
        let faults = self.broker.faults();
        let target = match &s.board {
            Some(board) => Target::Client(self.thing_of(board)?),
            None => Target::All,
        };
        if let Some(count) = s.withhold_connack {
            faults.withhold_connack(target, count);
        } else if let Some(packet) = &s.withhold {
            let packet = match packet.get().as_str() {
                "puback" => Withhold::Puback,
                "suback" => Withhold::Suback,
                _ => Withhold::Pingresp,
            };
            faults.withhold(target, packet);
        } else if s.disconnect {
            let Target::Client(thing) = target else {
                return Err(mismatch("a board to disconnect", "none named"));
            };
            if !faults.disconnect(&thing) {
                return Err(mismatch(
                    format!("{thing} connected, to be dropped"),
                    "it is not connected",
                ));
            }
        } else if let Some(kind) = &s.server_cert {
            let kind = match kind.get().as_str() {
                "restore" => {
                    faults.restore_server_identity();
                    return Ok(());
                }
                "expired" => crate::pki::BadServerCert::Expired,
                "wrong_name" => crate::pki::BadServerCert::WrongName,
                _ => crate::pki::BadServerCert::Untrusted,
            };
            let names = [self.broker.endpoint(), "localhost", "127.0.0.1"];
            let identity = self
                .pki
                .bad_server(kind, &names)
                .and_then(|cert| cert.server_identity())
                .map_err(|e| mismatch("a bad server certificate", e.to_string()))?;
            faults
                .present_server_identity(&identity)
                .map_err(|e| mismatch("the broker presents it", e.to_string()))?;
        } else if s.clear {
            faults.clear();
        }
        Ok(())
    }

    /// Connection attempts of a certificate so far: when the broker saw each handshake.
    /// Connection attempts (TLS handshakes, accepted or refused) with the board's
    /// certificate after `since`, each with when its connection closed.
    fn attempts_of(&self, certificate_id: &str, since: Duration) -> Vec<Attempt> {
        let entries = self.timeline.entries();
        let mut attempts = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let What::Broker { event } = &entry.what else {
                continue;
            };
            if entry.at <= since || event["certificate_id"].as_str() != Some(certificate_id) {
                continue;
            }
            match event["event"].as_str() {
                Some("tls_rejected") => attempts.push(Attempt {
                    start: entry.at,
                    end: Some(entry.at),
                }),
                Some("tls_accepted") => {
                    let conn = &event["conn"];
                    let end = entries[index + 1..]
                        .iter()
                        .find(|later| {
                            matches!(&later.what, What::Broker { event }
                                if event["event"] == "closed" && &event["conn"] == conn)
                        })
                        .map(|later| later.at);
                    attempts.push(Attempt {
                        start: entry.at,
                        end,
                    });
                }
                _ => {}
            }
        }
        attempts
    }

    /// When the board's last accepted connection before `before` was accepted (zero if
    /// none): the attempts after it are the retries of the current outage.
    fn last_connected(&self, thing: &str, before: Duration) -> Duration {
        self.timeline
            .entries()
            .iter()
            .rev()
            .find(|entry| {
                entry.at <= before
                    && matches!(&entry.what, What::Broker { event }
                        if event["event"] == "connack"
                            && event["client_id"] == thing
                            && event["code"] == "Success")
            })
            .map_or(Duration::ZERO, |entry| entry.at)
    }

    async fn expect_backoff(
        &mut self,
        s: &crate::scenario::ExpectBackoffStep,
    ) -> Result<(), Mismatch> {
        let (id, thing) = self
            .provisioned
            .get(s.board.get())
            .map(|p| (p.certificate_id.clone(), p.thing.clone()))
            .ok_or_else(|| {
                mismatch(
                    "a provisioned board",
                    format!("{} was not provisioned", s.board.get()),
                )
            })?;
        // The retries of the outage under way: the board's connection that succeeded last
        // (before this step) is not one of them, nor is anything before it.
        let since = self.last_connected(&thing, self.timeline.now());
        let wanted = s.attempts as usize;
        let deadline = tokio::time::Instant::now() + Scenario::checked_duration(&s.within);
        let mut live = self.timeline.subscribe();
        loop {
            let attempts = self.attempts_of(&id, since);
            if attempts.len() >= wanted {
                return backoff_verdict(&attempts).map_err(|seen| {
                    mismatch(
                        "connection attempts backing off exponentially with jitter",
                        seen,
                    )
                });
            }
            // Only a new handshake changes the count: wait for one (or for a gap in what
            // was seen) before counting again.
            let handshake = async {
                loop {
                    match live.recv().await {
                        Ok(entry) if is_handshake(&entry) => return true,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return false,
                    }
                }
            };
            match tokio::time::timeout_at(deadline, handshake).await {
                Ok(true) => {}
                _ => {
                    return Err(mismatch(
                        format!("{wanted} connection attempts by {}", s.board.get()),
                        format!(
                            "{} attempts since its last accepted connection",
                            self.attempts_of(&id, since).len()
                        ),
                    ));
                }
            }
        }
    }

    async fn tear_down(self) {
        for (_, board) in self.boards {
            let _ = board.shutdown().await;
        }
        Box::new(self.broker).shutdown().await;
    }
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut source = error.source();
    while let Some(s) = source {
        out.push(s.to_string());
        source = s.source();
    }
    out.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instant attempts (refused handshakes) `list` seconds apart.
    fn secs(list: &[f64]) -> Vec<Attempt> {
        let mut t = 0.0;
        let instant = |t: f64| Attempt {
            start: Duration::from_secs_f64(t),
            end: Some(Duration::from_secs_f64(t)),
        };
        let mut out = vec![instant(0.0)];
        for d in list {
            t += d;
            out.push(instant(t));
        }
        out
    }

    #[test]
    fn the_time_an_attempt_takes_is_not_backoff() {
        // Each attempt waits 10 s for a CONNACK that never comes. Start to start, the
        // attempts are an exact doubling (10.5, 21, 42, 84 s: "without jitter"); the
        // backoff between them (0.5, 11, 32, 74 s) grows with jitter.
        let attempt = |start: f64, end: Option<f64>| Attempt {
            start: Duration::from_secs_f64(start),
            end: end.map(Duration::from_secs_f64),
        };
        let attempts = [
            attempt(0.0, Some(10.0)),
            attempt(10.5, Some(20.5)),
            attempt(31.5, Some(41.5)),
            attempt(73.5, Some(83.5)),
            attempt(157.5, None),
        ];
        assert_eq!(backoff_verdict(&attempts), Ok(()));
        let start_to_start: Vec<Attempt> = attempts
            .iter()
            .map(|a| attempt(a.start.as_secs_f64(), Some(a.start.as_secs_f64())))
            .collect();
        assert!(
            backoff_verdict(&start_to_start)
                .unwrap_err()
                .contains("without jitter")
        );
    }

    #[test]
    fn backoff_verdicts() {
        assert!(
            backoff_verdict(&secs(&[0.4, 1.7, 1.3, 3.3, 6.1])).is_ok(),
            "full jitter"
        );
        assert!(
            backoff_verdict(&secs(&[1.0, 2.0, 4.0, 8.0]))
                .unwrap_err()
                .contains("without jitter")
        );
        assert!(
            backoff_verdict(&secs(&[2.0, 2.1, 1.9, 2.0]))
                .unwrap_err()
                .contains("do not grow")
        );
        assert!(
            backoff_verdict(&secs(&[1.0, 2.0]))
                .unwrap_err()
                .contains("only 2 delays")
        );
    }
}
