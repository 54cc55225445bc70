//! Simulated access points: SSID, passphrase, security, and whether each is up.

use firmware_under_test::credentials::{WifiAuth, WifiCredentials};
use std::collections::BTreeMap;

/// One access point.
#[derive(Debug, Clone)]
pub struct AccessPoint {
    pub password: String,
    pub auth: WifiAuth,
    pub up: bool,
}

/// The access points in range.
#[derive(Debug, Default)]
pub struct Air {
    aps: BTreeMap<String, AccessPoint>,
}

impl Air {
    /// Adds or replaces an access point (up).
    pub fn add(&mut self, ssid: &str, password: &str, auth: WifiAuth) {
        self.aps.insert(
            ssid.to_owned(),
            AccessPoint {
                password: password.to_owned(),
                auth,
                up: true,
            },
        );
    }

    /// Takes an access point down or brings it up; false if there is no such SSID.
    pub fn set_up(&mut self, ssid: &str, up: bool) -> bool {
        match self.aps.get_mut(ssid) {
            Some(ap) => {
                ap.up = up;
                true
            }
            None => false,
        }
    }

    /// Would a join with `credentials` succeed now? The error says why not.
    pub fn join(&self, credentials: &WifiCredentials) -> Result<(), &'static str> {
        let ap = self
            .aps
            .get(credentials.ssid.as_str())
            .filter(|ap| ap.up)
            .ok_or("no such network in range")?;
        if ap.auth != WifiAuth::Open && ap.password != credentials.password.as_str() {
            return Err("wrong passphrase");
        }
        Ok(())
    }
}

/// Parses `SSID:PASS` (WPA2) or `SSID` (open) from the command line.
pub fn parse_ap(spec: &str) -> Result<(String, String, WifiAuth), String> {
    match spec.split_once(':') {
        Some((ssid, pass)) if !ssid.is_empty() && !pass.is_empty() => {
            Ok((ssid.to_owned(), pass.to_owned(), WifiAuth::Wpa2))
        }
        None if !spec.is_empty() => Ok((spec.to_owned(), String::new(), WifiAuth::Open)),
        _ => Err(format!("--ap {spec:?}: expected SSID:PASS or SSID")),
    }
}
