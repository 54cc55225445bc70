//! The `hosts` file in the board's state dir: how the harness points the endpoint name at
//! its broker without a DNS server of its own.
//!
//! Before each connection attempt [`lookup`] reads `hosts` (QEMU's working directory,
//! through semihosting: [`crate::host`]) in `/etc/hosts` format — `<IPv4> <name>
//! [<name>...]` a line, `#` starts a comment — and returns the address of the first line
//! naming the host. It is read every time, so the harness may rewrite it between attempts.
//! No file, or no line for the name, is `None`: [`crate::net`] then asks DNS. IPv6 lines
//! are skipped (the board speaks IPv4 only).

use crate::host::{self, HostError};
use smoltcp::wire::Ipv4Address;

/// The file's name in the state dir.
pub const HOSTS_FILE: &str = "hosts";

/// The address `hosts` gives `name`, if any.
pub fn lookup(name: &str) -> Option<Ipv4Address> {
    match host::read(HOSTS_FILE) {
        Ok(bytes) => find(core::str::from_utf8(&bytes).ok()?, name),
        Err(HostError::NotFound) => None,
        Err(e) => {
            host::diagnostic(format_args!("cannot read {HOSTS_FILE}: {e}"));
            None
        }
    }
}

/// The address of the first line of `text` that names `name` (case-insensitive, as DNS).
pub fn find(text: &str, name: &str) -> Option<Ipv4Address> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_ascii_whitespace();
        let address = fields.next()?.parse::<Ipv4Address>().ok()?;
        fields
            .any(|alias| alias.eq_ignore_ascii_case(name))
            .then_some(address)
    })
}
