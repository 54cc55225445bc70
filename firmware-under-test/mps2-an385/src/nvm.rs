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
use alloc::string::{String, ToString};
use firmware_under_test::credentials::{
    Credentials, Endpoint, Pem, ThingName, WifiAuth, WifiCredentials,
};
use serde::{Deserialize, Serialize};

/// The file, relative to QEMU's working directory (the board's state dir).
pub const NVM_FILE: &str = "nvm.json";

#[derive(Default, Serialize, Deserialize)]
struct Stored {
    device_cert: Option<String>,
    thing: Option<String>,
    signer: Option<String>,
    root_ca: Option<String>,
    endpoint: Option<(String, u16)>,
    wifi: Option<(String, String, String)>,
}

/// Reads the saved credentials (empty when nothing was saved or the file is unreadable).
pub fn load() -> Credentials {
    let stored: Stored = match host::read(NVM_FILE) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            host::diagnostic(format_args!("{NVM_FILE} is corrupt; starting blank"));
            Stored::default()
        }),
        Err(HostError::NotFound) => Stored::default(),
        Err(e) => {
            host::diagnostic(format_args!("cannot read {NVM_FILE}: {e}; starting blank"));
            Stored::default()
        }
    };
    let pem = |s: Option<String>| s.and_then(|s| Pem::try_from(s.as_str()).ok());
    Credentials {
        device_cert: pem(stored.device_cert),
        thing: stored
            .thing
            .and_then(|t| ThingName::try_from(t.as_str()).ok()),
        signer: pem(stored.signer),
        root_ca: pem(stored.root_ca),
        endpoint: stored.endpoint.and_then(|(host, port)| {
            Some(Endpoint {
                host: heapless::String::try_from(host.as_str()).ok()?,
                port,
            })
        }),
        wifi: stored.wifi.and_then(|(ssid, password, auth)| {
            Some(WifiCredentials {
                ssid: heapless::String::try_from(ssid.as_str()).ok()?,
                password: heapless::String::try_from(password.as_str()).ok()?,
                auth: WifiAuth::from_name(&auth)?,
            })
        }),
    }
}

/// Saves `credentials`, atomically.
pub fn save(credentials: &Credentials) -> Result<(), HostError> {
    let stored = Stored {
        device_cert: credentials.device_cert.as_ref().map(|p| p.to_string()),
        thing: credentials.thing.as_ref().map(|t| t.to_string()),
        signer: credentials.signer.as_ref().map(|p| p.to_string()),
        root_ca: credentials.root_ca.as_ref().map(|p| p.to_string()),
        endpoint: credentials
            .endpoint
            .as_ref()
            .map(|e| (e.host.to_string(), e.port)),
        wifi: credentials.wifi.as_ref().map(|w| {
            (
                w.ssid.to_string(),
                w.password.to_string(),
                w.auth.name().to_string(),
            )
        }),
    };
    // Serialising these types cannot fail; an error would only mean no memory.
    let json = serde_json::to_vec_pretty(&stored).map_err(|_| HostError::TooLarge)?;
    host::replace(NVM_FILE, &json)
}
