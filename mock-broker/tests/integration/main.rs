//! Integration tests of the mock broker over real sockets and TLS: conformance with
//! rumqttc and Debian's mosquitto clients, TLS refusals, what Device Advisor's TLS cases
//! need (a large chain, 16 KiB records, the cipher suites offered), AWS limits, bad input, faults,
//! persistence, AWS IoT Core's behaviour as measured on the live service, the Jobs
//! service, and a bounded random-bytes test.

mod admin_api;
mod aws_fidelity;
mod aws_fixture;
mod bad_input;
mod conformance;
mod control_plane;
mod data_api;
mod faults;
mod jobs;
mod limits;
mod mosquitto_clients;
mod persistence;
mod random_bytes;
mod runtime_trust;
mod serve_binary;
mod support;
mod tls_cases;
mod tls_negatives;
