//! AWS IoT Core's services on top of the MQTT broker ([`crate::mqtt`]).
//!
//! [`control_plane::ControlPlane`] owns the [`registry::Registry`] (CAs, certificates,
//! things, policies) and plugs into the broker through [`crate::mqtt::hooks`]: it decides
//! who may complete the TLS handshake and connect, runs Just-In-Time Registration and
//! Provisioning ([`jitp`]) at CONNECT, evaluates [`policy`] documents for every operation,
//! and closes live connections whose certificate stops being ACTIVE. [`shadow`] is the
//! Device Shadow service, answering `$aws/things/<thing>/shadow/...` like a subscriber.
//! [`jobs`] is the Jobs service: jobs the admin API creates, executed by devices over
//! `$aws/things/<thing>/jobs/...`, plugged in the same way.
//! [`admin_api`] serves the AWS IoT REST API (the control plane, for boto3 and the aws CLI),
//! and [`data_api`] the `iot-data` REST API beside it (Publish, retained messages,
//! shadows).
//! [`certs`] reads X.509 certificates the way these services need them.

pub mod admin_api;
pub mod certs;
pub mod control_plane;
pub mod data_api;
pub mod jitp;
pub mod jobs;
pub mod policy;
pub mod registry;
pub mod shadow;
