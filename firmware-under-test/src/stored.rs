//! The provisioned credentials as the board keeps them in flash: `nvm.json`, the format of
//! `EMULATED_BOARD.md` ("State dir"), one JSON object with the certificates, the thing
//! name, the endpoint and the Wi-Fi credentials (`null` where nothing was provisioned).
//!
//! Shared by every platform edge that keeps them as a file: the emulated board (std) and
//! the mps2-an385 image (semihosting), so both read what the other wrote. Reading and
//! writing the file, and what to do with a corrupt one, stay with the edge. Needs the
//! `stored` feature (alloc, serde).

use crate::credentials::{Credentials, Endpoint, Pem, ThingName, WifiAuth, WifiCredentials};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The file's name in the board's state dir.
pub const NVM_FILE: &str = "nvm.json";

/// The JSON object in `nvm.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    device_cert: Option<String>,
    thing: Option<String>,
    signer: Option<String>,
    root_ca: Option<String>,
    endpoint: Option<(String, u16)>,
    wifi: Option<(String, String, String)>,
}

/// Reads `nvm.json`'s bytes. A field that no longer fits (too long, not a PEM, an unknown
/// Wi-Fi auth) is read as not provisioned; bytes that are not the format are an error.
pub fn from_json(bytes: &[u8]) -> Result<Credentials, serde_json::Error> {
    let stored: Stored = serde_json::from_slice(bytes)?;
    let pem = |s: Option<String>| s.and_then(|s| Pem::try_from(s.as_str()).ok());
    Ok(Credentials {
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
    })
}

/// `credentials` as `nvm.json`'s bytes (pretty-printed JSON).
pub fn to_json(credentials: &Credentials) -> Vec<u8> {
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
    // Strings, numbers and options only: serialising them cannot fail.
    serde_json::to_vec_pretty(&stored).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_back_as_they_were_saved() {
        let credentials = Credentials {
            thing: ThingName::try_from("a92fa284656d2198508a9f6f77ea57e0fdc3a15d").ok(),
            endpoint: Some(Endpoint {
                host: heapless::String::try_from("broker.hil.test").unwrap(),
                port: 8883,
            }),
            wifi: Some(WifiCredentials {
                ssid: heapless::String::try_from("hil-lab").unwrap(),
                password: heapless::String::try_from("secret").unwrap(),
                auth: WifiAuth::from_name("wpa2").unwrap(),
            }),
            ..Credentials::default()
        };
        let json = to_json(&credentials);
        let back = from_json(&json).unwrap();
        assert_eq!(back.thing, credentials.thing);
        assert_eq!(back.endpoint, credentials.endpoint);
        assert_eq!(back.wifi, credentials.wifi);
        assert!(back.device_cert.is_none());
    }

    #[test]
    fn an_erased_file_is_all_nulls_and_junk_is_an_error() {
        let json = to_json(&Credentials::default());
        let text = core::str::from_utf8(&json).unwrap();
        assert!(text.contains("\"endpoint\": null"), "{text}");
        assert!(from_json(&json).unwrap().endpoint.is_none());
        assert!(from_json(b"not json").is_err());
        let unknown_auth = br#"{"device_cert":null,"thing":null,"signer":null,"root_ca":null,"endpoint":null,"wifi":["a","b","wep9"]}"#;
        assert!(
            from_json(unknown_auth).unwrap().wifi.is_none(),
            "a field that no longer fits is not provisioned"
        );
    }
}
