//! What a scenario run holds (broker, boards, clients, variables) and the dispatch of one
//! step to its code. Steps take the world by shared reference, so a `parallel` block runs
//! its steps at once: each board and client has its own lock, and a step holds it only
//! while it talks to that board or client.
//!
//! Every duration a step has is board time, waited on through the timeline's clock; the
//! console and the scenario clients wait in wall time, so steps convert with
//! [`World::wall`] and report the board time they were given.

use crate::board::{Board, NoProgress};
use crate::broker::Broker;
use crate::broker::embedded::EmbeddedBroker;
use crate::client::TestClient;
use crate::pki::TestPki;
use crate::provision::hook::ProvisionHook;
use crate::provision::{Delivery, ProvisionMode, Provisioned, provision_by};
use crate::rig::AccessPoint;
use crate::scenario::{ClientSpec, Mode, PublishVia, Scenario, Span, Step};
use crate::timeline::Timeline;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long console steps wait when the scenario gives no timeout (board time).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// What a step saw that it did not expect.
pub(super) struct Mismatch {
    pub(super) expected: String,
    pub(super) seen: String,
}

pub(super) fn mismatch(expected: impl Into<String>, seen: impl Into<String>) -> Mismatch {
    Mismatch {
        expected: expected.into(),
        seen: seen.into(),
    }
}

/// A scenario client: what it is, and its connection once `connect` ran.
pub(super) struct ClientSlot {
    pub(super) spec: ClientSpec,
    pub(super) connection: Mutex<Option<Arc<TestClient>>>,
}

/// Everything a run holds.
pub(super) struct World {
    pub(super) timeline: Arc<Timeline>,
    pub(super) broker: tokio::sync::RwLock<Box<dyn Broker>>,
    pub(super) boards: BTreeMap<String, tokio::sync::Mutex<Box<dyn Board>>>,
    pub(super) clients: BTreeMap<String, ClientSlot>,
    provisioned: Mutex<BTreeMap<String, Provisioned>>,
    variables: Mutex<BTreeMap<String, String>>,
    pub(super) pki: Arc<TestPki>,
    /// The access point each board is provisioned with.
    access_points: BTreeMap<String, AccessPoint>,
    /// The rig's provisioning hooks, by board.
    provision_hooks: BTreeMap<String, ProvisionHook>,
}

impl World {
    /// A world of a started broker and boards, nothing provisioned yet.
    pub(super) fn new(
        scenario: &Scenario,
        timeline: Arc<Timeline>,
        broker: Box<dyn Broker>,
        boards: BTreeMap<String, Box<dyn Board>>,
        pki: Arc<TestPki>,
        access_points: BTreeMap<String, AccessPoint>,
    ) -> Self {
        World {
            timeline,
            broker: tokio::sync::RwLock::new(broker),
            boards: boards
                .into_iter()
                .map(|(name, board)| (name, tokio::sync::Mutex::new(board)))
                .collect(),
            clients: scenario
                .clients
                .iter()
                .map(|(name, spec)| {
                    let slot = ClientSlot {
                        spec: spec.clone(),
                        connection: Mutex::new(None),
                    };
                    (name.clone(), slot)
                })
                .collect(),
            provisioned: Mutex::new(BTreeMap::new()),
            variables: Mutex::new(BTreeMap::new()),
            pki,
            access_points,
            provision_hooks: BTreeMap::new(),
        }
    }

    /// The world with the rig's provisioning hooks: those boards get their credentials
    /// from the hook, not the console.
    pub(super) fn with_provision_hooks(mut self, hooks: BTreeMap<String, ProvisionHook>) -> Self {
        self.provision_hooks = hooks;
        self
    }

    /// The board `name`, locked for this step.
    pub(super) async fn board(
        &self,
        name: &Span<String>,
    ) -> Result<tokio::sync::MutexGuard<'_, Box<dyn Board>>, Mismatch> {
        match self.boards.get(name.get()) {
            Some(board) => Ok(board.lock().await),
            None => Err(mismatch(
                format!("board {}", name.get()),
                "no such board in the rig",
            )),
        }
    }

    /// The wall time a scenario's board-time duration lasts on this rig (for the console
    /// and the scenario clients, which wait in wall time).
    pub(super) fn wall(&self, board: Duration) -> Duration {
        self.timeline.clock().to_wall(board)
    }

    /// The variables known so far.
    pub(super) fn variables(&self) -> BTreeMap<String, String> {
        self.variables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets a variable (`dut.thing`, `ca.id`, ...).
    pub(super) fn set_variable(&self, name: String, value: String) {
        let mut variables = self.variables.lock().unwrap_or_else(|p| p.into_inner());
        variables.insert(name, value);
    }

    /// What provisioning produced for `board`.
    pub(super) fn provisioned(&self, board: &Span<String>) -> Result<Provisioned, Mismatch> {
        let provisioned = self.provisioned.lock().unwrap_or_else(|p| p.into_inner());
        provisioned.get(board.get()).cloned().ok_or_else(|| {
            mismatch(
                "a provisioned board",
                format!("{} was not provisioned", board.get()),
            )
        })
    }

    /// The embedded broker, for a step that needs AWS IoT's control plane or faults.
    pub(super) fn registry<'a>(
        broker: &'a dyn Broker,
        what: &str,
    ) -> Result<&'a EmbeddedBroker, Mismatch> {
        broker.embedded().ok_or_else(|| {
            mismatch(
                format!("a broker that can {what}"),
                format!("the {} broker cannot", broker.kind()),
            )
        })
    }

    /// Runs one step of `scenario` (which also resolves the files a step names).
    pub(super) async fn run_step(&self, scenario: &Scenario, step: &Step) -> Result<(), Mismatch> {
        match step {
            Step::Provision(s) => self.provision(&s.board, s.mode).await,
            Step::Flash(s) => self
                .board(&s.board)
                .await?
                .flash(s.erase, &NoProgress)
                .await
                .map_err(|e| mismatch("the board flashed", e.to_string())),
            Step::Erase(s) => self
                .board(&s.board)
                .await?
                .erase()
                .await
                .map_err(|e| mismatch("the board's flash erased", e.to_string())),
            Step::Reset(s) => self
                .board(&s.board)
                .await?
                .reset()
                .await
                .map_err(|e| mismatch("reset", e.to_string())),
            Step::PowerCycle(s) => self
                .board(&s.board)
                .await?
                .power_cycle()
                .await
                .map_err(|e| mismatch("power cycle", e.to_string())),
            Step::Command(s) => self.command(s).await,
            Step::Send(s) => {
                let mut board = self.board(&s.board).await?;
                let console = board.console();
                console.discard_output();
                console
                    .send(&s.line)
                    .map_err(|e| mismatch(format!("`{}` sent", s.line), e.to_string()))
            }
            Step::Expect(s) => {
                let within = Scenario::checked_duration(&s.within);
                self.board(&s.board)
                    .await?
                    .console()
                    .expect(s.regex.get(), self.wall(within))
                    .await
                    .map(drop)
                    .map_err(|e| {
                        mismatch(
                            format!("console output matching /{}/", s.regex.get()),
                            e.with_timeout(within).to_string(),
                        )
                    })
            }
            Step::ExpectLed(s) => self.expect_led(s).await,
            Step::ExpectMessage(s) => self.expect_message(scenario, s).await,
            Step::ExpectNoMessage(s) => self.expect_no_message(s).await,
            Step::Publish(s) => self.publish(s).await,
            Step::Wait(s) => {
                self.timeline
                    .clock()
                    .sleep(Scenario::checked_duration(&s.for_))
                    .await;
                Ok(())
            }
            Step::WifiDown(s) | Step::WifiUp(s) => {
                let up = matches!(step, Step::WifiUp(_));
                let ssid = self.ap_for(s.board.get())?.ssid;
                let mut board = self.board(&s.board).await?;
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
                let mut board = self.board(&s.board).await?;
                let environment = board.environment().ok_or_else(|| {
                    mismatch("control of the sensors", "this board has no environment")
                })?;
                environment
                    .set_sensors(s.light, s.temp)
                    .await
                    .map_err(|e| mismatch("sensor values set", e.to_string()))
            }
            Step::Fault(s) => self.fault(s).await,
            Step::BrokerRestart(_) => {
                let mut broker = self.broker.write().await;
                let kind = broker.kind();
                let embedded = broker.embedded_mut().ok_or_else(|| {
                    mismatch(
                        "a broker the harness can restart",
                        format!("the {kind} broker"),
                    )
                })?;
                embedded
                    .restart()
                    .await
                    .map_err(|e| mismatch("the broker restarts on its port", e.to_string()))
            }
            Step::ExpectBackoff(s) => self.expect_backoff(s).await,
            Step::ExpectRetry(s) => self.expect_retry(s).await,
            Step::ExpectPacket(s) => self.expect_packet(s).await,
            Step::LongDuration(s) => self.long_duration(s).await,
            Step::ExpectCipherSuites(s) => self.expect_cipher_suites(s).await,
            Step::Certificate(s) => self.certificate(s).await,
            Step::Ca(s) => self.ca(s).await,
            Step::Policy(s) => self.policy(s).await,
            Step::Connect(s) => self.connect(s).await,
            Step::Subscribe(s) => self.subscribe(s).await,
            Step::ExpectDisconnected(s) => self.expect_disconnected(s).await,
            Step::Snapshot(s) => self.snapshot(scenario, s),
            Step::Job(s) => self.create_job(s).await,
            Step::ExpectJob(s) => self.expect_job(s).await,
            Step::Parallel(steps) => self.parallel(scenario, steps).await,
            // Validation keeps them to scenarios with a `[fleet]`, which `fleet_run` runs.
            Step::FleetPowerOn(_) | Step::FleetStorm(_) | Step::ExpectFleet(_) => Err(mismatch(
                "a scenario with a [fleet] section",
                "a fleet step in a scenario of boards",
            )),
        }
    }

    /// Runs the steps of a `parallel` block at once. The block fails as soon as one of its
    /// steps does (the others are stopped); it passes when all have.
    async fn parallel(&self, scenario: &Scenario, steps: &[Span<Step>]) -> Result<(), Mismatch> {
        let runs = steps.iter().enumerate().map(|(index, step)| {
            Box::pin(async move {
                self.run_step(scenario, step.get()).await.map_err(|m| {
                    let kind = step.get().kind();
                    mismatch(
                        format!("(parallel step {} {kind}) {}", index + 1, m.expected),
                        m.seen,
                    )
                })
            })
        });
        futures::future::try_join_all(runs).await.map(drop)
    }

    async fn provision(&self, board: &Span<String>, mode: Mode) -> Result<(), Mismatch> {
        let name = board.get().clone();
        let mode = match mode {
            Mode::Jitr => ProvisionMode::Jitr,
            Mode::Jitp => ProvisionMode::Jitp,
            Mode::Preregistered => ProvisionMode::Preregistered,
            Mode::Unregistered => ProvisionMode::Unregistered,
        };
        let ap = self.ap_for(&name)?;
        let mut board = self.board(board).await?;
        let broker = self.broker.read().await;
        let delivery = Delivery::of(self.provision_hooks.get(&name), &self.timeline);
        let done = provision_by(
            board.as_mut(),
            broker.as_ref(),
            &self.pki,
            &ap,
            mode,
            delivery,
        )
        .await
        .map_err(|e| {
            mismatch(
                format!("{name} provisioned"),
                format!("{e}: {}", source_chain(&e)),
            )
        })?;
        self.set_variable(format!("{name}.thing"), done.thing.clone());
        self.set_variable(
            format!("{name}.certificate_id"),
            done.certificate_id.clone(),
        );
        self.set_variable("ca.id".into(), done.ca_id.clone());
        let mut provisioned = self.provisioned.lock().unwrap_or_else(|p| p.into_inner());
        provisioned.insert(name, done);
        Ok(())
    }

    async fn command(&self, s: &crate::scenario::CommandStep) -> Result<(), Mismatch> {
        let within = s
            .within
            .as_ref()
            .map_or(DEFAULT_COMMAND_TIMEOUT, Scenario::checked_duration);
        let reply = self
            .board(&s.board)
            .await?
            .console()
            .command(&s.send, self.wall(within))
            .await
            .map_err(|e| {
                mismatch(
                    format!("a reply to `{}`", s.send),
                    e.with_timeout(within).to_string(),
                )
            })?;
        let Some(pattern) = &s.reply else {
            return Ok(());
        };
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

    async fn publish(&self, s: &crate::scenario::PublishStep) -> Result<(), Mismatch> {
        let topic = s.topic.get().as_str();
        let payload = match (&s.payload, &s.json) {
            (Some(text), _) => text.clone(),
            (None, Some(table)) => crate::scenario::json_of(table).to_string(),
            (None, None) => String::new(),
        };
        let payload = match &s.size {
            Some(size) => super::tls_cases::padded_payload(payload, s.json.is_some(), *size.get())
                .map_err(|why| mismatch(format!("a payload of {} bytes", size.get()), why))?,
            None => payload,
        };
        let qos = if s.qos1 {
            rumqttc::QoS::AtLeastOnce
        } else {
            rumqttc::QoS::AtMostOnce
        };
        let expected = format!("a publish on {topic}");
        match &s.client {
            Some(client) => self
                .connected_client(client)?
                .publish(topic, payload.as_bytes(), qos, s.retain)
                .await
                .map_err(|e| mismatch(expected, e.to_string())),
            None if s.via.as_ref().is_some_and(|v| *v.get() == PublishVia::Http) => {
                let broker = self.broker.read().await;
                let embedded = broker.embedded().ok_or_else(|| {
                    mismatch(
                        expected.clone(),
                        "this broker has no HTTP data plane (the embedded broker has)",
                    )
                })?;
                embedded
                    .publish_over_http(topic, payload.as_bytes(), qos, s.retain)
                    .await
                    .map_err(|e| mismatch(expected, e.to_string()))
            }
            None => self
                .broker
                .read()
                .await
                .publish(topic, payload.as_bytes(), qos, s.retain)
                .await
                .map_err(|e| mismatch(expected, e.to_string())),
        }
    }

    pub(super) fn ap_for(&self, board: &str) -> Result<AccessPoint, Mismatch> {
        self.access_points.get(board).cloned().ok_or_else(|| {
            mismatch(
                format!("a Wi-Fi access point for {board} in the rig"),
                "none",
            )
        })
    }

    /// Stops clients, boards and the broker.
    pub(super) async fn tear_down(self) {
        for (_, slot) in self.clients {
            let connection = slot
                .connection
                .into_inner()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(client) = connection.and_then(Arc::into_inner) {
                client.disconnect().await;
            }
        }
        for (_, board) in self.boards {
            let _ = board.into_inner().shutdown().await;
        }
        self.broker.into_inner().shutdown().await;
    }
}

/// The texts of `error`'s causes, joined by `: ` (empty when it has none).
pub(super) fn source_chain(error: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut source = error.source();
    while let Some(s) = source {
        out.push(s.to_string());
        source = s.source();
    }
    out.join(": ")
}
