//! TLS 1.3 to the endpoint with `embedded-tls`: the server verified against the
//! provisioned root CA, for the endpoint name, at the host's UTC time; the device
//! certificate presented, its CertificateVerify signed by [`SecureElement::sign_handshake`]
//! (the key never leaves the secure element).
//!
//! - [`TcpIo`] is `embedded-io`'s blocking `Read`/`Write` over the smoltcp TCP socket: it
//!   polls the [`Stack`] while it waits, up to [`IO_TIMEOUT`]. Once the handshake is done it
//!   is switched to "non-blocking at record boundaries": a read with nothing to read at the
//!   start of a TLS record returns `Interrupted` at once (it follows the record headers it
//!   passes on), so the main loop can ask for data without ever waiting for the broker,
//!   and `embedded-tls` is never left with half a record.
//! - [`DeviceProvider`] is `embedded-tls`'s `CryptoProvider`: a fresh ChaCha20 generator
//!   seeded from the host ([`crate::entropy`]), the `rustpki` [`CertVerifier`] over the root
//!   CA (chain signatures, validity against [`HostClock`], the endpoint name in the
//!   certificate's SAN or CN), the device certificate, and the signer.
//! - [`Session`] is an open connection and its record buffers.
//!
//! `embedded-tls` sends one client certificate: the device certificate, not the signer
//! after it as the emulated board does. The mock broker (like AWS IoT with a registered CA)
//! finds the issuing CA in its registry, so JITR works without it.
//!
//! Time: validity is checked against `SYS_TIME` (the host's clock, seconds since 1970) —
//! the board has no RTC, and a real one would take it from SNTP; see the README.

use crate::entropy;
use crate::host;
use crate::secure_element::SecureElement;
use crate::stack::Stack;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicBool, Ordering};
use embedded_io::{ErrorKind, ErrorType};
use embedded_tls::SignatureScheme;
use embedded_tls::blocking::{
    Aes128GcmSha256, Certificate, CryptoProvider, TlsConfig, TlsConnection, TlsContext, TlsError,
    TlsVerifier,
};
use embedded_tls::pki::CertVerifier;
use firmware_under_test::time::{Duration, Instant};

/// Longest a blocking read or write waits for the network.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS record buffers: a whole record (16 KiB plaintext plus overhead) in, less out.
const READ_RECORD: usize = 16 * 1024 + 256;
const WRITE_RECORD: usize = 4 * 1024;
/// The server certificate kept for its CertificateVerify.
const SERVER_CERT: usize = 4096;

/// Validity time for certificates: the host's clock.
pub struct HostClock;

impl embedded_tls::TlsClock for HostClock {
    fn now() -> Option<u64> {
        Some(u64::from(host::unix_time()))
    }
}

/// A failed read or write on the TCP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError(pub ErrorKind);

impl core::fmt::Display for IoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl core::error::Error for IoError {}

impl embedded_io::Error for IoError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

/// The TCP socket as a byte stream; see the module doc.
pub struct TcpIo {
    stack: &'static RefCell<Stack>,
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl TcpIo {
    fn new(stack: &'static RefCell<Stack>) -> TcpIo {
        TcpIo {
            stack,
            header: [0; 5],
            header_len: 0,
            body_left: 0,
        }
    }

    /// Follows the TLS records in the bytes passed on.
    fn track(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(rest.len());
                self.body_left -= n;
                rest = &rest[n..];
            } else {
                self.header[self.header_len] = rest[0];
                self.header_len += 1;
                rest = &rest[1..];
                if self.header_len == 5 {
                    self.body_left = usize::from(self.header[3]) << 8 | usize::from(self.header[4]);
                    self.header_len = 0;
                }
            }
        }
    }

    fn at_record_boundary(&self) -> bool {
        self.header_len == 0 && self.body_left == 0
    }
}

impl ErrorType for TcpIo {
    type Error = IoError;
}

fn deadline() -> Instant {
    crate::clock::now() + IO_TIMEOUT
}

impl embedded_io::Read for TcpIo {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        let until = deadline();
        loop {
            let n = {
                let mut stack = self.stack.borrow_mut();
                stack.poll();
                let socket = stack.tcp();
                if socket.can_recv() {
                    socket
                        .recv_slice(buf)
                        .map_err(|_| IoError(ErrorKind::ConnectionReset))?
                } else if !socket.may_recv() {
                    return Err(IoError(ErrorKind::ConnectionReset));
                } else {
                    0
                }
            };
            if n > 0 {
                self.track(&buf[..n]);
                return Ok(n);
            }
            if NONBLOCKING.load(Ordering::Relaxed) && self.at_record_boundary() {
                return Err(IoError(ErrorKind::Interrupted));
            }
            if crate::clock::now() >= until {
                return Err(IoError(ErrorKind::TimedOut));
            }
            cortex_m::asm::wfi();
        }
    }
}

impl embedded_io::Write for TcpIo {
    fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        let until = deadline();
        loop {
            {
                let mut stack = self.stack.borrow_mut();
                let socket = stack.tcp();
                if !socket.may_send() {
                    return Err(IoError(ErrorKind::ConnectionReset));
                }
                if socket.can_send() {
                    let n = socket
                        .send_slice(buf)
                        .map_err(|_| IoError(ErrorKind::ConnectionReset))?;
                    stack.poll();
                    return Ok(n);
                }
                stack.poll();
            }
            if crate::clock::now() >= until {
                return Err(IoError(ErrorKind::TimedOut));
            }
            cortex_m::asm::wfi();
        }
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.stack.borrow_mut().poll();
        Ok(())
    }
}

/// The random generator `embedded-tls` takes (`rand_core` 0.6), over the firmware's
/// ChaCha20 generator (`rand_core` 0.10).
pub struct TlsRng(chacha20::ChaCha20Rng);

impl rand_core_tls::RngCore for TlsRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::Rng::next_u32(&mut self.0)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::Rng::next_u64(&mut self.0)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::Rng::fill_bytes(&mut self.0, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_tls::Error> {
        rand_core::Rng::fill_bytes(&mut self.0, dest);
        Ok(())
    }
}

impl rand_core_tls::CryptoRng for TlsRng {}

/// Signs the CertificateVerify through the secure element.
pub struct HandshakeSigner<'a>(&'a SecureElement);

impl signature::SignerMut<Vec<u8>> for HandshakeSigner<'_> {
    fn try_sign(&mut self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        self.0
            .sign_handshake(message)
            .ok_or_else(signature::Error::new)
    }
}

/// What `embedded-tls` asks of the board; see the module doc.
pub struct DeviceProvider<'a> {
    rng: TlsRng,
    verifier: CertVerifier<'a, Aes128GcmSha256, HostClock, SERVER_CERT>,
    device_cert: &'a [u8],
    secure_element: &'a SecureElement,
}

impl CryptoProvider for DeviceProvider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = Vec<u8>;

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }

    fn signer(
        &mut self,
    ) -> Result<(impl signature::SignerMut<Vec<u8>>, SignatureScheme), TlsError> {
        Ok((
            HandshakeSigner(self.secure_element),
            SignatureScheme::EcdsaSecp256r1Sha256,
        ))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        Some(Certificate::X509(self.device_cert))
    }
}

/// Why the handshake failed, as the core sees it.
#[derive(Debug)]
pub enum HandshakeError {
    /// The server certificate did not verify (CA, name, validity, signature).
    ServerCertificate(TlsError),
    /// Anything else.
    Other(TlsError),
}

/// An open TLS connection. At most one exists at a time: it holds the record buffers.
pub struct Session {
    tls: ManuallyDrop<TlsConnection<'static, TcpIo, Aes128GcmSha256>>,
}

/// Set once the session's handshake is done: [`TcpIo`] stops waiting at record boundaries.
static NONBLOCKING: AtomicBool = AtomicBool::new(false);
/// Set while a [`Session`] holds [`READ_BUF`] and [`WRITE_BUF`].
static IN_USE: AtomicBool = AtomicBool::new(false);
static mut READ_BUF: [u8; READ_RECORD] = [0; READ_RECORD];
static mut WRITE_BUF: [u8; WRITE_RECORD] = [0; WRITE_RECORD];

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: dropped once, here; nothing uses `tls` after.
        unsafe { ManuallyDrop::drop(&mut self.tls) };
        IN_USE.store(false, Ordering::Release);
    }
}

/// What [`Session::open`] needs.
pub struct Params<'a> {
    /// The endpoint host: SNI and the name the certificate must carry.
    pub host: &'a str,
    /// The root CA, DER.
    pub root_ca: &'a [u8],
    /// The device certificate, DER.
    pub device_cert: &'a [u8],
    /// The key's keeper.
    pub secure_element: &'a SecureElement,
}

impl Session {
    /// Runs the handshake on the connected TCP socket (blocking, each wait bounded by
    /// [`IO_TIMEOUT`]).
    pub fn open(
        stack: &'static RefCell<Stack>,
        params: &Params<'_>,
    ) -> Result<Session, HandshakeError> {
        if IN_USE.swap(true, Ordering::Acquire) {
            return Err(HandshakeError::Other(TlsError::InternalError));
        }
        // SAFETY: IN_USE was clear, so no other Session borrows the buffers; this one
        // gives them back (clears IN_USE) only after its connection is dropped.
        let (read, write) = unsafe {
            (
                core::slice::from_raw_parts_mut((&raw mut READ_BUF).cast::<u8>(), READ_RECORD),
                core::slice::from_raw_parts_mut((&raw mut WRITE_BUF).cast::<u8>(), WRITE_RECORD),
            )
        };
        NONBLOCKING.store(false, Ordering::Relaxed);
        let mut session = Session {
            tls: ManuallyDrop::new(TlsConnection::new(TcpIo::new(stack), read, write)),
        };
        let config = TlsConfig::new().with_server_name(params.host);
        let provider = DeviceProvider {
            rng: TlsRng(entropy::rng().0),
            verifier: CertVerifier::new(Certificate::X509(params.root_ca)),
            device_cert: params.device_cert,
            secure_element: params.secure_element,
        };
        session
            .tls
            .open(TlsContext::new(&config, provider))
            .map_err(classify)?;
        NONBLOCKING.store(true, Ordering::Relaxed);
        Ok(session)
    }

    /// Sends application data (whole, flushed).
    pub fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), TlsError> {
        while !bytes.is_empty() {
            let n = self.tls.write(bytes)?;
            bytes = &bytes[n..];
        }
        self.tls.flush()
    }

    /// Application data that has arrived, without waiting: `Ok(0)` when there is none now.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        match self.tls.read(buf) {
            Err(TlsError::Io(ErrorKind::Interrupted)) => Ok(0),
            Ok(0) => Err(TlsError::ConnectionClosed),
            other => other,
        }
    }
}

/// Sorts a handshake error: certificate problems are the server's certificate's.
fn classify(e: TlsError) -> HandshakeError {
    match e {
        TlsError::InvalidCertificate
        | TlsError::InvalidCertificateEntry
        | TlsError::InvalidSignature
        | TlsError::InvalidSignatureScheme => HandshakeError::ServerCertificate(e),
        other => HandshakeError::Other(other),
    }
}
