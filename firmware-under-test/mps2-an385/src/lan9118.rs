//! The AN385's Ethernet controller, an SMSC LAN9118 at `0x4020_0000` (interrupt 13), behind
//! smoltcp's [`smoltcp::phy::Device`]: frames in and out through its FIFOs, the link state
//! from its PHY.
//!
//! Only register glue is written here; register and bit names are the SMSC LAN9118
//! datasheet's (section 5, "System Control and Status Registers", and 5.4 "MAC Control and
//! Status Registers"), checked against what QEMU emulates (`hw/net/lan9118.c`):
//!
//! - start: `HW_CFG.SRST`, wait for `PMT_CTRL.READY`; MAC address into `ADDRH`/`ADDRL`
//!   through `MAC_CSR_CMD`/`MAC_CSR_DATA`; `MAC_CR` = `TXEN | RXEN | FDPX` (QEMU's reset
//!   value is promiscuous, `PRMS`, which is cleared: only our address and broadcast come
//!   in); `TX_CFG.TX_ON`.
//! - transmit: TX command A (`FIRST_SEG | LAST_SEG | buffer size`) and B (packet length)
//!   then the frame as little-endian words into `TX_DATA_FIFO`; `TX_FIFO_INF.TDFREE` says
//!   whether it fits; the status QEMU pushes to `TX_STATUS_FIFO` is popped and dropped.
//! - receive: `RX_FIFO_INF.RXSUSED` counts frames waiting; `RX_STATUS_FIFO` gives one
//!   frame's length (with its 4-byte FCS) and error bit; the frame is read as words from
//!   `RX_DATA_FIFO` and the FCS dropped.
//! - link: the PHY's basic status register (MII register 1, `LINK_STATUS` bit 2) through
//!   `MII_ACC`/`MII_DATA`. QEMU clears it on QMP `set_link <id> off` and sets it again on
//!   `on`; [`Lan9118::link_up`] reads it.
//!
//! The chip's interrupt is not used: the main loop polls (SysTick wakes it every
//! millisecond), which QEMU's model, whose FIFO-level interrupts are not implemented, suits.
//! What the frames mean is smoltcp's business ([`crate::net`]).

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Base address of the LAN9118 on the AN385.
const BASE: usize = 0x4020_0000;

// System control and status registers (offsets from BASE).
const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const TX_STATUS_FIFO: usize = 0x48;
const ID_REV: usize = 0x50;
const INT_EN: usize = 0x5c;
const BYTE_TEST: usize = 0x64;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7c;
const TX_FIFO_INF: usize = 0x80;
const PMT_CTRL: usize = 0x84;
const MAC_CSR_CMD: usize = 0xa4;
const MAC_CSR_DATA: usize = 0xa8;

// MAC control and status registers (indexes through MAC_CSR_CMD).
const MAC_CR: u32 = 1;
const ADDRH: u32 = 2;
const ADDRL: u32 = 3;
const MII_ACC: u32 = 6;
const MII_DATA: u32 = 7;

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const HW_CFG_SRST: u32 = 1 << 0;
const PMT_CTRL_READY: u32 = 1 << 0;
const TX_CFG_TX_ON: u32 = 1 << 1;
const MAC_CSR_BUSY: u32 = 1 << 31;
const MAC_CSR_READ: u32 = 1 << 30;
const MAC_CR_RXEN: u32 = 1 << 2;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_FDPX: u32 = 1 << 20;
const MII_ACC_BUSY: u32 = 1 << 0;
/// The internal PHY's address on the MII bus.
const PHY_ADDRESS: u32 = 1;
/// PHY basic status register and its link bit.
const PHY_BSR: u32 = 1;
const PHY_BSR_LINK_STATUS: u32 = 1 << 2;
/// TX command A: first and last segment.
const TX_CMD_A_FIRST_SEG: u32 = 1 << 13;
const TX_CMD_A_LAST_SEG: u32 = 1 << 12;
/// RX status: error summary.
const RX_STS_ES: u32 = 1 << 15;

/// Largest Ethernet frame, without FCS.
pub const MTU: usize = 1514;
/// Polls of a busy bit before giving up.
const SPINS: u32 = 100_000;

fn read(offset: usize) -> u32 {
    // SAFETY: a LAN9118 register of the AN385, always mapped; reads of the FIFO ports are
    // done only when the FIFO holds that many words (see `receive`).
    unsafe { core::ptr::read_volatile((BASE + offset) as *const u32) }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((BASE + offset) as *mut u32, value) }
}

/// Why the controller could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// `BYTE_TEST` did not read `0x87654321`: no LAN9118 there (QEMU without a NIC?).
    NotFound,
    /// A busy or ready bit never changed.
    Timeout,
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::NotFound => f.write_str("no LAN9118 at 0x40200000"),
            InitError::Timeout => f.write_str("the LAN9118 did not answer"),
        }
    }
}

/// The started controller.
#[derive(Debug)]
pub struct Lan9118 {
    rx: [u8; MTU + 4],
    tx: Transmitter,
}

/// The transmit half: its buffer and the TX FIFO.
#[derive(Debug)]
struct Transmitter {
    buf: [u8; MTU],
}

fn wait(mut done: impl FnMut() -> bool) -> Result<(), InitError> {
    for _ in 0..SPINS {
        if done() {
            return Ok(());
        }
    }
    Err(InitError::Timeout)
}

fn mac_read(index: u32) -> Result<u32, InitError> {
    write(MAC_CSR_CMD, MAC_CSR_BUSY | MAC_CSR_READ | index);
    wait(|| read(MAC_CSR_CMD) & MAC_CSR_BUSY == 0)?;
    Ok(read(MAC_CSR_DATA))
}

fn mac_write(index: u32, value: u32) -> Result<(), InitError> {
    write(MAC_CSR_DATA, value);
    write(MAC_CSR_CMD, MAC_CSR_BUSY | index);
    wait(|| read(MAC_CSR_CMD) & MAC_CSR_BUSY == 0)
}

fn phy_read(register: u32) -> Result<u32, InitError> {
    wait(|| mac_read(MII_ACC).is_ok_and(|acc| acc & MII_ACC_BUSY == 0))?;
    mac_write(
        MII_ACC,
        (PHY_ADDRESS << 11) | (register << 6) | MII_ACC_BUSY,
    )?;
    wait(|| mac_read(MII_ACC).is_ok_and(|acc| acc & MII_ACC_BUSY == 0))?;
    Ok(mac_read(MII_DATA)? & 0xffff)
}

impl Lan9118 {
    /// Resets the controller and starts it with `mac` as its address.
    pub fn init(mac: [u8; 6]) -> Result<Lan9118, InitError> {
        if read(BYTE_TEST) != BYTE_TEST_VALUE {
            return Err(InitError::NotFound);
        }
        write(HW_CFG, HW_CFG_SRST);
        wait(|| read(HW_CFG) & HW_CFG_SRST == 0)?;
        wait(|| read(PMT_CTRL) & PMT_CTRL_READY != 0)?;
        let _id = read(ID_REV);
        write(INT_EN, 0);
        mac_write(ADDRL, u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]))?;
        mac_write(ADDRH, u32::from(mac[4]) | (u32::from(mac[5]) << 8))?;
        mac_write(MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_FDPX)?;
        write(TX_CFG, TX_CFG_TX_ON);
        Ok(Lan9118 {
            rx: [0; MTU + 4],
            tx: Transmitter { buf: [0; MTU] },
        })
    }

    /// The PHY reports a link (QMP `set_link ... on`, the default).
    pub fn link_up(&self) -> bool {
        phy_read(PHY_BSR).is_ok_and(|bsr| bsr & PHY_BSR_LINK_STATUS != 0)
    }

    /// Reads the next frame into the receive buffer; its length without FCS, or `None`
    /// when nothing is waiting (a frame with errors is read and dropped).
    fn receive(&mut self) -> Option<usize> {
        loop {
            if (read(RX_FIFO_INF) >> 16) & 0xff == 0 {
                return None;
            }
            let status = read(RX_STATUS_FIFO);
            let len = ((status >> 16) & 0x3fff) as usize;
            let words = len.div_ceil(4);
            let fits = len <= self.rx.len() && len >= 4 && status & RX_STS_ES == 0;
            for i in 0..words {
                let word = read(RX_DATA_FIFO).to_le_bytes();
                if fits {
                    let at = i * 4;
                    let n = (len - at).min(4);
                    self.rx[at..at + n].copy_from_slice(&word[..n]);
                }
            }
            if fits {
                return Some(len - 4);
            }
        }
    }
}

impl Transmitter {
    /// Whether a frame of `len` bytes fits the TX data FIFO now.
    fn can_transmit(len: usize) -> bool {
        let free = (read(TX_FIFO_INF) & 0xffff) as usize;
        free >= len.div_ceil(4) * 4 + 8
    }

    /// Sends the first `len` bytes of the transmit buffer.
    fn transmit(&mut self, len: usize) {
        // Statuses of frames already sent: popped so the status FIFO never fills.
        while (read(TX_FIFO_INF) >> 16) & 0xff != 0 {
            let _ = read(TX_STATUS_FIFO);
        }
        let len32 = len as u32;
        write(TX_DATA_FIFO, TX_CMD_A_FIRST_SEG | TX_CMD_A_LAST_SEG | len32);
        write(TX_DATA_FIFO, (len32 << 16) | len32);
        for chunk in self.buf[..len].chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            write(TX_DATA_FIFO, u32::from_le_bytes(word));
        }
    }
}

/// A received frame, lent to smoltcp.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room for one frame to send.
pub struct TxToken<'a> {
    tx: &'a mut Transmitter,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MTU);
        let result = f(&mut self.tx.buf[..len]);
        self.tx.transmit(len);
        result
    }
}

impl phy::Device for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if !Transmitter::can_transmit(MTU) {
            return None;
        }
        let len = Lan9118::receive(self)?;
        let Lan9118 { rx, tx } = self;
        Some((RxToken { frame: &rx[..len] }, TxToken { tx }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Transmitter::can_transmit(MTU).then_some(TxToken { tx: &mut self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }
}
