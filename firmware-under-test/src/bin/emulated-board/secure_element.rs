//! The emulated ATECC608: the device key, the serial number, the CSR, and certificate
//! checks, behind the firmware's `Hardware` trait (with the sensors).
//!
//! The P-256 key is generated at first boot and kept in `<state dir>/device-key.pem` with
//! mode 0600; it is never printed. The serial number is kept beside it. Certificates given
//! over the console are parsed with x509-parser and checked against the key.
//!
//! `fleet-board` includes this file too (`#[path]`): its boards keep their key in memory
//! only ([`SecureElement::generate`]), one secure element per board.

use crate::sensors::Sensors;
use firmware_under_test::credentials::ThingName;
use firmware_under_test::hardware::{CertificateError, CryptoFailure, Hardware};
use firmware_under_test::telemetry::SensorReading;
use rcgen::{CertificateParams, DnType, KeyPair};
use sha1::{Digest, Sha1};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use x509_parser::extensions::ParsedExtension;
use x509_parser::pem::parse_x509_pem;

const KEY_FILE: &str = "device-key.pem";
const SERIAL_FILE: &str = "device-serial";

/// The device key and identity, plus the sensors.
pub struct SecureElement {
    key: KeyPair,
    serial: String,
    pub sensors: Sensors,
}

impl SecureElement {
    /// Loads the key and serial from `state_dir`, creating them at first boot.
    pub fn open(state_dir: &Path, sensors: Sensors) -> std::io::Result<Self> {
        let key_path = state_dir.join(KEY_FILE);
        let key = match std::fs::read_to_string(&key_path) {
            Ok(pem) => KeyPair::from_pem(&pem).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = KeyPair::generate().map_err(std::io::Error::other)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&key_path)?;
                file.write_all(key.serialize_pem().as_bytes())?;
                key
            }
            Err(e) => return Err(e),
        };
        let serial_path = state_dir.join(SERIAL_FILE);
        let serial = match std::fs::read_to_string(&serial_path) {
            Ok(serial) => serial.trim().to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let serial = serial_of(&key);
                std::fs::write(&serial_path, &serial)?;
                serial
            }
            Err(e) => return Err(e),
        };
        Ok(SecureElement {
            key,
            serial,
            sensors,
        })
    }

    /// A secure element with a new key, kept in memory only (nothing is written), and the
    /// serial number derived from it.
    #[allow(dead_code)] // fleet-board's; this binary keeps its key in the state dir
    pub fn generate(sensors: Sensors) -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate()?;
        Ok(SecureElement {
            serial: serial_of(&key),
            key,
            sensors,
        })
    }

    /// The device serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The private key, DER (PKCS#8), for the TLS client configuration only.
    pub fn key_der(&self) -> Vec<u8> {
        self.key.serialize_der()
    }
}

/// An ATECC608-like serial for `key`: 0123, ten hex digits unique to the key, EE.
fn serial_of(key: &KeyPair) -> String {
    let digest = Sha1::digest(key.public_key_raw());
    format!("0123{}EE", hex::encode_upper(&digest[..5]))
}

/// Lowercase hex SHA-1 of a public key: the RFC 5280 method-1 key identifier.
fn key_identifier(public_key: &[u8]) -> ThingName {
    let hex = hex::encode(Sha1::digest(public_key));
    ThingName::try_from(hex.as_str()).unwrap_or_default()
}

fn parse_pem(pem: &str) -> Result<Vec<u8>, CertificateError> {
    let (_, block) = parse_x509_pem(pem.as_bytes()).map_err(|_| CertificateError::NotPem)?;
    if block.label != "CERTIFICATE" {
        return Err(CertificateError::NotPem);
    }
    Ok(block.contents)
}

impl Hardware for SecureElement {
    fn sensors(&mut self) -> SensorReading {
        self.sensors.read()
    }

    fn device_serial(&self) -> &str {
        &self.serial
    }

    fn key_id(&self) -> ThingName {
        key_identifier(self.key.public_key_raw())
    }

    fn write_csr(&mut self, out: &mut dyn core::fmt::Write) -> Result<(), CryptoFailure> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|_| CryptoFailure)?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("sn{}", self.serial));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Microchip Technology Inc");
        let csr = params
            .serialize_request(&self.key)
            .and_then(|csr| csr.pem())
            .map_err(|_| CryptoFailure)?;
        out.write_str(&csr).map_err(|_| CryptoFailure)
    }

    fn check_device_certificate(&mut self, pem: &str) -> Result<ThingName, CertificateError> {
        let der = parse_pem(pem)?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|_| CertificateError::Unparsable)?;
        if cert.public_key().subject_public_key.data.as_ref() != self.key.public_key_raw() {
            return Err(CertificateError::KeyMismatch);
        }
        cert.iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => {
                    ThingName::try_from(hex::encode(id.0).as_str()).ok()
                }
                _ => None,
            })
            .ok_or(CertificateError::NoSubjectKeyIdentifier)
    }

    fn check_ca_certificate(&mut self, pem: &str) -> Result<(), CertificateError> {
        let der = parse_pem(pem)?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|_| CertificateError::Unparsable)?;
        match cert.basic_constraints() {
            Ok(Some(bc)) if bc.value.ca => Ok(()),
            _ => Err(CertificateError::NotCa),
        }
    }
}
