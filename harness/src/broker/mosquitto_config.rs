//! The Mosquitto configuration the harness writes from its test PKI, shared by the
//! `mosquitto` (process) and `container` backends.
//!
//! Mutual TLS like AWS IoT Core: a client certificate is required and must chain to the
//! test PKI (root and signer for devices, the operator CA for the harness's own client);
//! the certificate's common name is the username (`use_identity_as_username`). The ACL lets
//! each client publish and subscribe only under its own client id (`<id>/#`, and its
//! shadow topics `$aws/things/<id>/#`), and the operator everywhere.
//!
//! [`ConfigDir::write`] lays the files out in a folder that the user Mosquitto drops to
//! can read: the folder and certificates are world-readable, and the server key, at mode
//! 0600, is given to that user when the harness runs as root.

use crate::errors::BrokerError;
use crate::pki::{TestPki, write_private};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The user Debian's and the official image's Mosquitto drops to when started as root.
pub const MOSQUITTO_USER: &str = "mosquitto";

/// The operator certificate's common name: Mosquitto's username for the harness client.
pub use crate::pki::OPERATOR_COMMON_NAME as OPERATOR_USERNAME;

/// `mosquitto.conf` for one TLS listener on `bind:port`, with its files under `dir` (as
/// Mosquitto will see them: a host path, or a path inside a container).
pub fn mosquitto_conf(dir: &str, bind: &str, port: u16) -> String {
    format!(
        "# Written by the HIL harness: mutual TLS against the test PKI, AWS-like ACL.
per_listener_settings false
allow_anonymous false
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
acl_file {dir}/acl

listener {port} {bind}
cafile {dir}/ca.pem
certfile {dir}/server.pem
keyfile {dir}/server.key
require_certificate true
use_identity_as_username true
"
    )
}

/// The ACL: every client under its own client id, the operator everywhere.
pub fn acl() -> String {
    format!(
        "# Written by the HIL harness. Each client only under its own client id.
pattern readwrite %c/#
pattern readwrite $aws/things/%c/#

user {OPERATOR_USERNAME}
topic readwrite #
topic readwrite $aws/#
"
    )
}

/// One file of a Mosquitto configuration.
#[derive(Clone)]
pub struct ConfigFile {
    /// File name in the configuration folder.
    pub name: &'static str,
    /// Contents.
    pub text: String,
    /// A private key: mode 0600.
    pub private: bool,
}

impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The server key's text is never printed.
        f.debug_struct("ConfigFile")
            .field("name", &self.name)
            .field("private", &self.private)
            .finish_non_exhaustive()
    }
}

/// The files of a configuration for a listener on `bind:port`, found by Mosquitto under
/// `dir`; `extra` lines are appended to `mosquitto.conf`.
pub fn config_files(
    pki: &TestPki,
    dir: &str,
    bind: &str,
    port: u16,
    extra: &str,
) -> Vec<ConfigFile> {
    let public = |name, text| ConfigFile {
        name,
        text,
        private: false,
    };
    vec![
        public(
            "mosquitto.conf",
            format!("{}{extra}", mosquitto_conf(dir, bind, port)),
        ),
        public("acl", acl()),
        public(
            "ca.pem",
            format!("{}{}{}", pki.root.pem, pki.signer.pem, pki.operator_ca.pem),
        ),
        public("server.pem", pki.server.cert_pem.clone()),
        ConfigFile {
            name: "server.key",
            text: pki.server.key_pem.clone(),
            private: true,
        },
    ]
}

/// A folder holding a Mosquitto configuration.
#[derive(Debug)]
pub struct ConfigDir {
    dir: tempfile::TempDir,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> BrokerError {
    BrokerError::Start {
        kind: "mosquitto",
        reason: format!("cannot {what} {}: {e}", path.display()),
    }
}

fn write_public(path: &Path, text: &str) -> Result<(), BrokerError> {
    std::fs::write(path, text).map_err(|e| io_error("write", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| io_error("set the mode of", path, e))
}

impl ConfigDir {
    /// Writes the configuration for a listener on `bind:port`; `inside` is the folder's
    /// path as Mosquitto sees it (`None`: the host path).
    pub fn write(
        pki: &TestPki,
        bind: &str,
        port: u16,
        inside: Option<&str>,
    ) -> Result<Self, BrokerError> {
        let dir = tempfile::Builder::new()
            .prefix("hil-mosquitto-")
            .tempdir()
            .map_err(|e| io_error("create", Path::new("a temporary folder"), e))?;
        let path = dir.path();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_error("set the mode of", path, e))?;
        let seen_as = inside.map_or_else(|| path.display().to_string(), str::to_owned);
        for file in config_files(pki, &seen_as, bind, port, "") {
            let target = path.join(file.name);
            if file.private {
                write_private(&target, &file.text)?;
                give_to_mosquitto_user(&target)?;
            } else {
                write_public(&target, &file.text)?;
            }
        }
        Ok(ConfigDir { dir })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mosquitto.conf` in it.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }
}

/// As root, hands `path` to the `mosquitto` user (Mosquitto reads its key after dropping
/// privileges); otherwise Mosquitto runs as us and reads it as it is.
fn give_to_mosquitto_user(path: &Path) -> Result<(), BrokerError> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(());
    }
    let Ok(Some(user)) = nix::unistd::User::from_name(MOSQUITTO_USER) else {
        // No such user here (a container image has its own): leave it to the caller.
        return Ok(());
    };
    nix::unistd::chown(path, Some(user.uid), Some(user.gid)).map_err(|e| BrokerError::Start {
        kind: "mosquitto",
        reason: format!("cannot give {} to {MOSQUITTO_USER}: {e}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_requires_client_certificates_and_names_its_files() {
        let conf = mosquitto_conf("/etc/hil", "127.0.0.1", 18883);
        for line in [
            "allow_anonymous false",
            "listener 18883 127.0.0.1",
            "cafile /etc/hil/ca.pem",
            "certfile /etc/hil/server.pem",
            "keyfile /etc/hil/server.key",
            "require_certificate true",
            "use_identity_as_username true",
            "acl_file /etc/hil/acl",
        ] {
            assert!(
                conf.lines().any(|l| l == line),
                "missing {line:?} in\n{conf}"
            );
        }
    }

    #[test]
    fn the_acl_keeps_each_client_under_its_own_id() {
        let acl = acl();
        assert!(acl.contains("pattern readwrite %c/#"));
        assert!(acl.contains(&format!("user {OPERATOR_USERNAME}\ntopic readwrite #")));
    }

    #[test]
    fn the_folder_is_readable_and_the_key_private() {
        let pki_dir = tempfile::tempdir().unwrap();
        let pki = TestPki::open(pki_dir.path(), &["localhost"], false).unwrap();
        let config = ConfigDir::write(&pki, "127.0.0.1", 1883, None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(config.path()), 0o755);
        assert_eq!(mode(&config.path().join("ca.pem")), 0o644);
        assert_eq!(mode(&config.path().join("server.key")), 0o600);
        let conf = std::fs::read_to_string(config.conf()).unwrap();
        assert!(conf.contains(&format!("cafile {}/ca.pem", config.path().display())));
        let trusted = std::fs::read_to_string(config.path().join("ca.pem")).unwrap();
        assert!(trusted.contains(pki.signer.pem.trim()) && trusted.contains(pki.root.pem.trim()));
    }
}
