//! The core's [`Hardware`] trait for this board: the secure element
//! ([`crate::secure_element`]) and the sensors ([`crate::sensors`]), read at the firmware
//! time the main loop last set. Glue only; the work is in those modules.

use crate::secure_element::SecureElement;
use crate::sensors;
use firmware_under_test::credentials::ThingName;
use firmware_under_test::hardware::{CertificateError, CryptoFailure, Hardware};
use firmware_under_test::telemetry::SensorReading;
use firmware_under_test::time::Instant;

/// What the core calls while it handles an input.
#[derive(Debug)]
pub struct BoardHardware {
    secure_element: SecureElement,
    now: Instant,
}

impl BoardHardware {
    /// The hardware around `secure_element`.
    pub fn new(secure_element: SecureElement) -> Self {
        BoardHardware {
            secure_element,
            now: Instant::ZERO,
        }
    }

    /// The secure element, for the TLS handshake's signature ([`crate::tls`]).
    pub fn secure_element(&self) -> &SecureElement {
        &self.secure_element
    }

    /// Sets the time the sensors are read at (the input's `now`).
    pub fn set_time(&mut self, now: Instant) {
        self.now = now;
    }
}

impl Hardware for BoardHardware {
    fn sensors(&mut self) -> SensorReading {
        sensors::read(self.now)
    }

    fn device_serial(&self) -> &str {
        self.secure_element.serial()
    }

    fn key_id(&self) -> ThingName {
        self.secure_element.key_id()
    }

    fn write_csr(&mut self, out: &mut dyn core::fmt::Write) -> Result<(), CryptoFailure> {
        self.secure_element.write_csr(out)
    }

    fn check_device_certificate(&mut self, pem: &str) -> Result<ThingName, CertificateError> {
        self.secure_element.check_device_certificate(pem)
    }

    fn check_ca_certificate(&mut self, pem: &str) -> Result<(), CertificateError> {
        self.secure_element.check_ca_certificate(pem)
    }
}
