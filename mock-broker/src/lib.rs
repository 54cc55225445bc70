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
//! Two layers, one folder each. [`mqtt`] is the MQTT broker: [`mqtt::codec`] frames and
//! validates packets, [`mqtt::core::Core`] is the protocol as a sans-IO state machine
//! (packets and `now` in, actions out), and the server edge owns sockets, TLS, timers and
//! tasks. [`aws`] is AWS IoT Core's services on top of it (registries, JITR/JITP, policies,
//! the Device Shadow, Jobs, the admin API), plugged in through [`mqtt::hooks`] and
//! [`ClientAuth::Verifier`].
//!
//! ```no_run
//! use mock_broker::{BrokerConfig, ClientAuth, MockBroker, ServerIdentity};
//! use std::path::Path;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ServerIdentity::from_pem_files(Path::new("server.pem"), Path::new("server.key"))?;
//! let roots = mock_broker::mqtt::tls::read_certificates(Path::new("client-ca.pem"))?;
//! let broker = MockBroker::start(BrokerConfig::new(server, ClientAuth::TrustRoots(roots))).await?;
//! let mut tap = broker.tap();
//! println!("listening on {}", broker.local_addr());
//! while let Some(event) = tap.next().await {
//!     println!("{}", serde_json::to_string(&*event)?);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod aws;
pub mod dev_pki;
pub mod mqtt;

pub use mqtt::config::BrokerConfig;
pub use mqtt::errors::{CloseReason, StartError, TlsConfigError, Violation};
pub use mqtt::fault_plan::{Target, Withhold};
pub use mqtt::faults::Faults;
pub use mqtt::server::MockBroker;
pub use mqtt::tap::{EventKind, Tap, TapEvent};
pub use mqtt::tls::{ClientAuth, ServerIdentity};
