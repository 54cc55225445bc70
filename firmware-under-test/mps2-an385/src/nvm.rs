//! Non-volatile memory: the provisioned credentials in `nvm.json`, a host file kept
//! through semihosting ([`crate::host`]), so they survive a reset and QEMU itself.
//!
//! The format is the emulated board's (`firmware-under-test/EMULATED_BOARD.md`, "State
//! dir"): the certificates, thing name, endpoint and Wi-Fi credentials as JSON. Saving
//! replaces the file atomically. An unreadable or corrupt file is reported on the host's
//! standard error and read as empty flash, as the emulated board does. `erase` is the
//! core's: it empties the credentials and asks for a save, which writes a file of nulls.
//! The device key is not here; it belongs to [`crate::secure_element`].

use crate::host::{self, HostError};
use firmware_under_test::credentials::Credentials;
use firmware_under_test::stored;

/// The file, relative to QEMU's working directory (the board's state dir).
pub const NVM_FILE: &str = stored::NVM_FILE;

/// Reads the saved credentials (empty when nothing was saved or the file is unreadable).
pub fn load() -> Credentials {
    match host::read(NVM_FILE) {
        Ok(bytes) => stored::from_json(&bytes).unwrap_or_else(|_| {
            host::diagnostic(format_args!("{NVM_FILE} is corrupt; starting blank"));
            Credentials::default()
        }),
        Err(HostError::NotFound) => Credentials::default(),
        Err(e) => {
            host::diagnostic(format_args!("cannot read {NVM_FILE}: {e}; starting blank"));
            Credentials::default()
        }
    }
}

/// Saves `credentials`, atomically.
pub fn save(credentials: &Credentials) -> Result<(), HostError> {
    host::replace(NVM_FILE, &stored::to_json(credentials))
}
