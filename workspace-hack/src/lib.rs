//! The workspace-hack crate, managed by `cargo hakari` (see `.config/hakari.toml`).
//!
//! It has no code. Every workspace member depends on it, and its `Cargo.toml` names each
//! dependency with the union of the features any build of the workspace turns on (the
//! harness's, the firmware's, the tests' dev-dependencies'), so `cargo run -p harness`,
//! the harness's own `cargo build -p firmware-under-test` and `cargo test --workspace`
//! all resolve one feature set and compile each dependency once. After changing a
//! dependency, run `cargo hakari generate` (`cargo install cargo-hakari`); `cargo hakari
//! verify` checks it is current.
