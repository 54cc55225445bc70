//! What the board is provisioned with: certificates, endpoint and Wi-Fi.
//!
//! [`Credentials`] is plain data with fixed capacities. The board changes it only after a
//! value was validated, so bad input never corrupts what is stored; the platform persists
//! it when the board asks ([`crate::board::Action::SaveCredentials`]). The device's private
//! key is not here: it never leaves the secure element ([`crate::hardware::Hardware`]).

/// Capacity of one PEM certificate.
pub const PEM_CAPACITY: usize = 2048;

/// A PEM certificate.
pub type Pem = heapless::String<PEM_CAPACITY>;

/// The thing name: lowercase hex of the device certificate's Subject Key Identifier.
pub type ThingName = heapless::String<40>;

/// Wi-Fi security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WifiAuth {
    /// No password.
    Open,
    /// WPA/WPA2 personal.
    Wpa2,
    /// WEP.
    Wep,
}

impl WifiAuth {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            WifiAuth::Open => "open",
            WifiAuth::Wpa2 => "wpa2",
            WifiAuth::Wep => "wep",
        }
    }

    /// Parses [`WifiAuth::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        [WifiAuth::Open, WifiAuth::Wpa2, WifiAuth::Wep]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// The access point to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WifiCredentials {
    /// Network name.
    pub ssid: heapless::String<32>,
    /// Passphrase (empty for open networks).
    pub password: heapless::String<64>,
    /// Security.
    pub auth: WifiAuth,
}

/// The MQTT endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name, also sent as the TLS server name (SNI).
    pub host: heapless::String<128>,
    /// TCP port (8883 unless given).
    pub port: u16,
}

/// Everything the board is provisioned with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Device certificate, issued for the board's key.
    pub device_cert: Option<Pem>,
    /// Thing name taken from the device certificate.
    pub thing: Option<ThingName>,
    /// Signer CA certificate, sent after the device certificate (needed for JITR).
    pub signer: Option<Pem>,
    /// Root CA the server certificate must chain to.
    pub root_ca: Option<Pem>,
    /// MQTT endpoint.
    pub endpoint: Option<Endpoint>,
    /// Wi-Fi credentials.
    pub wifi: Option<WifiCredentials>,
}

impl Credentials {
    /// The console names of the credentials still missing before the board can connect.
    pub fn missing(&self) -> heapless::Vec<&'static str, 4> {
        let mut missing = heapless::Vec::new();
        let checks = [
            (self.device_cert.is_none(), "cert"),
            (self.root_ca.is_none(), "rootca"),
            (self.endpoint.is_none(), "endpoint"),
            (self.wifi.is_none(), "wifi"),
        ];
        for (absent, name) in checks {
            if absent {
                // Capacity 4 holds all four checks.
                let _ = missing.push(name);
            }
        }
        missing
    }

    /// Can the board connect with these?
    pub fn is_complete(&self) -> bool {
        self.missing().is_empty()
    }
}
