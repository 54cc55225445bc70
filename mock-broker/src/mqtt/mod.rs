//! The MQTT 3.1.1 broker: everything AWS IoT Core's data plane does with packets, and
//! nothing of its services.
//!
//! Bytes become packets in [`codec`], which also refuses what MQTT 3.1.1 forbids (reserved
//! flags, QoS 3, a packet id of 0, ...); [`core::Core`] is the protocol as a sans-IO state
//! machine (sessions, routing, retained messages, keep-alive, the AWS IoT Core rules for
//! topics and limits); the server edge (sockets, TLS, timers, tasks) is
//! [`crate::MockBroker`]. [`tap`] reports every event, [`crate::Faults`] arms the faults AWS
//! IoT Device Advisor tests for, and [`persist`] keeps retained messages and persistent sessions
//! across restarts.
//!
//! AWS IoT Core's services ([`crate::aws`]) plug in through [`hooks`]: who a client is and
//! whether it may connect ([`hooks::Hooks`]), what each operation is allowed to do, and
//! services that answer messages like subscribers ([`hooks::Service`]). This layer never
//! names a registry, a policy or a shadow.

pub mod codec;
pub(crate) mod config;
pub(crate) mod connection;
pub mod core;
pub mod errors;
pub mod fault_plan;
pub(crate) mod faults;
pub mod handle;
pub mod hooks;
pub mod persist;
pub(crate) mod server;
pub mod session;
pub mod subscriptions;
pub mod tap;
pub mod tls;
pub mod tls_policy;
pub mod topic;
pub mod validate;
