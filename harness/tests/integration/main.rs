//! Harness integration tests: whole flows through the library, without scenario files.

mod container_broker;
mod external_broker;
mod fleet;
mod jitr_end_to_end;
mod mixed_provisioning;
mod mosquitto_broker;
mod provisioning_modes;
mod qemu_board;
mod support;
