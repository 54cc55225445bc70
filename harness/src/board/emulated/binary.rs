//! Where an emulated board's program comes from: the rig's path, `$HIL_EMULATED_BOARD`, or
//! the workspace's target dir, where it is built with cargo (once per process) when it is
//! missing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

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
    if let Some(path) = std::env::var_os("HIL_EMULATED_BOARD") {
        return Ok(PathBuf::from(path));
    }
    let root = crate::rig::workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let path = target.join("debug").join("emulated-board");
    if path.exists() {
        return Ok(path);
    }
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args([
                    "build",
                    "-p",
                    "firmware-under-test",
                    "--bin",
                    "emulated-board",
                ])
                .current_dir(&root)
                .stdin(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run cargo to build emulated-board: {e}"))?;
            if !status.success() {
                return Err(format!("building emulated-board failed ({status})"));
            }
            if path.exists() {
                Ok(path.clone())
            } else {
                Err(format!(
                    "cargo built emulated-board but {} is missing",
                    path.display()
                ))
            }
        })
        .clone()
}
