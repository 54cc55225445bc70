//! Emulated flash: the provisioning data, kept as JSON in `<state dir>/nvm.json` across
//! resets and power cycles. Written atomically; an unreadable file is reported and treated
//! as empty flash rather than crashing the board.

use firmware_under_test::credentials::{
    Credentials, Endpoint, Pem, ThingName, WifiAuth, WifiCredentials,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const NVM_FILE: &str = "nvm.json";

#[derive(Default, Serialize, Deserialize)]
struct Stored {
    device_cert: Option<String>,
    thing: Option<String>,
    signer: Option<String>,
    root_ca: Option<String>,
    endpoint: Option<(String, u16)>,
    wifi: Option<(String, String, String)>,
}

/// The flash file of one board.
pub struct Nvm {
    path: PathBuf,
}

impl Nvm {
    /// The flash of the board whose state dir is `dir`.
    pub fn new(dir: &Path) -> Self {
        Nvm {
            path: dir.join(NVM_FILE),
        }
    }

    /// Reads the saved credentials (empty when nothing was saved).
    pub fn load(&self) -> Credentials {
        let stored: Stored = match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                eprintln!(
                    "emulated-board: {} is corrupt ({e}); starting blank",
                    self.path.display()
                );
                Stored::default()
            }),
            Err(_) => Stored::default(),
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
    pub fn save(&self, credentials: &Credentials) -> std::io::Result<()> {
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
                    w.auth.name().to_owned(),
                )
            }),
        };
        let tmp = self.path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            // The Wi-Fi passphrase is in here: owner only.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&json)?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}
