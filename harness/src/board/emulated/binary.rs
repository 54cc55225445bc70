//! Where an emulated board's program comes from: the rig's path, `$HIL_EMULATED_BOARD`, or
//! the workspace's target dir, where it is built with cargo (once per process) when it is
//! missing. `fleet-board` (`hil fleet`) is found the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

/// Finds `emulated-board`: the rig's path, `$HIL_EMULATED_BOARD`, or the workspace's
/// target dir, where it is built with cargo (once per process) when it is missing.
/// `cargo test --workspace` builds it before any test runs; after changing the firmware,
/// run that (or `cargo build -p firmware-under-test`) so the harness does not use an old
/// binary.
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return if path.exists() {
            Ok(path.to_owned())
        } else {
            Err(format!("{} does not exist", path.display()))
        };
    }
    find_workspace_binary("emulated-board", "HIL_EMULATED_BOARD")
}

/// Finds a binary of the `firmware-under-test` package (`emulated-board`, `fleet-board`):
/// the path in the variable `env`, or `name` in the workspace's target dir, built with
/// cargo (once per process and binary) when it is missing.
pub fn find_workspace_binary(name: &str, env: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let root = crate::rig::workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    if path.exists() {
        return Ok(path);
    }
    static BUILT: Mutex<BTreeMap<String, Result<PathBuf, String>>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(result) = built.get(name) {
        return result.clone();
    }
    let result = build(&root, name, &path);
    built.insert(name.to_owned(), result.clone());
    result
}

/// `cargo build -p firmware-under-test --bin NAME`, which must leave `path`.
fn build(root: &Path, name: &str, path: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command.args(["build", "-p", "firmware-under-test", "--bin", name]);
    without_cargo_run_env(&mut command, std::env::vars_os().map(|(key, _)| key));
    let status = command
        .current_dir(root)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo to build {name}: {e}"))?;
    if !status.success() {
        return Err(format!("building {name} failed ({status})"));
    }
    if path.exists() {
        Ok(path.to_owned())
    } else {
        Err(format!(
            "cargo built {name} but {} is missing",
            path.display()
        ))
    }
}

/// Removes from `command` the variables among `present` that `cargo run` and `cargo test`
/// set for the program they start (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `OUT_DIR`, ...).
/// Build scripts such as ring's ask cargo to rebuild when those change
/// (`rerun-if-env-changed`), so a `cargo build` that inherited them from `hil` would compile
/// ring and every crate above it again, and the user's next `cargo test` would compile
/// them once more.
fn without_cargo_run_env(
    command: &mut std::process::Command,
    present: impl IntoIterator<Item = std::ffi::OsString>,
) {
    const SET_BY_CARGO_RUN: [&str; 8] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    for key in present {
        let Some(name) = key.to_str() else { continue };
        if name.starts_with("CARGO_PKG_") || SET_BY_CARGO_RUN.contains(&name) {
            command.env_remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cargo_build_does_not_inherit_what_cargo_run_set_for_hil() {
        let present = [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "OUT_DIR",
            "CARGO_TARGET_DIR",
            "CARGO_HOME",
            "PATH",
        ];
        let mut command = std::process::Command::new("cargo");
        without_cargo_run_env(&mut command, present.map(std::ffi::OsString::from));
        let mut removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .filter_map(|(key, _)| key.to_str())
            .collect();
        removed.sort_unstable();
        assert_eq!(
            removed,
            [
                "CARGO_MANIFEST_DIR",
                "CARGO_PKG_NAME",
                "CARGO_PKG_VERSION_MAJOR",
                "OUT_DIR"
            ],
            "the target dir, cargo's home and PATH are the user's and stay"
        );
    }
}
