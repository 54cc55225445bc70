//! A fleet run ([`Fleet`]), in three stages a caller can act between:
//!
//! 1. [`Fleet::start`]: the rig's embedded broker (its timeline detached: a fleet's
//!    telemetry would fill it), or its external endpoint ([`FleetBroker`]), and
//!    `fleet-board` with N boards, each of which prints its CSR.
//! 2. [`Fleet::provision`]: the signer CA made ready for the mode, every CSR signed by the
//!    test PKI (and, pre-registered, the certificate registered with its thing and
//!    policy), the certificates and the common credentials sent to the boards, which take
//!    them on their consoles; the thing each board reports is checked.
//! 3. [`Fleet::run`]: power-on, then the boards' events and the broker's tap fed to the
//!    [`Accounting`] until every board sent telemetry (or failed for good) and `run_for`
//!    passed, or until `within` (both board time); `/proc` sampled meanwhile. With a
//!    [`StormOptions`], the reconnect storm follows: once the boards have stayed connected
//!    long enough, the broker drops them all at once and their way back is followed into a
//!    [`StormReport`]. Then the activations are read from the registry, the process and
//!    the broker stopped, and the [`FleetReport`] made.
//!
//! Progress goes to a [`watch`] channel ([`Fleet::progress`]) for whoever shows it.

use super::account::Accounting;
use super::curve::{ConnectionCurve, CurvePoint};
use super::endpoint::FleetBroker;
use super::events::{BoardEventKind, BrokerObservation};
use super::options::{FleetBoard, FleetOptions, FleetProgress, Stage, StormOptions};
use super::process::{FleetProcess, Launch, ProcSample};
use super::report::{FleetProcessFigures, FleetReport, ProcessFigures, WallTimes};
use super::storm::{StormAccount, StormReport};
use crate::broker::embedded::EmbeddedBroker;
use crate::clock::RigClock;
use crate::errors::FleetError;
use crate::pki::TestPki;
use crate::provision::ProvisionMode;
use crate::rig::{AccessPoint, Rig};
use crate::timeline::Timeline;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A fleet run; see the module documentation.
pub struct Fleet {
    options: FleetOptions,
    clock: RigClock,
    pki: Arc<TestPki>,
    broker: FleetBroker,
    ap: AccessPoint,
    process: FleetProcess,
    csrs: Vec<Option<String>>,
    accounting: Accounting,
    boards: Vec<FleetBoard>,
    progress: watch::Sender<FleetProgress>,
    wall: WallTimes,
    rss_at_ready: u64,
    storm: StormAccount,
    curve: ConnectionCurve,
    /// When the power-on command went.
    powered_at: Option<Instant>,
    /// `/proc` of the harness and of the fleet process at the power-on.
    before: (ProcSample, ProcSample),
    /// The storm's report, once there was one.
    storm_report: Option<StormReport>,
    /// When the last board's first telemetry came.
    all_at: Option<Instant>,
    /// The fleet process's last `/proc` sample.
    fleet_sample: ProcSample,
}

/// How long the fleet process may take per board to print its CSR or take its
/// credentials (wall), beyond a fixed minute.
const PER_BOARD: Duration = Duration::from_millis(20);

impl Fleet {
    /// Stage 1: the rig's broker and `fleet-board` with every board's CSR in hand.
    pub async fn start(rig: &Rig, options: FleetOptions) -> Result<Fleet, FleetError> {
        let started = Instant::now();
        if options.boards == 0 {
            return options_error("a fleet has at least one board");
        }
        if options.mode == ProvisionMode::Unregistered {
            return options_error("a fleet is provisioned in jitr, jitp or preregistered mode");
        }
        let clock = match options.speed {
            Some(speed) => RigClock::new(speed)?,
            None => rig.clock,
        };
        let Some(ap) = rig.wifi.values().next().cloned() else {
            return Err(FleetError::Start {
                reason: "the rig has no Wi-Fi access point ([wifi.<name>])".into(),
            });
        };
        let external = matches!(rig.broker, crate::rig::BrokerSpec::External { .. });
        if external {
            if options.storm.is_some() {
                return options_error(
                    "a reconnect storm needs the embedded broker: the harness cannot make an \
                     external endpoint drop the boards",
                );
            }
            if options.mode == ProvisionMode::Preregistered {
                return options_error(
                    "preregistered needs the embedded broker's registry; an external endpoint \
                     registers the fleet by JITR or JITP",
                );
            }
        } else if options.partition.is_some() {
            return options_error(
                "--partition is for an external endpoint that every slice connects to; the \
                 embedded broker is this run's own",
            );
        }
        let (pki, broker) = FleetBroker::start(rig, Timeline::with_clock(clock)).await?;
        let launch = Launch {
            program: options.program.clone(),
            boards: options.boards,
            speed: clock.speed(),
            host: broker.host(),
            join_ms: millis(options.join),
            telemetry_ms: millis(options.telemetry).max(1),
            threads: options.threads,
            flaws: options.flaws.clone(),
        };
        let process = FleetProcess::start(&launch)?;
        let (progress, _) = watch::channel(FleetProgress {
            boards: options.boards,
            ..FleetProgress::default()
        });
        let mut fleet = Fleet {
            accounting: Accounting::new(options.boards),
            csrs: vec![None; options.boards],
            boards: Vec::new(),
            options,
            clock,
            pki,
            broker,
            ap,
            process,
            progress,
            wall: WallTimes::default(),
            rss_at_ready: 0,
            storm: StormAccount::new(0),
            curve: ConnectionCurve::new(0),
            powered_at: None,
            before: Default::default(),
            storm_report: None,
            all_at: None,
            fleet_sample: ProcSample::default(),
        };
        fleet.storm = StormAccount::new(fleet.options.boards);
        fleet.curve = ConnectionCurve::new(fleet.options.boards);
        let limit = Duration::from_secs(60) + PER_BOARD * fleet.options.boards as u32;
        tokio::time::timeout(limit, fleet.read_csrs())
            .await
            .map_err(|_| FleetError::Timeout {
                what: "print every board's CSR",
                after: limit,
            })??;
        fleet.rss_at_ready = ProcSample::read(fleet.process.pid()).map_or(0, |s| s.rss_bytes);
        fleet.wall.start_ms = ms(started.elapsed());
        Ok(fleet)
    }

    /// The embedded broker, for acting on the fleet between stages (revoking a
    /// certificate, say); `None` with an external endpoint.
    pub fn broker(&self) -> Option<&EmbeddedBroker> {
        self.broker.embedded()
    }

    /// The `fleet-board` process's id (`None` once it has been reaped).
    pub fn process_id(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Progress, updated as the run goes.
    pub fn progress(&self) -> watch::Receiver<FleetProgress> {
        self.progress.subscribe()
    }

    /// The provisioned boards (after [`Fleet::provision`]).
    pub fn boards(&self) -> &[FleetBoard] {
        &self.boards
    }

    async fn read_csrs(&mut self) -> Result<(), FleetError> {
        loop {
            let event = self.process.next().await?;
            match (event.board, event.kind) {
                (Some(board), BoardEventKind::Csr { csr, .. }) if board < self.csrs.len() => {
                    self.csrs[board] = Some(csr);
                }
                (None, BoardEventKind::Ready { .. }) => return Ok(()),
                _ => {}
            }
        }
    }

    /// Stage 2: every board provisioned (see the module documentation); returns the
    /// boards whose consoles took their credentials and report the right thing. The others
    /// are failures in the report, with their cause.
    pub async fn provision(&mut self) -> Result<&[FleetBoard], FleetError> {
        let started = Instant::now();
        self.progress.send_modify(|p| p.stage = Stage::Provisioning);
        self.broker.prepare(self.options.mode)?;
        let wifi = if self.ap.auth == "open" {
            self.ap.ssid.clone()
        } else {
            format!("{},{},{}", self.ap.ssid, self.ap.password, self.ap.auth)
        };
        let common = json!({
            "cmd": "common",
            "signer": self.pki.signer.pem,
            "root_ca": self.pki.server_ca.pem,
            "endpoint": self.broker.endpoint(),
            "wifi": wifi,
        });
        self.process.send(&common).await?;
        let mut expected = vec![None; self.csrs.len()];
        let mut waiting = 0;
        for (index, csr) in self.csrs.clone().into_iter().enumerate() {
            let Some(csr) = csr else {
                self.accounting
                    .provisioning_failed(index, "the board printed no CSR");
                continue;
            };
            let device = match self.pki.sign_csr(&csr) {
                Ok(device) => device,
                Err(e) => {
                    self.accounting.provisioning_failed(index, &e.to_string());
                    continue;
                }
            };
            if self.options.mode == ProvisionMode::Preregistered {
                self.broker.preregister(&device.pem, &device.thing)?;
            }
            self.accounting.identify(index, &device.thing, &device.id);
            let certificate = json!({"cmd": "certificate", "board": index, "pem": device.pem});
            self.process.send(&certificate).await?;
            expected[index] = Some((device.thing, device.id));
            waiting += 1;
        }
        let limit = Duration::from_secs(60) + PER_BOARD * self.options.boards as u32;
        let answers = async {
            while waiting > 0 {
                let event = self.process.next().await?;
                let Some(index) = event.board.filter(|&b| b < expected.len()) else {
                    continue;
                };
                match event.kind {
                    BoardEventKind::Provisioned { thing } => match expected[index].take() {
                        Some((want, certificate_id)) if want == thing => {
                            self.boards.push(FleetBoard {
                                index,
                                thing,
                                certificate_id,
                            });
                        }
                        Some((want, _)) => self.accounting.provisioning_failed(
                            index,
                            &format!(
                                "the board reports thing {thing}, its certificate says {want}"
                            ),
                        ),
                        None => continue,
                    },
                    BoardEventKind::ProvisionFailed { .. } | BoardEventKind::BadCommand { .. } => {
                        self.accounting.record(&event);
                        expected[index] = None;
                    }
                    _ => continue,
                }
                waiting -= 1;
                let done = self.options.boards - waiting;
                self.progress.send_modify(|p| p.provisioned = done);
            }
            Ok::<(), FleetError>(())
        };
        tokio::time::timeout(limit, answers)
            .await
            .map_err(|_| FleetError::Timeout {
                what: "take every board's credentials",
                after: limit,
            })??;
        self.boards.sort_by_key(|b| b.index);
        self.wall.provisioning_ms = ms(started.elapsed());
        Ok(&self.boards)
    }

    /// Stage 3: powers the fleet on and measures it, with the reconnect storm if asked
    /// (see the module documentation); the broker and the process are stopped when it
    /// returns.
    pub async fn run(mut self) -> Result<FleetReport, FleetError> {
        self.power_on(self.options.within).await?;
        if let Some(storm) = self.options.storm {
            self.reconnect_storm(storm).await?;
        }
        self.finish().await
    }

    /// Powers the fleet on (spread over `ramp`) and follows it until every board sent
    /// telemetry or failed for good, and `run_for` passed, or until `within` after the
    /// last power-on (board time). Once per fleet.
    pub async fn power_on(&mut self, within: Duration) -> Result<(), FleetError> {
        let pid = self.process.pid();
        self.before = (
            ProcSample::read(None).unwrap_or_default(),
            ProcSample::read(pid).unwrap_or_default(),
        );
        let ramp_ms = millis(self.options.ramp);
        self.process
            .send(&json!({"cmd": "power_on", "ramp_ms": ramp_ms}))
            .await?;
        let started = Instant::now();
        self.powered_at = Some(started);
        self.progress.send_modify(|p| p.stage = Stage::Running);
        let latest = started + self.clock.to_wall(self.options.ramp + within);
        let at_least = started + self.clock.to_wall(self.options.run_for.unwrap_or_default());
        self.pump(at_least, latest.max(at_least), |f| f.accounting.settled())
            .await
    }

    /// Follows the fleet (its events, the broker's tap) for `board_time` more.
    pub async fn follow(&mut self, board_time: Duration) -> Result<(), FleetError> {
        let until = Instant::now() + self.clock.to_wall(board_time);
        self.pump(until, until, |_| true).await
    }

    /// The counts so far.
    pub fn tally(&self) -> super::Tally {
        self.accounting.tally()
    }

    /// A reconnect storm ([`StormOptions`]) after [`Fleet::power_on`]; its report is also
    /// the final report's.
    pub async fn reconnect_storm(
        &mut self,
        options: StormOptions,
    ) -> Result<StormReport, FleetError> {
        let report = self.storm(options).await?;
        self.storm_report = Some(report.clone());
        Ok(report)
    }

    /// Stops the fleet process and the broker, and makes the report.
    pub async fn finish(mut self) -> Result<FleetReport, FleetError> {
        let pid = self.process.pid();
        let (broker_before, fleet_before) = self.before;
        let started = self.powered_at.unwrap_or_else(Instant::now);
        let storm = self.storm_report.take();
        let run_wall = started.elapsed();
        self.wall.run_ms = ms(run_wall);
        let broker_after = ProcSample::read(None).unwrap_or_default();
        let fleet_after = ProcSample::read(pid).unwrap_or(self.fleet_sample);
        self.progress.send_modify(|p| p.stage = Stage::Done);
        let activations = self.activations();
        let tap_events_lost = self.broker.tap_events_lost();
        let broker_observed = self.broker.observed();
        let Fleet {
            options,
            clock,
            broker,
            process,
            accounting,
            wall,
            rss_at_ready,
            curve,
            ..
        } = self;
        process.stop().await;
        broker.shutdown().await;
        let boards = options.boards.max(1) as u64;
        // Fleet times start with the process; the picture's start with the power-on.
        let power_on = accounting
            .boards()
            .iter()
            .filter_map(|b| b.power_on_ms)
            .min();
        let since_power_on = |t: u64| t.saturating_sub(power_on.unwrap_or(0));
        let connections = curve
            .points()
            .into_iter()
            .map(|p| CurvePoint {
                t_ms: since_power_on(p.t_ms),
                ..p
            })
            .collect();
        let storm = storm.map(|s| StormReport {
            dropped_at_ms: s.dropped_at_ms.map(since_power_on),
            ..s
        });
        Ok(FleetReport {
            mode: mode_name(options.mode).into(),
            speed: clock.speed(),
            flaws: options.flaws.clone(),
            partition: options.partition,
            broker_observed,
            tally: accounting.tally(),
            activations,
            storm,
            connections,
            wall,
            broker_process: figures(broker_before, broker_after, run_wall),
            fleet_process: FleetProcessFigures {
                process: figures(fleet_before, fleet_after, run_wall),
                rss_at_ready_bytes: rss_at_ready,
                peak_rss_per_board_bytes: fleet_after.peak_rss_bytes / boards,
            },
            tap_events_lost,
            per_board: accounting.boards().to_vec(),
        })
    }

    /// The reconnect storm ([`StormOptions`]): once the boards with telemetry have stayed
    /// connected `after`, every one of them is dropped at once; then their way back is
    /// followed until all are back or `within` has passed.
    async fn storm(&mut self, options: StormOptions) -> Result<StormReport, FleetError> {
        let settled_at = self.all_at.unwrap_or_else(Instant::now);
        let drop_at = settled_at + self.clock.to_wall(options.after);
        self.pump(drop_at, drop_at, |_| true).await?;
        let things: Vec<String> = self
            .accounting
            .boards()
            .iter()
            .filter(|b| b.first_telemetry_ms.is_some())
            .filter_map(|b| b.thing.clone())
            .collect();
        self.progress.send_modify(|p| p.stage = Stage::Storm);
        self.storm.begin();
        let dropped = self.broker.drop_all(&things).unwrap_or(0);
        let dropped_at = Instant::now();
        let latest = dropped_at + self.clock.to_wall(options.within);
        self.pump(dropped_at, latest, move |f| f.storm.settled(dropped))
            .await?;
        Ok(self.storm.report())
    }

    /// Feeds the boards' events and the broker's tap to the accountings, samples the
    /// fleet process, until `done` holds (from `at_least` on) or `latest`.
    async fn pump(
        &mut self,
        at_least: Instant,
        latest: Instant,
        done: impl Fn(&Fleet) -> bool,
    ) -> Result<(), FleetError> {
        let pid = self.process.pid();
        let mut samples = tokio::time::interval(Duration::from_millis(250));
        loop {
            let end = if done(self) { at_least } else { latest };
            // Checked first: a busy fleet (events always ready) does not keep the run going.
            // The tap and the boards' lines are taken in any order; the accounting matches
            // the two views of one attempt whichever comes first.
            if Instant::now() >= end {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep_until(end) => {}
                Some(observation) = self.broker.next_observation() => {
                    self.on_broker(&observation);
                }
                event = self.process.next() => {
                    let event = event?;
                    self.accounting.record(&event);
                    self.storm.record(&event);
                    self.curve.record(&event);
                    if self.all_at.is_none()
                        && event.kind == BoardEventKind::FirstTelemetry
                        && self.accounting.all_reached_telemetry()
                    {
                        let now = Instant::now();
                        self.all_at = Some(now);
                        let since = self.powered_at.map_or(Duration::ZERO, |at| now - at);
                        self.wall.all_first_telemetry_ms = Some(ms(since));
                    }
                    self.publish_progress();
                }
                _ = samples.tick() => {
                    if let Ok(sample) = ProcSample::read(pid) {
                        self.fleet_sample = sample;
                    }
                }
            }
        }
    }

    fn on_broker(&mut self, observation: &BrokerObservation) {
        if let BrokerObservation::Registered { certificate_id } = observation {
            self.broker.on_registered(certificate_id);
        }
        self.accounting.observe(observation);
    }

    fn publish_progress(&self) {
        let counts = self.accounting.counts();
        let reconnected = self.storm.reconnected();
        self.progress.send_modify(|p| {
            p.connected = counts.connected;
            p.reached_telemetry = counts.reached_telemetry;
            p.failed_attempts = counts.failed_attempts;
            p.reconnected = reconnected;
        });
    }

    /// The fleet's certificates JITR registered that are ACTIVE now (`None` when the
    /// broker's registry is not seen).
    fn activations(&self) -> Option<usize> {
        let registered: Vec<&str> = self
            .accounting
            .boards()
            .iter()
            .filter(|b| b.registered)
            .filter_map(|b| b.certificate_id.as_deref())
            .collect();
        self.broker.active(&registered)
    }
}

fn options_error<T>(reason: &str) -> Result<T, FleetError> {
    Err(FleetError::Options {
        reason: reason.to_owned(),
    })
}

/// The mode's name on the command line.
pub fn mode_name(mode: ProvisionMode) -> &'static str {
    match mode {
        ProvisionMode::Jitr => "jitr",
        ProvisionMode::Jitp => "jitp",
        ProvisionMode::Preregistered => "preregistered",
        ProvisionMode::Unregistered => "unregistered",
    }
}

fn figures(before: ProcSample, after: ProcSample, wall: Duration) -> ProcessFigures {
    let cpu = after.cpu.saturating_sub(before.cpu);
    ProcessFigures {
        cpu_ms: u64::try_from(cpu.as_millis()).unwrap_or(u64::MAX),
        cpu_cores: cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
        rss_bytes: after.rss_bytes,
        peak_rss_bytes: after.peak_rss_bytes,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
