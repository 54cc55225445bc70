//! Entropy for the device key. The AN385 has no TRNG, so the seed comes from the host.
//!
//! First choice: 32 bytes of the host's `/dev/urandom`, read through semihosting
//! ([`crate::host`]) — the host kernel's CSPRNG standing in for the TRNG a secure element
//! has. If that cannot be read (a host without it, a sandbox), the fallback hashes the
//! host's wall clock, QEMU's nanosecond elapsed time and the SysTick counter sampled
//! around 64 host calls (their duration jitters with the host's scheduling), and
//! [`Source::Fallback`] is reported so the firmware can say on the host's standard error
//! that the key is weaker. Either seed feeds a ChaCha20 generator ([`rng`]).
//!
//! Only key generation needs it: ECDSA signatures are deterministic (RFC 6979).

use crate::clock;
use crate::host;
use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::Digest;

/// Where the seed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The host's `/dev/urandom`.
    HostUrandom,
    /// Host clocks and timer jitter (weaker; reported).
    Fallback,
}

/// A seeded cryptographic generator, and where its seed came from.
pub fn rng() -> (ChaCha20Rng, Source) {
    let (seed, source) = match urandom() {
        Some(seed) => (seed, Source::HostUrandom),
        None => (jitter(), Source::Fallback),
    };
    (ChaCha20Rng::from_seed(seed), source)
}

fn urandom() -> Option<[u8; 32]> {
    let mut file = host::HostFile::open("/dev/urandom", host::Mode::Read).ok()?;
    let mut seed = [0u8; 32];
    file.read_exact(&mut seed).ok()?;
    Some(seed)
}

fn jitter() -> [u8; 32] {
    let mut hash = sha2::Sha256::new();
    hash.update(host::unix_time().to_le_bytes());
    for _ in 0..64 {
        hash.update(clock::sub_tick().to_le_bytes());
        hash.update(host::elapsed_ticks().unwrap_or(0).to_le_bytes());
        hash.update(clock::sub_tick().to_le_bytes());
    }
    hash.finalize().into()
}
