//! The secure element: the board's P-256 device key, its serial number, the CSR, and the
//! checks of certificates given over the console — what an ATECC608 does on Microchip's
//! boards and `emulated-board`'s `secure_element.rs` does on the host.
//!
//! The private key lives in a private field of [`SecureElement`] and is used only by
//! methods of this module: nothing else in the firmware can read it, and no method returns
//! it. It is generated on the device at first boot, from [`crate::entropy`], and kept in
//! `device-key.pem` (PKCS#8 PEM) in the state dir through semihosting, so it survives
//! resets and QEMU restarts like a key in a secure element; `erase` does not touch it. The
//! serial number (`0123` + 10 hex digits + `EE`, as an ATECC608's, derived from the public
//! key) is kept beside it in `device-serial`. Both file names and formats are the emulated
//! board's.
//!
//! The key signs nothing but the CSR and, through [`SecureElement::sign_handshake`], the
//! TLS handshake's CertificateVerify message: the network gets a signature, never the key.
//!
//! Certificates are parsed with `x509-cert`; the checks and their errors mirror the emulated
//! board's: a PEM that is not a `CERTIFICATE` block is [`CertificateError::NotPem`], DER
//! that does not parse is [`CertificateError::Unparsable`], a device certificate must be
//! for this key and carry a Subject Key Identifier (its lowercase hex is the thing name),
//! and a CA certificate must have `basicConstraints CA:TRUE`.

use crate::entropy;
use crate::host::{self, HostError};
use alloc::string::String;
use core::fmt::Write;
use core::str::FromStr;
use der::pem::LineEnding;
use der::{Decode, EncodePem};
use firmware_under_test::credentials::ThingName;
use firmware_under_test::hardware::{CertificateError, CryptoFailure};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sha1::{Digest, Sha1};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::ext::pkix::{BasicConstraints, SubjectKeyIdentifier};
use x509_cert::name::Name;

/// The device key, PKCS#8 PEM.
pub const KEY_FILE: &str = "device-key.pem";
/// The device serial number.
pub const SERIAL_FILE: &str = "device-serial";

/// An uncompressed SEC1 P-256 point: `04 || x || y`.
type PublicKey = [u8; 65];

/// The secure element could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// `device-key.pem` exists but cannot be read.
    ReadKey(HostError),
    /// `device-key.pem` holds no P-256 PKCS#8 key. It is left alone: a key is never
    /// replaced behind the user's back (remove the file to make a new one).
    CorruptKey,
    /// The new key could not be saved.
    SaveKey(HostError),
    /// `device-serial` cannot be read or written.
    Serial(HostError),
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenError::ReadKey(e) => write!(f, "cannot read {KEY_FILE}: {e}"),
            OpenError::CorruptKey => write!(f, "{KEY_FILE} holds no P-256 PKCS#8 key"),
            OpenError::SaveKey(e) => write!(f, "cannot save {KEY_FILE}: {e}"),
            OpenError::Serial(e) => write!(f, "cannot keep {SERIAL_FILE}: {e}"),
        }
    }
}

/// How [`SecureElement::open`] got its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Loaded from `device-key.pem`.
    Stored,
    /// Generated now (first boot), seeded from this source.
    Generated(entropy::Source),
}

/// The device key and identity.
pub struct SecureElement {
    key: SigningKey,
    public: PublicKey,
    serial: heapless::String<16>,
}

impl core::fmt::Debug for SecureElement {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecureElement")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl SecureElement {
    /// Loads the key and serial from the state dir, creating them at first boot.
    pub fn open() -> Result<(SecureElement, KeyOrigin), OpenError> {
        let (key, origin) = match host::read(KEY_FILE) {
            Ok(pem) => {
                let pem = core::str::from_utf8(&pem).map_err(|_| OpenError::CorruptKey)?;
                let key =
                    p256::SecretKey::from_pkcs8_pem(pem).map_err(|_| OpenError::CorruptKey)?;
                (key, KeyOrigin::Stored)
            }
            Err(HostError::NotFound) => {
                let (mut rng, source) = entropy::rng();
                let key = p256::SecretKey::generate_from_rng(&mut rng);
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|_| OpenError::SaveKey(HostError::TooLarge))?;
                host::replace(KEY_FILE, pem.as_bytes()).map_err(OpenError::SaveKey)?;
                (key, KeyOrigin::Generated(source))
            }
            Err(e) => return Err(OpenError::ReadKey(e)),
        };
        let key = SigningKey::from(key);
        let mut public = [0u8; 65];
        public.copy_from_slice(key.verifying_key().to_sec1_point(false).as_bytes());
        let serial = match host::read(SERIAL_FILE) {
            Ok(bytes) => core::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| heapless::String::try_from(s.trim()).ok())
                .ok_or(OpenError::Serial(HostError::TooLarge))?,
            Err(HostError::NotFound) => {
                let serial = serial_for(&public);
                host::replace(SERIAL_FILE, serial.as_bytes()).map_err(OpenError::Serial)?;
                serial
            }
            Err(e) => return Err(OpenError::Serial(e)),
        };
        Ok((
            SecureElement {
                key,
                public,
                serial,
            },
            origin,
        ))
    }

    /// The device serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Lowercase hex SHA-1 of the public key: the RFC 5280 method-1 key identifier.
    pub fn key_id(&self) -> ThingName {
        lower_hex(&Sha1::digest(self.public)).unwrap_or_default()
    }

    /// Writes a PEM CSR for the device key: CN `sn<serial>`, O `Microchip Technology Inc`,
    /// signed with ECDSA-SHA256.
    pub fn write_csr(&self, out: &mut dyn Write) -> Result<(), CryptoFailure> {
        let mut dn = String::new();
        // RFC 4514 lists the last RDN first: the CSR's subject is CN, then O.
        write!(dn, "O=Microchip Technology Inc,CN=sn{}", self.serial).map_err(|_| CryptoFailure)?;
        let subject = Name::from_str(&dn).map_err(|_| CryptoFailure)?;
        let request = RequestBuilder::new(subject)
            .and_then(|builder| builder.build::<_, DerSignature>(&self.key))
            .map_err(|_| CryptoFailure)?;
        let pem = request.to_pem(LineEnding::LF).map_err(|_| CryptoFailure)?;
        out.write_str(&pem).map_err(|_| CryptoFailure)
    }

    /// Checks a device certificate: it parses, is for the device key, and has a Subject
    /// Key Identifier, returned as the thing name.
    pub fn check_device_certificate(&self, pem: &str) -> Result<ThingName, CertificateError> {
        let cert = parse(pem)?;
        let tbs = cert.tbs_certificate();
        if tbs.subject_public_key_info().subject_public_key.raw_bytes() != self.public {
            return Err(CertificateError::KeyMismatch);
        }
        match tbs.get_extension::<SubjectKeyIdentifier>() {
            Ok(Some((_, ski))) => lower_hex(ski.0.as_bytes()),
            _ => None,
        }
        .ok_or(CertificateError::NoSubjectKeyIdentifier)
    }

    /// Signs a TLS handshake message with the device key: ECDSA P-256 over its SHA-256,
    /// DER-encoded. The one use of the key besides the CSR: [`crate::tls`] calls it for
    /// the client's CertificateVerify (TLS 1.3: 64 spaces, the context string and the
    /// transcript hash). `None` if signing fails.
    pub fn sign_handshake(&self, message: &[u8]) -> Option<alloc::vec::Vec<u8>> {
        use p256::ecdsa::signature::Signer;
        let signature: DerSignature = self.key.try_sign(message).ok()?;
        Some(signature.as_bytes().to_vec())
    }

    /// Checks a CA certificate (signer or root): it parses and has `CA:TRUE`.
    pub fn check_ca_certificate(&self, pem: &str) -> Result<(), CertificateError> {
        let cert = parse(pem)?;
        match cert.tbs_certificate().get_extension::<BasicConstraints>() {
            Ok(Some((_, constraints))) if constraints.ca => Ok(()),
            _ => Err(CertificateError::NotCa),
        }
    }
}

/// Decodes a PEM `CERTIFICATE` block and parses the certificate.
fn parse(pem: &str) -> Result<Certificate, CertificateError> {
    let (label, der) =
        der::pem::decode_vec(pem.as_bytes()).map_err(|_| CertificateError::NotPem)?;
    if label != "CERTIFICATE" {
        return Err(CertificateError::NotPem);
    }
    Certificate::from_der(&der).map_err(|_| CertificateError::Unparsable)
}

/// `bytes` as lowercase hex, if it fits a thing name.
fn lower_hex(bytes: &[u8]) -> Option<ThingName> {
    let mut hex = ThingName::new();
    for byte in bytes {
        write!(hex, "{byte:02x}").ok()?;
    }
    Some(hex)
}

/// An ATECC608-style serial for the key: `0123`, five bytes of the key's SHA-1 in upper
/// hex, `EE`.
fn serial_for(public: &PublicKey) -> heapless::String<16> {
    let digest = Sha1::digest(public);
    let mut serial = heapless::String::new();
    let _ = serial.push_str("0123");
    for byte in &digest[..5] {
        let _ = write!(serial, "{byte:02X}");
    }
    let _ = serial.push_str("EE");
    serial
}
