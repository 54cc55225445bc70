//! What the application needs from the board's hardware: sensors and the secure element.
//!
//! On Microchip's boards the device key lives in an ATECC608 secure element that signs the
//! CSR and never gives the key out; [`Hardware`] is that boundary. The emulated board
//! implements it with a key file in its state dir and real X.509 parsing; unit tests use a
//! fake. Calls are synchronous and quick: the application calls them while it handles an
//! event.

use crate::credentials::ThingName;
use crate::telemetry::SensorReading;

/// A certificate given over the console was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateError {
    /// Not a PEM `CERTIFICATE` block.
    NotPem,
    /// The PEM holds no valid X.509 certificate.
    Unparsable,
    /// The certificate is for another key than the board's.
    KeyMismatch,
    /// The device certificate has no Subject Key Identifier (the thing name).
    NoSubjectKeyIdentifier,
    /// A CA certificate without `basicConstraints CA:TRUE`.
    NotCa,
    /// Longer than the board can store.
    TooLong,
}

impl core::fmt::Display for CertificateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CertificateError::NotPem => "not a PEM certificate",
            CertificateError::Unparsable => "the certificate does not parse",
            CertificateError::KeyMismatch => "the certificate does not match the device key",
            CertificateError::NoSubjectKeyIdentifier => {
                "the certificate has no Subject Key Identifier"
            }
            CertificateError::NotCa => "not a CA certificate",
            CertificateError::TooLong => "the certificate is too long",
        })
    }
}

/// The secure element failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoFailure;

/// Sensors and the secure element.
pub trait Hardware {
    /// Reads the light and temperature sensors.
    fn sensors(&mut self) -> SensorReading;

    /// The device serial number (the secure element's), as printed by `device`.
    fn device_serial(&self) -> &str;

    /// Lowercase hex SHA-1 of the device public key: the thing name a certificate issued
    /// for this key will carry as its Subject Key Identifier.
    fn key_id(&self) -> ThingName;

    /// Writes a PEM CSR for the device key (CN `sn<serial>`).
    fn write_csr(&mut self, out: &mut dyn core::fmt::Write) -> Result<(), CryptoFailure>;

    /// Validates a device certificate: it parses, is for the device key, and has a Subject
    /// Key Identifier, which is returned as the thing name.
    fn check_device_certificate(&mut self, pem: &str) -> Result<ThingName, CertificateError>;

    /// Validates a CA certificate (signer or root).
    fn check_ca_certificate(&mut self, pem: &str) -> Result<(), CertificateError>;
}
