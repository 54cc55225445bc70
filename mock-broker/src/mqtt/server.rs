//! The broker's I/O edge: the shared state behind the lock, the clock, the timers of hooks
//! and revocations, and the [`MockBroker`] handle. The listener and the connection tasks
//! are in `connection`.
//!
//! Everything the protocol decides lives in [`crate::mqtt::core::Core`]; this module reads bytes,
//! frames them with [`crate::mqtt::codec`], hands packets to the core under one lock, and carries
//! out the returned actions (packets go to per-connection outboxes, events to the tap).
//! Timers: each connection task sleeps until the core's [`Core::poll_at`] deadline, and until
//! the CONNECT timeout before its first packet. Shutdown (explicit or on drop) closes every
//! connection, stops the tasks, and saves the state dir.

use crate::mqtt::config::BrokerConfig;
use crate::mqtt::core::{Action, Core};
use crate::mqtt::errors::StartError;
use crate::mqtt::fault_plan::FaultPlan;
use crate::mqtt::hooks::{Hooks, Service};
use crate::mqtt::persist::StoredState;
use crate::mqtt::session::ConnId;
use crate::mqtt::tap::{EventKind, Tap, TapSender};
use crate::mqtt::tls::{self, ServerIdentity};
use bytes::Bytes;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::Packet;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a connection task is told to do.
#[derive(Debug)]
pub(super) enum Outgoing {
    Packet(Packet, Duration),
    Close,
}

pub(super) struct State {
    pub(super) core: Core,
    pub(super) outboxes: HashMap<ConnId, mpsc::UnboundedSender<Outgoing>>,
}

/// State shared by the accept loop, the connection tasks and the handles.
/// What faults changed of the broker's TLS configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFaults {
    /// Another server certificate (expired, wrong name, untrusted, large).
    pub(crate) identity: Option<ServerIdentity>,
    /// Only these cipher suites (IANA codes).
    pub(crate) suites: Option<Vec<u16>>,
}

pub(crate) struct Shared {
    /// This `Shared` itself, for tasks it spawns.
    pub(super) me: Weak<Shared>,
    pub(super) state: Mutex<State>,
    pub(super) tap: Arc<TapSender>,
    pub(super) started: Instant,
    pub(super) next_conn: AtomicU64,
    pub(super) hooks: Arc<dyn Hooks>,
    pub(super) services: Vec<Arc<dyn Service>>,
    pub(super) connect_timeout: Duration,
    /// The TLS configuration new connections get; a fault may swap it.
    pub(super) tls_active: RwLock<Arc<ServerConfig>>,
    pub(super) tls_default: Arc<ServerConfig>,
    /// What faults changed of the default (another certificate, fewer cipher suites).
    pub(super) tls_faults: Mutex<TlsFaults>,
    /// The configured server certificate, for a configuration offering fewer suites.
    pub(super) server_identity: ServerIdentity,
    pub(super) client_auth: crate::mqtt::tls::ClientAuth,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) time_scale: f64,
    pub(super) revocation_delay: Duration,
    pub(super) cancel: CancellationToken,
    pub(super) tracker: TaskTracker,
}

impl Shared {
    pub(super) fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a broker bug; keep serving with the state as is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the core under the lock and carries out the actions it returns.
    pub(crate) fn with_core<R>(
        &self,
        f: impl FnOnce(&mut Core, Duration) -> (R, Vec<Action>),
    ) -> R {
        let mut state = self.lock();
        let now = self.now();
        let (result, actions) = f(&mut state.core, now);
        self.apply(&mut state, now, actions);
        result
    }

    pub(super) fn run(&self, f: impl FnOnce(&mut Core, Duration) -> Vec<Action>) {
        self.with_core(|core, now| ((), f(core, now)));
    }

    fn apply(&self, state: &mut State, now: Duration, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send {
                    conn,
                    packet,
                    delay,
                } => {
                    if let Some(outbox) = state.outboxes.get(&conn) {
                        let _ = outbox.send(Outgoing::Packet(packet, delay));
                    }
                }
                Action::Close { conn, .. } => {
                    if let Some(outbox) = state.outboxes.remove(&conn) {
                        let _ = outbox.send(Outgoing::Close);
                    }
                }
                Action::Tap(kind) => self.tap.emit(now, kind),
                Action::Defer(work) => self.defer(work),
            }
        }
    }

    /// Publishes what a hook asked for, and schedules its deferred work.
    pub(super) fn run_hook_effects(
        &self,
        publish: Vec<crate::mqtt::hooks::BrokerMessage>,
        deferred: Vec<crate::mqtt::hooks::Deferred>,
    ) {
        self.publish_messages(publish);
        for work in deferred {
            self.defer(work);
        }
    }

    /// Runs a hook's work after its delay (scaled by the time scale) on the broker's tasks,
    /// publishing what it returns; cancelled at shutdown.
    fn defer(&self, work: crate::mqtt::hooks::Deferred) {
        let Some(shared) = self.me.upgrade() else {
            return;
        };
        let delay = work.after.mul_f64(self.time_scale.max(0.0));
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(delay) => {
                    let messages = (work.run)();
                    shared.publish_messages(messages);
                }
            }
        });
    }

    /// Closes the connections of certificates the hooks report as revoked, each after the
    /// revocation delay (scaled), until shutdown.
    fn watch_revocations(&self) {
        let (Some(mut revocations), Some(shared)) = (self.hooks.revocations(), self.me.upgrade())
        else {
            return;
        };
        let delay = self.revocation_delay.mul_f64(self.time_scale.max(0.0));
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            loop {
                let which = tokio::select! {
                    _ = cancel.cancelled() => return,
                    received = revocations.recv() => match received {
                        Ok(certificate_id) => Some(certificate_id),
                        // Missed some: look at every connection.
                        Err(broadcast::error::RecvError::Lagged(_)) => None,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                };
                let later = shared.clone();
                let cancel = cancel.clone();
                shared.tracker.spawn(async move {
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = tokio::time::sleep(delay) => {
                            later.run(|core, now| core.revalidate(which.as_deref(), now));
                        }
                    }
                });
            }
        });
    }

    fn publish_messages(&self, messages: Vec<crate::mqtt::hooks::BrokerMessage>) {
        for message in messages {
            let payload = Bytes::from(message.payload);
            self.run(|core, now| {
                core.publish(now, &message.topic, payload, QoS::AtLeastOnce, false)
            });
        }
    }

    pub(super) fn emit(&self, kind: EventKind) {
        // Under the lock, so tap order is the core's order.
        let _state = self.lock();
        self.tap.emit(self.now(), kind);
    }

    pub(crate) fn faults<R>(&self, f: impl FnOnce(&mut FaultPlan) -> R) -> R {
        f(self.lock().core.faults_mut())
    }

    /// Changes what faults changed of the TLS configuration for connections accepted from
    /// now on; on an error nothing changes.
    pub(crate) fn change_tls(
        &self,
        change: impl FnOnce(&mut TlsFaults),
    ) -> Result<(), crate::mqtt::errors::TlsConfigError> {
        let mut faults = self.tls_faults.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = faults.clone();
        change(&mut next);
        let config = match (&next.identity, &next.suites) {
            (None, None) => self.tls_default.clone(),
            (identity, suites) => tls::server_config_offering(
                identity.as_ref().unwrap_or(&self.server_identity),
                &self.client_auth,
                suites.as_deref(),
            )?,
        };
        *faults = next;
        *self.tls_active.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// The TLS configuration for a connection accepted now.
    pub(super) fn tls_config(&self) -> Arc<ServerConfig> {
        self.tls_active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Closes every connection, stops the services and saves the state dir. Idempotent.
    fn stop(&self) {
        self.run(|core, now| core.close_all(now));
        for service in &self.services {
            service.stop();
        }
        if let Some(dir) = &self.state_dir {
            let snapshot = StoredState::capture(&self.lock().core);
            if let Err(error) = snapshot.save(dir) {
                tracing::error!(%error, dir = %dir.display(), "cannot save broker state");
            }
        }
    }
}

/// A running mock broker. Dropping it shuts it down (without waiting for its tasks);
/// [`MockBroker::shutdown`] also waits until every connection task has ended.
pub struct MockBroker {
    shared: Arc<Shared>,
    config: BrokerConfig,
    local_addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// The accept loop, which hands its listener back when it stops.
    accept: Option<tokio::task::JoinHandle<TcpListener>>,
    stopped: bool,
}

impl std::fmt::Debug for MockBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBroker")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// What a restarted broker carries over from the run before: its tap, so readers see the
/// restart without a gap, its clock, and its listening socket. The port stays bound across
/// the restart: released, it could be taken in the gap by any client's connect() on the
/// host (an ephemeral local port), and the broker could not listen on it again. A client
/// that connects during the restart waits in the listen backlog and is served by the
/// restarted broker.
struct Carried {
    tap: Arc<TapSender>,
    started: Instant,
    listener: Option<TcpListener>,
}

impl MockBroker {
    /// Binds the listener and starts serving on the current tokio runtime.
    pub async fn start(config: BrokerConfig) -> Result<Self, StartError> {
        Self::start_carrying(config, None).await
    }

    async fn start_carrying(
        mut config: BrokerConfig,
        carried: Option<Carried>,
    ) -> Result<Self, StartError> {
        if config.core.epoch_ms_at_start == 0 {
            config.core.epoch_ms_at_start = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0);
        }
        // Kept with its epoch, so a restart's event times go on from this run's.
        let kept = config.clone();
        let tls_default = tls::server_config(&config.server, &config.client_auth)?;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (tap, started, listener) = match carried {
            Some(Carried {
                tap,
                started,
                listener,
            }) => (tap, started, listener),
            None => (
                Arc::new(TapSender::new(config.tap_capacity)),
                Instant::now(),
                None,
            ),
        };
        let mut core = Core::new(config.core.clone(), config.hooks.clone());
        for service in &config.services {
            core.add_service(service.clone());
        }
        if let Some(dir) = &config.state_dir {
            std::fs::create_dir_all(dir).map_err(|source| StartError::StateDir {
                path: dir.clone(),
                source,
            })?;
            StoredState::load(dir)?.apply(&mut core, started.elapsed());
        }
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?,
        };
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            state: Mutex::new(State {
                core,
                outboxes: HashMap::new(),
            }),
            tap,
            started,
            next_conn: AtomicU64::new(1),
            hooks: config.hooks,
            services: config.services,
            connect_timeout: config.connect_timeout,
            tls_active: RwLock::new(tls_default.clone()),
            tls_default,
            tls_faults: Mutex::default(),
            server_identity: config.server,
            client_auth: config.client_auth,
            state_dir: config.state_dir,
            time_scale: config.core.time_scale,
            revocation_delay: config.revocation_delay,
            cancel: cancel.clone(),
            tracker: tracker.clone(),
        });
        shared.watch_revocations();
        let accept = tracker.spawn(super::connection::accept_loop(
            listener,
            shared.clone(),
            cancel.clone(),
            tracker.clone(),
        ));
        tracing::info!(%local_addr, "mock-broker listening");
        Ok(MockBroker {
            shared,
            config: kept,
            local_addr,
            cancel,
            tracker,
            accept: Some(accept),
            stopped: false,
        })
    }

    /// The address the broker listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A new reader of the broker's events, from now on.
    pub fn tap(&self) -> Tap {
        self.shared.tap.subscribe()
    }

    /// A handle for other services of this process (the HTTP data plane): publish as the
    /// broker, read retained messages. It does not keep the broker alive.
    pub fn handle(&self) -> crate::mqtt::handle::BrokerHandle {
        crate::mqtt::handle::BrokerHandle::new(Arc::downgrade(&self.shared))
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> crate::Faults {
        crate::Faults::new(self.shared.clone())
    }

    /// Publishes a message as the broker itself (as AWS IoT Core publishes its events).
    pub fn publish(&self, topic: &str, payload: impl Into<Bytes>, qos: QoS, retain: bool) {
        let payload = payload.into();
        self.shared
            .run(|core, now| core.publish(now, topic, payload, qos, retain));
    }

    /// How many client connections are open (after their TLS handshake).
    pub fn connection_count(&self) -> usize {
        self.shared.lock().core.connection_count()
    }

    /// Restarts the broker on the same address (the same listening socket, see
    /// `Carried`), as a server restart would: every
    /// connection is dropped, the state dir is saved and read back (retained messages,
    /// persistent sessions, shadows), faults are cleared. Existing taps go on: they see
    /// the closes, then the restarted broker's events (a client that reconnects at once
    /// included), numbered and timed on from before.
    pub async fn restart(&mut self) -> Result<(), StartError> {
        let mut config = self.config.clone();
        config.listen = self.local_addr;
        self.stop();
        self.tracker.close();
        self.tracker.wait().await;
        let listener = match self.accept.take() {
            Some(accept) => accept.await.ok(),
            None => None,
        };
        let carried = Carried {
            tap: self.shared.tap.clone(),
            started: self.shared.started,
            listener,
        };
        *self = MockBroker::start_carrying(config, Some(carried)).await?;
        Ok(())
    }

    /// Closes every connection, waits for all tasks to end, and saves the state dir.
    pub async fn shutdown(mut self) {
        self.stop();
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.shared.stop();
            self.cancel.cancel();
        }
    }
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
