//! Emulated flash: the provisioning data, kept as JSON in `<state dir>/nvm.json` across
//! resets and power cycles. Written atomically; an unreadable file is reported and treated
//! as empty flash rather than crashing the board.

use firmware_under_test::credentials::Credentials;
use firmware_under_test::stored::{self, NVM_FILE};
use std::path::{Path, PathBuf};

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
        match std::fs::read(&self.path) {
            Ok(bytes) => stored::from_json(&bytes).unwrap_or_else(|e| {
                eprintln!(
                    "emulated-board: {} is corrupt ({e}); starting blank",
                    self.path.display()
                );
                Credentials::default()
            }),
            Err(_) => Credentials::default(),
        }
    }

    /// Saves `credentials`, atomically.
    pub fn save(&self, credentials: &Credentials) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let json = stored::to_json(credentials);
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
