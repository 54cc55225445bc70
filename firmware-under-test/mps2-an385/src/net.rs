//! The network, NOT YET: this slice has no network stack, so every attempt fails and the
//! board shows its error states (blue blinks while it retries the link every 2 s).
//!
//! What comes next (issue 12, the network slice), in this module and beside it:
//! - a LAN9118 driver (`0x4020_0000`, interrupt 13 in [`crate::interrupts`]) behind
//!   smoltcp's `phy::Device`; the "Wi-Fi" join becomes "link up and a DHCP lease from QEMU's
//!   user network", `wifi_down`/`wifi_up` become QMP `set_link`;
//! - smoltcp for TCP and DNS (the endpoint name resolving to the rig's broker);
//! - TLS 1.2/1.3 with the device certificate and signer, the private key used only inside
//!   [`crate::secure_element`] (which will gain a signing entry point for the handshake),
//!   server verified against the root CA, SNI = the endpoint host;
//! - an MQTT 3.1.1 codec for the core's packets (`Action::Mqtt*` out, `Input::ConnAck`,
//!   `Publish`, `PubAck`, `SubAck`, `PingResp` in).
//!
//! [`Network`] already has the shape the main loop needs: actions in, events out, queued
//! and fed back to the core in order.

use firmware_under_test::board::{Input, TransportError};

/// What the network tells the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetEvent {
    /// The link could not be brought up.
    JoinFailed,
    /// The connection to the endpoint could not be opened.
    TransportFailed,
}

impl NetEvent {
    /// The core's input for this event.
    pub fn input(self) -> Input<'static> {
        match self {
            NetEvent::JoinFailed => Input::WifiJoinFailed,
            NetEvent::TransportFailed => Input::TransportFailed(TransportError::Other),
        }
    }
}

/// The network interface: today, none.
#[derive(Debug, Default)]
pub struct Network {
    events: heapless::Deque<NetEvent, 4>,
}

impl Network {
    /// `Action::JoinWifi`: fails, there is no link driver yet.
    pub fn join(&mut self) {
        let _ = self.events.push_back(NetEvent::JoinFailed);
    }

    /// `Action::OpenTransport`: fails, there is no TCP/IP stack yet.
    pub fn open_transport(&mut self) {
        let _ = self.events.push_back(NetEvent::TransportFailed);
    }

    /// `Action::LeaveWifi` / `Action::CloseTransport`: nothing is open.
    pub fn close(&mut self) {}

    /// The next event to feed to the core.
    pub fn next_event(&mut self) -> Option<NetEvent> {
        self.events.pop_front()
    }
}
