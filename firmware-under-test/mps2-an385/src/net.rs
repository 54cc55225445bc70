//! The network as the core sees it: "Wi-Fi" is the Ethernet link plus a DHCP lease, the
//! transport is TLS over TCP to the endpoint, and MQTT packets go over it.
//!
//! [`Network`] takes the core's network actions ([`Network::join`], [`Network::open_transport`],
//! [`Network::send`], [`Network::close`], [`Network::leave`]) and reports what happened
//! as [`NetEvent`]s, queued and fed back to the core in order by [`crate::firmware`].
//! [`Network::poll`] runs every pass of the main loop: it moves frames, follows the PHY's
//! link (QMP `set_link <id> off` → [`NetEvent::Lost`]), the DHCP client, and reads what
//! the broker sent.
//!
//! - Join: link up and a DHCP lease (QEMU's user network gives 10.0.2.15, router 10.0.2.2,
//!   DNS 10.0.2.3) within [`JOIN_TIMEOUT`] of firmware time, else [`NetEvent::JoinFailed`].
//!   The Wi-Fi credentials stay required by the core; the link does not look at them.
//! - Open: the endpoint's name through the state dir's `hosts` file ([`crate::hosts`]),
//!   else DNS (smoltcp's resolver, the DHCP-given server); TCP; then TLS
//!   ([`crate::tls`]). These steps block the main loop, each bounded (DNS and TCP by
//!   [`CONNECT_TIMEOUT`], TLS reads by [`crate::tls::IO_TIMEOUT`]); against QEMU's user
//!   network they take milliseconds.
//! - Packets: [`crate::mqtt`] encodes the core's and checks the broker's; a bad one is a
//!   diagnostic on QEMU's standard error and [`NetEvent::TransportClosed`], never a panic.
//!
//! The Ethernet registers are [`crate::lan9118`]'s, the smoltcp plumbing [`crate::stack`]'s.

use crate::clock;
use crate::host;
use crate::hosts;
use crate::lan9118::Lan9118;
use crate::mqtt::{self, Frames};
use crate::secure_element::SecureElement;
use crate::stack::{Lease, Stack};
use crate::tls::{self, HandshakeError, Session};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;
use firmware_under_test::board::{Action, Input, TransportError};
use firmware_under_test::credentials::Credentials;
use firmware_under_test::time::{Duration, Instant};
use smoltcp::socket::{dhcpv4, dns, tcp};
use smoltcp::wire::{DnsQueryType, IpAddress, Ipv4Address};

/// Longest wait for a DHCP lease.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a DNS answer, and for TCP to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the PHY's link bit is read.
const LINK_POLL: Duration = Duration::from_millis(100);

/// What the network tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// Link up and a lease.
    Joined,
    /// No lease in time (or no Ethernet controller).
    JoinFailed,
    /// The link went down.
    Lost,
    /// TLS is up.
    TransportUp,
    /// The connection could not be opened.
    TransportFailed(TransportError),
    /// The open connection ended.
    TransportClosed,
    /// A whole, checked MQTT packet from the broker.
    Packet(Vec<u8>),
}

impl NetEvent {
    /// The core's input for this event (`None` for a packet the core does not take).
    pub fn input(&self) -> Option<Input<'_>> {
        Some(match self {
            NetEvent::Joined => Input::WifiJoined,
            NetEvent::JoinFailed => Input::WifiJoinFailed,
            NetEvent::Lost => Input::WifiLost,
            NetEvent::TransportUp => Input::TransportUp,
            NetEvent::TransportFailed(kind) => Input::TransportFailed(*kind),
            NetEvent::TransportClosed => Input::TransportClosed,
            NetEvent::Packet(packet) => return mqtt::input(packet),
        })
    }
}

/// Where the link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not asked to join (or left, or lost).
    Idle,
    /// Waiting for link and lease until the deadline.
    Joining(Instant),
    /// Joined.
    Joined,
}

/// The network interface; see the module doc.
pub struct Network {
    stack: Option<&'static RefCell<Stack>>,
    events: VecDeque<NetEvent>,
    link: Link,
    link_up: bool,
    link_checked: Instant,
    session: Option<Session>,
    frames: Frames,
    next_port: u16,
}

/// A locally administered unicast MAC address from the device serial.
pub fn mac_for(serial: &str) -> [u8; 6] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(serial.as_bytes());
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] & 0xfc) | 0x02;
    mac
}

impl Network {
    /// Starts the Ethernet controller; without one every join fails (and QEMU's standard
    /// error says why).
    pub fn new(serial: &str) -> Network {
        let mac = mac_for(serial);
        let stack = match Lan9118::init(mac) {
            Ok(device) => Some(&*Box::leak(Box::new(RefCell::new(Stack::new(device, mac))))),
            Err(e) => {
                host::diagnostic(format_args!("ethernet: {e}"));
                None
            }
        };
        // A different local port range after every boot: QEMU's user network may still
        // hold the last boot's connections.
        let next_port = 49152 + (host::elapsed_ticks().unwrap_or(0) % 8192) as u16;
        Network {
            stack,
            events: VecDeque::new(),
            link: Link::Idle,
            link_up: false,
            link_checked: Instant::ZERO,
            session: None,
            frames: Frames::default(),
            next_port,
        }
    }

    /// The next event to feed to the core.
    pub fn next_event(&mut self) -> Option<NetEvent> {
        self.events.pop_front()
    }

    /// `Action::JoinWifi`: link up and a lease, reported within [`JOIN_TIMEOUT`].
    pub fn join(&mut self) {
        let Some(stack) = self.stack else {
            self.events.push_back(NetEvent::JoinFailed);
            return;
        };
        let mut stack = stack.borrow_mut();
        if self.link_up && stack.address().is_some() {
            self.link = Link::Joined;
            self.events.push_back(NetEvent::Joined);
        } else {
            self.link = Link::Joining(clock::now() + JOIN_TIMEOUT);
        }
        stack.poll();
    }

    /// `Action::LeaveWifi`.
    pub fn leave(&mut self) {
        self.close();
        self.link = Link::Idle;
    }

    /// `Action::CloseTransport`.
    pub fn close(&mut self) {
        self.session = None;
        self.frames.clear();
        if let Some(stack) = self.stack {
            let mut stack = stack.borrow_mut();
            stack.tcp().abort();
            stack.poll();
        }
    }

    /// `Action::OpenTransport`: resolves, connects and runs the TLS handshake; reports
    /// [`NetEvent::TransportUp`] or [`NetEvent::TransportFailed`].
    pub fn open_transport(&mut self, credentials: &Credentials, secure_element: &SecureElement) {
        self.close();
        let event = match self.connect(credentials, secure_element) {
            Ok(session) => {
                self.session = Some(session);
                NetEvent::TransportUp
            }
            Err(kind) => NetEvent::TransportFailed(kind),
        };
        self.events.push_back(event);
    }

    fn connect(
        &mut self,
        credentials: &Credentials,
        secure_element: &SecureElement,
    ) -> Result<Session, TransportError> {
        let fail = |why: core::fmt::Arguments<'_>| {
            host::diagnostic(format_args!("connect: {why}"));
            TransportError::Other
        };
        let stack = match (self.stack, self.link) {
            (Some(stack), Link::Joined) => stack,
            _ => return Err(fail(format_args!("no link"))),
        };
        let (Some(endpoint), Some(root_ca), Some(device_cert)) = (
            &credentials.endpoint,
            &credentials.root_ca,
            &credentials.device_cert,
        ) else {
            return Err(fail(format_args!("credentials missing")));
        };
        let root_ca = pem_to_der(root_ca).ok_or_else(|| fail(format_args!("root CA PEM")))?;
        let device_cert =
            pem_to_der(device_cert).ok_or_else(|| fail(format_args!("device certificate PEM")))?;
        let host = endpoint.host.as_str();
        let address = match hosts::lookup(host) {
            Some(address) => address,
            None => {
                resolve(stack, host).ok_or_else(|| fail(format_args!("cannot resolve {host}")))?
            }
        };
        let port = self.next_port;
        self.next_port = if port >= 65000 { 49152 } else { port + 1 };
        tcp_connect(stack, address, endpoint.port, port)
            .map_err(|why| fail(format_args!("TCP to {address}:{}: {why}", endpoint.port)))?;
        let params = tls::Params {
            host,
            root_ca: &root_ca,
            device_cert: &device_cert,
            secure_element,
        };
        Session::open(stack, &params).map_err(|e| match e {
            HandshakeError::ServerCertificate(e) => {
                host::diagnostic(format_args!("TLS: server certificate refused: {e:?}"));
                stack.borrow_mut().tcp().abort();
                TransportError::ServerCertificate
            }
            HandshakeError::Other(e) => {
                stack.borrow_mut().tcp().abort();
                fail(format_args!("TLS: {e:?}"))
            }
        })
    }

    /// `Action::Mqtt*`: encodes and sends the packet; a failure closes the connection.
    pub fn send(&mut self, action: &Action) {
        let Some(session) = &mut self.session else {
            return;
        };
        let mut buf = [0u8; 1024];
        let len = match mqtt::encode(action, &mut buf) {
            Ok(Some(len)) => len,
            Ok(None) => return,
            Err(_) => {
                host::diagnostic(format_args!("mqtt: cannot encode {action:?}"));
                return;
            }
        };
        if let Err(e) = session.write_all(&buf[..len]) {
            host::diagnostic(format_args!("connection lost while sending: {e:?}"));
            self.drop_connection();
        }
    }

    /// The connection ended under us: closes it and tells the core.
    fn drop_connection(&mut self) {
        self.close();
        self.events.push_back(NetEvent::TransportClosed);
    }

    /// Runs the stack: frames, link, DHCP, the broker's bytes. Call on every pass of the
    /// main loop.
    pub fn poll(&mut self) {
        let Some(stack) = self.stack else {
            if let Link::Joining(deadline) = self.link
                && clock::now() >= deadline
            {
                self.link = Link::Idle;
                self.events.push_back(NetEvent::JoinFailed);
            }
            return;
        };
        let now = clock::now();
        if now >= self.link_checked + LINK_POLL || now < self.link_checked {
            self.link_checked = now;
            let up = stack.borrow().device.link_up();
            if up != self.link_up {
                self.link_up = up;
                if up {
                    stack.borrow_mut().restart_dhcp();
                } else {
                    self.on_link_down(stack);
                }
            }
        }
        {
            let mut stack = stack.borrow_mut();
            stack.poll();
            let dhcp = stack.dhcp;
            let lease = match stack.sockets.get_mut::<dhcpv4::Socket>(dhcp).poll() {
                Some(dhcpv4::Event::Configured(config)) => Some(Some(Lease {
                    address: config.address,
                    router: config.router,
                    dns_servers: config.dns_servers.iter().map(|s| (*s).into()).collect(),
                })),
                Some(dhcpv4::Event::Deconfigured) => Some(None),
                None => None,
            };
            match lease {
                Some(Some(lease)) => stack.configure(&lease),
                Some(None) => stack.deconfigure(),
                None => {}
            }
        }
        if let Link::Joining(deadline) = self.link {
            let address = stack.borrow().address();
            if let (true, Some(address)) = (self.link_up, address) {
                host::diagnostic(format_args!("link up, address {address}"));
                self.link = Link::Joined;
                self.events.push_back(NetEvent::Joined);
            } else if now >= deadline {
                host::diagnostic(format_args!(
                    "join failed: link {}, no DHCP lease",
                    if self.link_up { "up" } else { "down" }
                ));
                self.link = Link::Idle;
                self.events.push_back(NetEvent::JoinFailed);
            }
        }
        self.read_packets();
    }

    fn on_link_down(&mut self, stack: &'static RefCell<Stack>) {
        host::diagnostic(format_args!("link down"));
        let was = self.link;
        self.session = None;
        self.frames.clear();
        stack.borrow_mut().deconfigure();
        match was {
            Link::Joined => {
                self.link = Link::Idle;
                self.events.push_back(NetEvent::Lost);
            }
            // A join in progress waits out its deadline: the link may come back.
            Link::Joining(_) | Link::Idle => {}
        }
    }

    fn read_packets(&mut self) {
        let Some(session) = &mut self.session else {
            return;
        };
        let mut buf = [0u8; 2048];
        loop {
            match session.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.frames.push(&buf[..n]),
                Err(e) => {
                    host::diagnostic(format_args!("connection closed: {e:?}"));
                    self.drop_connection();
                    return;
                }
            }
        }
        loop {
            match self.frames.next_packet() {
                Ok(Some(packet)) => self.events.push_back(NetEvent::Packet(packet)),
                Ok(None) => break,
                Err(e) => {
                    host::diagnostic(format_args!("mqtt: {e} from the broker; closing"));
                    self.drop_connection();
                    break;
                }
            }
        }
    }
}

/// The DER inside a PEM `CERTIFICATE` block.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).ok()?;
    (label == "CERTIFICATE").then_some(der)
}

/// Polls the stack until `done` says so or [`CONNECT_TIMEOUT`] passes.
fn wait_for<T>(stack: &RefCell<Stack>, mut done: impl FnMut(&mut Stack) -> Option<T>) -> Option<T> {
    let until = clock::now() + CONNECT_TIMEOUT;
    loop {
        {
            let mut stack = stack.borrow_mut();
            stack.poll();
            if let Some(value) = done(&mut stack) {
                return Some(value);
            }
        }
        if clock::now() >= until {
            return None;
        }
        cortex_m::asm::wfi();
    }
}

/// An A record for `name` from the DHCP-given DNS server.
fn resolve(stack: &RefCell<Stack>, name: &str) -> Option<Ipv4Address> {
    if let Ok(address) = name.parse::<Ipv4Address>() {
        return Some(address);
    }
    let query = {
        let mut guard = stack.borrow_mut();
        let Stack {
            iface,
            sockets,
            dns: handle,
            ..
        } = &mut *guard;
        sockets
            .get_mut::<dns::Socket>(*handle)
            .start_query(iface.context(), name, DnsQueryType::A)
            .ok()?
    };
    let answer = wait_for(stack, |stack| {
        let handle = stack.dns;
        match stack
            .sockets
            .get_mut::<dns::Socket>(handle)
            .get_query_result(query)
        {
            Ok(addresses) => Some(addresses.iter().find_map(|a| match a {
                IpAddress::Ipv4(v4) => Some(*v4),
                #[allow(unreachable_patterns)]
                _ => None,
            })),
            Err(dns::GetQueryResultError::Pending) => None,
            Err(_) => Some(None),
        }
    });
    if answer.is_none() {
        // Timed out with the query still pending: give its slot back (the socket's slots
        // are a growing Vec; a slot per unanswered attempt would fill the heap).
        let mut guard = stack.borrow_mut();
        let handle = guard.dns;
        guard
            .sockets
            .get_mut::<dns::Socket>(handle)
            .cancel_query(query);
    }
    answer.flatten()
}

/// Connects the TCP socket; why not, if it did not.
fn tcp_connect(
    stack: &RefCell<Stack>,
    address: Ipv4Address,
    port: u16,
    local_port: u16,
) -> Result<(), &'static str> {
    {
        let mut guard = stack.borrow_mut();
        let Stack {
            iface,
            sockets,
            tcp: handle,
            ..
        } = &mut *guard;
        let socket = sockets.get_mut::<tcp::Socket>(*handle);
        socket.abort();
        socket
            .connect(
                iface.context(),
                (IpAddress::Ipv4(address), port),
                local_port,
            )
            .map_err(|_| "cannot start")?;
    }
    match wait_for(stack, |stack| match stack.tcp().state() {
        tcp::State::Established => Some(true),
        tcp::State::Closed | tcp::State::TimeWait => Some(false),
        _ => None,
    }) {
        Some(true) => Ok(()),
        Some(false) => Err("refused"),
        None => {
            stack.borrow_mut().tcp().abort();
            Err("timed out")
        }
    }
}
