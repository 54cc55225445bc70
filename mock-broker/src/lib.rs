//! A local stand-in for AWS IoT Core's MQTT data plane, for hardware-in-the-loop tests.
//!
//! [`MockBroker`] speaks MQTT 3.1.1 over mutual TLS the way AWS IoT Core does, including
//! where AWS differs from the MQTT specification (no QoS 2, retained messages only for
//! exact-match subscriptions, `a/#` not matching `a`, its size and keep-alive limits, and
//! the reserved `$aws/events/` topics). Each rule broken closes that one connection, and
//! every event — handshakes, packets in and out, withheld packets, closes with their
//! reason — goes on the [`Tap`]. [`Faults`] arms the faults AWS IoT Device Advisor tests
//! for.
//!
//! The layers: [`core::Core`] is the protocol as a sans-IO state machine (packets and `now`
//! in, actions out); [`codec`] frames bytes with rumqttc's MQTT 3.1.1 codec; the server
//! edge owns sockets, TLS, timers and tasks. The control plane (registries, JITR, policies)
//! plugs in through [`hooks::Hooks`] and [`ClientAuth::Verifier`].
//!
//! ```no_run
//! use mock_broker::{BrokerConfig, ClientAuth, MockBroker, ServerIdentity};
//! use std::path::Path;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ServerIdentity::from_pem_files(Path::new("server.pem"), Path::new("server.key"))?;
//! let roots = mock_broker::tls::read_certificates(Path::new("client-ca.pem"))?;
//! let broker = MockBroker::start(BrokerConfig::new(server, ClientAuth::TrustRoots(roots))).await?;
//! let mut tap = broker.tap();
//! println!("listening on {}", broker.local_addr());
//! while let Some(event) = tap.next().await {
//!     println!("{}", serde_json::to_string(&*event)?);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod admin_api;
pub mod certs;
pub mod codec;
mod config;
pub mod control_plane;
pub mod core;
pub mod dev_pki;
mod errors;
pub mod fault_plan;
mod faults;
pub mod hooks;
pub mod jitp;
pub mod persist;
pub mod policy;
pub mod registry;
mod server;
pub mod session;
pub mod shadow;
pub mod tap;
pub mod tls;
pub mod topic;

pub use config::BrokerConfig;
pub use errors::{CloseReason, StartError, TlsConfigError, Violation};
pub use fault_plan::{Target, Withhold};
pub use faults::Faults;
pub use server::MockBroker;
pub use tap::{EventKind, Tap, TapEvent};
pub use tls::{ClientAuth, ServerIdentity};
