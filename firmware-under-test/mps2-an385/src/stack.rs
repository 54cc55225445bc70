//! The TCP/IP stack: smoltcp's [`Interface`] over the [`Lan9118`], with one DHCP, one DNS
//! and one TCP socket — all the board ever needs at once.
//!
//! [`Stack`] is plain data plus [`Stack::poll`], which moves frames between the controller
//! and the sockets at firmware time. It is shared (a `RefCell` in a leaked box, the
//! firmware is single-threaded and no interrupt touches it) between [`crate::net`], which
//! drives DHCP, DNS and the connection's life, and [`crate::tls`]'s socket adapter, which
//! polls it while the TLS handshake waits for bytes. What the TCP bytes mean is theirs.

use crate::clock;
use crate::lan9118::Lan9118;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, dns, tcp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv4Cidr};

/// TCP receive and send buffers (a TLS record is up to 16 KiB + overhead).
const TCP_BUFFER: usize = 20 * 1024;

/// What DHCP gave.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The board's address and prefix.
    pub address: Ipv4Cidr,
    /// The default gateway.
    pub router: Option<Ipv4Address>,
    /// DNS servers.
    pub dns_servers: Vec<IpAddress>,
}

/// The interface, its device and its sockets.
pub struct Stack {
    /// smoltcp's interface (addresses, routes, ARP cache).
    pub iface: Interface,
    /// The Ethernet controller.
    pub device: Lan9118,
    /// The sockets.
    pub sockets: SocketSet<'static>,
    /// The DHCP client.
    pub dhcp: SocketHandle,
    /// The DNS resolver.
    pub dns: SocketHandle,
    /// The connection to the endpoint.
    pub tcp: SocketHandle,
}

/// smoltcp's time: firmware time.
pub fn now() -> Instant {
    Instant::from_millis(clock::now().0 as i64)
}

impl Stack {
    /// The stack over `device`, with the hardware address `mac`, no IP address yet.
    pub fn new(mut device: Lan9118, mac: [u8; 6]) -> Stack {
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let iface = Interface::new(config, &mut device, now());
        let mut sockets = SocketSet::new(Vec::new());
        let mut dhcp = dhcpv4::Socket::new();
        // A DISCOVER a second, not every 10 s (smoltcp's default): a join is given 5 s.
        let mut retry = dhcpv4::RetryConfig::default();
        retry.discover_timeout = smoltcp::time::Duration::from_secs(1);
        retry.initial_request_timeout = smoltcp::time::Duration::from_secs(1);
        dhcp.set_retry_config(retry);
        let dhcp = sockets.add(dhcp);
        let dns = sockets.add(dns::Socket::new(&[], Vec::new()));
        let tcp = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
            tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        ));
        Stack {
            iface,
            device,
            sockets,
            dhcp,
            dns,
            tcp,
        }
    }

    /// Moves frames between the controller and the sockets.
    pub fn poll(&mut self) {
        let _ = self.iface.poll(now(), &mut self.device, &mut self.sockets);
    }

    /// The TCP socket.
    pub fn tcp(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.tcp)
    }

    /// Takes the DHCP lease: address, default route, DNS servers.
    pub fn configure(&mut self, config: &Lease) {
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            let _ = addrs.push(IpCidr::Ipv4(config.address));
        });
        self.iface.routes_mut().remove_default_ipv4_route();
        if let Some(router) = config.router {
            let _ = self.iface.routes_mut().add_default_ipv4_route(router);
        }
        self.sockets
            .get_mut::<dns::Socket>(self.dns)
            .update_servers(&config.dns_servers);
    }

    /// Forgets the lease (link lost) and restarts DHCP.
    pub fn deconfigure(&mut self) {
        self.iface.update_ip_addrs(|addrs| addrs.clear());
        self.iface.routes_mut().remove_default_ipv4_route();
        self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).reset();
        self.tcp().abort();
    }

    /// Starts DHCP over (the link just came up: no waiting for the next retry).
    pub fn restart_dhcp(&mut self) {
        self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).reset();
    }

    /// The address DHCP gave, if any.
    pub fn address(&self) -> Option<Ipv4Address> {
        self.iface.ipv4_addr()
    }
}
