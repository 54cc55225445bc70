//! The host, reached through Arm semihosting: files in QEMU's working directory, the
//! host's clocks, and its standard error for diagnostics.
//!
//! QEMU's `mps2-an385` has no flash that survives QEMU, so the board's non-volatile
//! memory and its secure element's key are files on the host, read and written with
//! `SYS_OPEN`/`SYS_READ`/`SYS_WRITE`/`SYS_RENAME`/`SYS_REMOVE` (see `README.md`, "State
//! dir"). Relative paths are relative to QEMU's working directory, which the harness sets
//! to the board's state dir. Semihosting must be on
//! (`-semihosting-config enable=on,target=native`); without it the first call is a
//! breakpoint nobody answers, and the core locks up (QEMU reports it).
//!
//! [`HostFile`] is a file handle closed on drop; [`replace`] writes a whole file
//! atomically (a temporary file, then a rename). What the files hold is decided by
//! [`crate::nvm`] and [`crate::secure_element`]; this module only moves bytes.

use alloc::vec::Vec;
use core::fmt::Write;
use cortex_m_semihosting::{nr, syscall, syscall1};

/// Longest path, NUL included.
const PATH_CAPACITY: usize = 128;
/// The host's `ENOENT`.
const ENOENT: usize = 2;
/// Largest file [`HostFile::read_to_end`] reads (a whole `nvm.json` is under 8 KiB).
const MAX_FILE: usize = 64 * 1024;

/// A failed host call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// The file does not exist.
    NotFound,
    /// The path does not fit [`PATH_CAPACITY`].
    PathTooLong,
    /// The file is larger than a board file can be.
    TooLarge,
    /// The file ended before the buffer was full.
    ShortRead,
    /// Any other failure, with the host's errno.
    Io(usize),
}

impl core::fmt::Display for HostError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HostError::NotFound => f.write_str("no such file"),
            HostError::PathTooLong => f.write_str("path too long"),
            HostError::TooLarge => f.write_str("file too large"),
            HostError::ShortRead => f.write_str("file too short"),
            HostError::Io(errno) => write!(f, "host error {errno}"),
        }
    }
}

/// How [`HostFile::open`] opens a file (the `fopen` modes semihosting knows).
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `rb`: read an existing file.
    Read,
    /// `wb`: create or truncate, then write.
    Write,
    /// `a`: append (`:tt` in this mode is the host's standard error).
    Append,
}

/// A NUL-terminated copy of `path`.
fn c_path(path: &str) -> Result<heapless::String<PATH_CAPACITY>, HostError> {
    let mut c = heapless::String::new();
    c.push_str(path).map_err(|_| HostError::PathTooLong)?;
    c.push('\0').map_err(|_| HostError::PathTooLong)?;
    Ok(c)
}

/// The host's errno after a failed call.
fn errno() -> HostError {
    // SAFETY: SYS_ERRNO takes no argument and only returns a number.
    match unsafe { syscall1!(ERRNO, 0) } {
        ENOENT => HostError::NotFound,
        other => HostError::Io(other),
    }
}

/// An open host file, closed on drop.
#[derive(Debug)]
pub struct HostFile {
    handle: usize,
}

impl HostFile {
    /// Opens `path` (relative to QEMU's working directory).
    pub fn open(path: &str, mode: Mode) -> Result<HostFile, HostError> {
        let c = c_path(path)?;
        let mode = match mode {
            Mode::Read => nr::open::R_BINARY,
            Mode::Write => nr::open::W_TRUNC_BINARY,
            Mode::Append => nr::open::W_APPEND,
        };
        // SAFETY: SYS_OPEN reads `len` bytes of the NUL-terminated path, which lives
        // until the call returns.
        let handle = unsafe { syscall!(OPEN, c.as_ptr(), mode, c.len() - 1) };
        if handle == usize::MAX {
            return Err(errno());
        }
        Ok(HostFile { handle })
    }

    /// Reads the whole file.
    pub fn read_to_end(&mut self) -> Result<Vec<u8>, HostError> {
        // SAFETY: SYS_FLEN takes the open handle and returns a length or -1.
        let len = unsafe { syscall!(FLEN, self.handle) };
        if len == usize::MAX {
            return Err(errno());
        }
        if len > MAX_FILE {
            return Err(HostError::TooLarge);
        }
        let mut buf = alloc::vec![0u8; len];
        // SAFETY: SYS_READ writes at most `len` bytes into `buf`, which is `len` long and
        // outlives the call. It returns how many bytes it did not read.
        let unread = unsafe { syscall!(READ, self.handle, buf.as_mut_ptr(), len) };
        if unread > len {
            return Err(errno());
        }
        buf.truncate(len - unread);
        Ok(buf)
    }

    /// Fills `buf` (for devices such as `/dev/urandom`, whose length reads as 0).
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), HostError> {
        // SAFETY: as in `read_to_end`: at most `buf.len()` bytes into `buf`.
        let unread = unsafe { syscall!(READ, self.handle, buf.as_mut_ptr(), buf.len()) };
        match unread {
            0 => Ok(()),
            n if n <= buf.len() => Err(HostError::ShortRead),
            _ => Err(errno()),
        }
    }

    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), HostError> {
        // SAFETY: SYS_WRITE reads `len` bytes from `bytes`, which outlives the call. It
        // returns how many bytes it did not write.
        let unwritten = unsafe { syscall!(WRITE, self.handle, bytes.as_ptr(), bytes.len()) };
        if unwritten != 0 {
            return Err(errno());
        }
        Ok(())
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        // SAFETY: SYS_CLOSE takes the handle this value owns; it is not used again.
        unsafe {
            syscall!(CLOSE, self.handle);
        }
    }
}

/// Reads the file at `path`.
pub fn read(path: &str) -> Result<Vec<u8>, HostError> {
    HostFile::open(path, Mode::Read)?.read_to_end()
}

/// Replaces the file at `path` with `bytes`, atomically: readers see the old file or the
/// new one, never half of one.
pub fn replace(path: &str, bytes: &[u8]) -> Result<(), HostError> {
    let mut tmp: heapless::String<PATH_CAPACITY> = heapless::String::new();
    write!(tmp, "{path}.tmp").map_err(|_| HostError::PathTooLong)?;
    {
        let mut file = HostFile::open(&tmp, Mode::Write)?;
        file.write_all(bytes)?;
    }
    let from = c_path(&tmp)?;
    let to = c_path(path)?;
    // SAFETY: SYS_RENAME reads both NUL-terminated paths of the given lengths; they live
    // until the call returns. It returns 0 on success.
    let status = unsafe {
        syscall!(
            RENAME,
            from.as_ptr(),
            from.len() - 1,
            to.as_ptr(),
            to.len() - 1
        )
    };
    if status != 0 {
        return Err(errno());
    }
    Ok(())
}

/// The host's clock: seconds since the Unix epoch (`SYS_TIME`).
pub fn unix_time() -> u32 {
    // SAFETY: SYS_TIME takes no argument and returns a number.
    unsafe { syscall1!(TIME, 0) as u32 }
}

/// Host ticks since QEMU started (`SYS_ELAPSED`, nanoseconds on QEMU); `None` when the
/// host does not support it.
pub fn elapsed_ticks() -> Option<u64> {
    let mut ticks = [0u32; 2];
    // SAFETY: SYS_ELAPSED writes two words (low, high) at the address it is given, which
    // is `ticks`, alive until the call returns.
    let status = unsafe { syscall1!(ELAPSED, ticks.as_mut_ptr()) };
    (status == 0).then(|| u64::from(ticks[0]) | (u64::from(ticks[1]) << 32))
}

/// Writes a diagnostic line to the host's standard error (QEMU's), never to the board's
/// console: the console carries only what the firmware core prints.
pub fn diagnostic(args: core::fmt::Arguments<'_>) {
    let mut line: heapless::String<256> = heapless::String::new();
    let _ = line.write_str("fut-mps2-an385: ");
    let _ = line.write_fmt(args);
    let _ = line.write_str("\n");
    if let Ok(mut stderr) = HostFile::open(":tt", Mode::Append) {
        let _ = stderr.write_all(line.as_bytes());
    }
}
