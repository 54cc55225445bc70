//! Empty: a build script makes cargo unify the build-dependencies listed in Cargo.toml.

fn main() {}
