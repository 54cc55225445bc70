//! A service's state as one JSON file in the broker's state dir: read at start (a missing
//! file is an empty state), written whole after a change through a temporary file and a
//! rename, so a crash leaves the old file or the new one. The Device Shadow and Jobs
//! services keep their state this way.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The state in `dir/file`, or the default when there is no dir or no file.
///
/// # Errors
/// The file exists but cannot be read, or does not parse (the error names the file).
pub fn load<T: DeserializeOwned + Default>(dir: Option<&Path>, file: &str) -> std::io::Result<T> {
    let Some(dir) = dir else {
        return Ok(T::default());
    };
    let path = dir.join(file);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e),
    }
}

/// Writes `state` to `dir/file` (nothing without a dir).
///
/// # Errors
/// Writing or renaming failed.
pub fn save<T: Serialize>(dir: Option<&Path>, file: &str, state: &T) -> std::io::Result<()> {
    let Some(dir) = dir else {
        return Ok(());
    };
    let json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{file}.tmp"));
    std::fs::write(&tmp, json)?;
    std::fs::rename(tmp, dir.join(file))
}
