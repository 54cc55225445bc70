//! [`ProbeRsBoard`]: the [`Board`] implementation that puts the probe, the chip session,
//! the console, LED polling and RTT capture together.

use super::{
    LedPoller, SessionReader, attach, describe_probe, flash_elf, select_probe, usb_serial,
};
use crate::board::{Board, Capabilities, Environment, FlashProgress, LedObserver};
use crate::console::{Console, PortConfig, PortKey};
use crate::errors::BoardError;
use crate::rig::{LedBit, ProbeSelector, SerialPortSpec};
use crate::timeline::Timeline;
use probe_rs::Session;
use probe_rs::probe::DebugProbeInfo;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to reach a board on a probe.
#[derive(Debug, Clone)]
pub struct ProbeRsOptions {
    /// Chip name.
    pub chip: String,
    /// Which probe.
    pub probe: ProbeSelector,
    /// Firmware ELF.
    pub firmware: PathBuf,
    /// Console port.
    pub serial_port: SerialPortSpec,
    /// Console baud rate.
    pub baud: u32,
    /// LED registers.
    pub leds: BTreeMap<String, LedBit>,
    /// LED polling period.
    pub poll: Duration,
    /// Capture RTT up-channels into the timeline.
    pub rtt: bool,
}

/// The key `spec` finds the console by: the rig's, or (by default) the serial number of
/// `probe`'s own USB device, since a composite debugger's virtual COM port shares it.
pub fn console_key(spec: &SerialPortSpec, probe: &DebugProbeInfo) -> Result<PortKey, String> {
    match spec {
        SerialPortSpec::Path(path) => Ok(PortKey::Path(path.clone())),
        SerialPortSpec::UsbSerial(serial) => Ok(PortKey::UsbSerial(serial.clone())),
        SerialPortSpec::ProbeUsb => match usb_serial(probe) {
            Some(serial) => Ok(PortKey::UsbSerial(serial.to_owned())),
            None => Err(format!(
                "the console is found by the probe's USB serial number unless the rig names it, \
                 and probe {} has none; name the port: serial = {{ port = \"/dev/serial/by-id/...\" }}",
                describe_probe(probe)
            )),
        },
    }
}

/// A board on a debug probe.
pub struct ProbeRsBoard {
    name: String,
    options: ProbeRsOptions,
    session: Arc<Mutex<Session>>,
    console: Console,
    leds: LedObserver,
    _poller: LedPoller,
    _rtt: Option<crate::board::rtt::RttCapture>,
}

impl std::fmt::Debug for ProbeRsBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeRsBoard")
            .field("name", &self.name)
            .field("chip", &self.options.chip)
            .finish_non_exhaustive()
    }
}

impl ProbeRsBoard {
    /// Opens the probe, attaches to the chip, opens the console and starts LED polling.
    pub fn attach(
        name: &str,
        options: ProbeRsOptions,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BoardError> {
        let fail = |reason: String| BoardError::Start {
            board: name.to_owned(),
            reason,
        };
        let (probe, info) = select_probe(&options.probe).map_err(|source| BoardError::Probe {
            board: name.to_owned(),
            source,
        })?;
        let key = console_key(&options.serial_port, &info).map_err(fail)?;
        let session = Arc::new(Mutex::new(attach(probe, &options.chip).map_err(fail)?));
        let config = PortConfig::new(key, options.baud);
        let console = Console::open_with(name, config, timeline.clone()).map_err(|source| {
            BoardError::Console {
                board: name.to_owned(),
                source,
            }
        })?;
        let names: Vec<&str> = options.leds.keys().map(String::as_str).collect();
        let leds = LedObserver::new(name, timeline.clone(), &names);
        let poller = LedPoller::start(
            SessionReader(session.clone()),
            options.leds.clone(),
            options.poll,
            leds.clone(),
        );
        let rtt = if options.rtt {
            let period = Duration::from_millis(10);
            match crate::board::rtt::RttCapture::start(
                name,
                session.clone(),
                period,
                timeline.clone(),
            ) {
                Ok(capture) => Some(capture),
                Err(reason) => {
                    timeline.record(crate::timeline::What::Action {
                        text: format!("{name}: RTT capture off: {reason}"),
                    });
                    None
                }
            }
        } else {
            None
        };
        Ok(ProbeRsBoard {
            name: name.to_owned(),
            options,
            session,
            console,
            leds,
            _poller: poller,
            _rtt: rtt,
        })
    }

    fn with_session<R>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<R, String>,
    ) -> Result<R, BoardError> {
        let mut session = self.session.lock().map_err(|_| BoardError::Control {
            board: self.name.clone(),
            reason: "the probe session is poisoned".into(),
        })?;
        f(&mut session).map_err(|reason| BoardError::Control {
            board: self.name.clone(),
            reason,
        })
    }
}

#[async_trait::async_trait]
impl Board for ProbeRsBoard {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::PROBE_RS
    }

    fn console(&mut self) -> &mut Console {
        &mut self.console
    }

    fn leds(&self) -> &LedObserver {
        &self.leds
    }

    fn environment(&mut self) -> Option<&mut dyn Environment> {
        None
    }

    async fn flash(&mut self, erase: bool, progress: &dyn FlashProgress) -> Result<(), BoardError> {
        let firmware = self.options.firmware.clone();
        // Flashing blocks for seconds; the runtime has other threads for the rest.
        tokio::task::block_in_place(|| {
            self.with_session(|s| flash_elf(s, &firmware, erase, progress))
        })
    }

    async fn erase(&mut self) -> Result<(), BoardError> {
        tokio::task::block_in_place(|| {
            self.with_session(|s| {
                let mut progress = probe_rs::flashing::FlashProgress::empty();
                probe_rs::flashing::erase_all(s, &mut progress, false)
                    .map_err(|e| format!("erase: {e}"))
            })
        })
    }

    async fn reset(&mut self) -> Result<(), BoardError> {
        self.with_session(|s| {
            s.core(0)
                .and_then(|mut core| core.reset())
                .map_err(|e| format!("reset: {e}"))
        })
    }

    async fn power_cycle(&mut self) -> Result<(), BoardError> {
        Err(BoardError::Unsupported {
            board: self.name.clone(),
            operation: "power-cycle (no power control on this rig)",
        })
    }

    async fn shutdown(self: Box<Self>) -> Result<(), BoardError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_rs::probe::cmsisdap::CmsisDapFactory;

    fn nedbg(serial: Option<&str>) -> DebugProbeInfo {
        DebugProbeInfo::new(
            "nEDBG CMSIS-DAP",
            0x03eb,
            0x2175,
            serial.map(str::to_owned),
            &CmsisDapFactory,
            Some(0),
            false,
        )
    }

    #[test]
    fn the_console_is_the_probes_own_usb_device_unless_the_rig_names_one() {
        let probe = nedbg(Some("ATML3203081800001234"));
        assert_eq!(
            console_key(&SerialPortSpec::ProbeUsb, &probe),
            Ok(PortKey::UsbSerial("ATML3203081800001234".into()))
        );
        assert_eq!(
            console_key(&SerialPortSpec::UsbSerial("A10KZP2F".into()), &probe),
            Ok(PortKey::UsbSerial("A10KZP2F".into()))
        );
        let by_id = PathBuf::from("/dev/serial/by-id/usb-FTDI_TTL232R_A10KZP2F-if00-port0");
        assert_eq!(
            console_key(&SerialPortSpec::Path(by_id.clone()), &nedbg(None)),
            Ok(PortKey::Path(by_id))
        );
        assert_eq!(
            console_key(&SerialPortSpec::ProbeUsb, &nedbg(Some(" "))),
            Err(
                "the console is found by the probe's USB serial number unless the rig names \
                 it, and probe 03eb:2175 without a serial number (nEDBG CMSIS-DAP) has none; \
                 name the port: serial = { port = \"/dev/serial/by-id/...\" }"
                    .to_owned()
            )
        );
    }
}
