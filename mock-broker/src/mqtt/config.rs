//! Settings of a [`crate::MockBroker`].
//!
//! [`BrokerConfig::new`] takes the two things every broker needs (its TLS identity and how
//! client certificates are checked) and fills the rest with AWS IoT Core's defaults; the
//! public fields can then be changed before [`crate::MockBroker::start`].

use crate::mqtt::core::CoreConfig;
use crate::mqtt::hooks::{AllowAll, Hooks, Service};
use crate::mqtt::tls::{ClientAuth, ServerIdentity};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Default capacity of the tap: a reader may fall this many events behind before it loses
/// any.
pub const DEFAULT_TAP_CAPACITY: usize = 65_536;

/// Default [`BrokerConfig::revocation_delay`]: 200 ms.
pub const DEFAULT_REVOCATION_DELAY: Duration = Duration::from_millis(200);

/// Settings of a broker.
#[derive(Clone)]
pub struct BrokerConfig {
    /// Where to listen; port 0 picks a free port (see [`crate::MockBroker::local_addr`]).
    pub listen: SocketAddr,
    /// Certificate chain and key presented to clients.
    pub server: ServerIdentity,
    /// How client certificates are verified.
    pub client_auth: ClientAuth,
    /// Identity and authorization hooks ([`AllowAll`] by default).
    pub hooks: Arc<dyn Hooks>,
    /// Services that answer messages like subscribers (AWS's Device Shadow); none by
    /// default.
    pub services: Vec<Arc<dyn Service>>,
    /// Protocol timers and their time scale.
    pub core: CoreConfig,
    /// How long a client has, from TCP accept, to finish TLS and send CONNECT.
    pub connect_timeout: Duration,
    /// How long after a certificate (or its CA) stops being ACTIVE its live connections are
    /// closed, before the time scale (AWS: "within minutes"; here, at once for tests).
    pub revocation_delay: Duration,
    /// Events a tap reader may fall behind before it loses the oldest.
    pub tap_capacity: usize,
    /// Where retained messages and persistent sessions are kept across restarts.
    pub state_dir: Option<PathBuf>,
}

impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("listen", &self.listen)
            .field("core", &self.core)
            .field("connect_timeout", &self.connect_timeout)
            .field("tap_capacity", &self.tap_capacity)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

impl BrokerConfig {
    /// A broker on `127.0.0.1:0` with AWS IoT Core's defaults and no state dir.
    pub fn new(server: ServerIdentity, client_auth: ClientAuth) -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server,
            client_auth,
            hooks: Arc::new(AllowAll),
            services: Vec::new(),
            core: CoreConfig::default(),
            connect_timeout: Duration::from_secs(10),
            revocation_delay: DEFAULT_REVOCATION_DELAY,
            tap_capacity: DEFAULT_TAP_CAPACITY,
            state_dir: None,
        }
    }
}
