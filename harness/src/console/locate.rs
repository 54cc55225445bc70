//! Finding a console port by a key that survives renumbering.
//!
//! A USB CDC port's name (`/dev/ttyACM0`) is handed out in enumeration order, so after a
//! reset or a re-plug the same board may come back as `ttyACM1`. A [`PortKey`] names the
//! port by something that stays, and is resolved again each time the port is (re)opened:
//! - [`PortKey::Path`]: a path opened as it is. A `/dev/serial/by-id/usb-<vendor>_<product>_<serial>-if<NN>`
//!   link is the stable form: udev re-points it at the device's new name.
//! - [`PortKey::UsbSerial`]: the tty of the USB device with that serial number (a
//!   composite debugger such as nEDBG has one serial number for its probe and its CDC
//!   port), looked up in sysfs.
//!
//! Why sysfs: `serialport` is built without libudev, and then `available_ports()` gives no
//! USB information. In sysfs, `class/tty/<name>/device` links to the USB interface (or to a
//! USB serial converter's port under it); the nearest directory above it with an
//! `idVendor` file is the USB device, holding `serial`, `idVendor` and `idProduct`, and
//! the interface directory below it holds `bInterfaceNumber`. Reading them needs neither
//! libudev nor a running udev (by-id links need udev, which containers often lack).
//! [`usb_ttys`] reads that tree under any root ([`DeviceRoots`]), so tests use a fake
//! tree; [`find_usb_serial`] picks among its entries (a pure function).

use crate::errors::PortLookupError;
use std::path::{Path, PathBuf};

/// What names a console port; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortKey {
    /// A device path, opened as it is (a `/dev/serial/by-id/` link follows the device).
    Path(PathBuf),
    /// The tty of the USB device with this serial number.
    UsbSerial(String),
}

impl std::fmt::Display for PortKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortKey::Path(path) => write!(f, "{}", path.display()),
            PortKey::UsbSerial(serial) => write!(f, "the tty of USB serial number {serial}"),
        }
    }
}

/// Where sysfs and the device nodes are: `/sys` and `/dev` on a machine, a fake tree in
/// tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRoots {
    /// sysfs (`/sys`).
    pub sys: PathBuf,
    /// Device nodes (`/dev`).
    pub dev: PathBuf,
}

impl Default for DeviceRoots {
    fn default() -> Self {
        DeviceRoots {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

impl PortKey {
    /// The device path the key names now.
    pub fn resolve(&self, roots: &DeviceRoots) -> Result<PathBuf, PortLookupError> {
        match self {
            PortKey::Path(path) => Ok(path.clone()),
            PortKey::UsbSerial(serial) => {
                let ttys = usb_ttys(roots)?;
                find_usb_serial(serial, &ttys).map(|tty| tty.path.clone())
            }
        }
    }
}

/// A tty that belongs to a USB device, as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbTty {
    /// Its device node (`/dev/ttyACM0`).
    pub path: PathBuf,
    /// USB vendor id.
    pub vid: u16,
    /// USB product id.
    pub pid: u16,
    /// The USB device's serial number, if it has one.
    pub serial: Option<String>,
    /// The USB interface the tty is on.
    pub interface: Option<u8>,
}

impl std::fmt::Display for UsbTty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:04x}:{:04x}",
            self.path.display(),
            self.vid,
            self.pid
        )?;
        match &self.serial {
            Some(serial) => write!(f, ", serial number {serial}")?,
            None => write!(f, ", no serial number")?,
        }
        match self.interface {
            Some(interface) => write!(f, ", interface {interface})"),
            None => write!(f, ")"),
        }
    }
}

fn read_attribute(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

fn hex_attribute(dir: &Path, name: &str) -> Option<u16> {
    u16::from_str_radix(&read_attribute(dir, name)?, 16).ok()
}

/// The tty named `name` in `class/tty`, if it belongs to a USB device.
fn usb_tty(roots: &DeviceRoots, name: &str) -> Option<UsbTty> {
    let device =
        std::fs::canonicalize(roots.sys.join("class/tty").join(name).join("device")).ok()?;
    // From the interface (or a converter's port under it) up to the USB device.
    let mut below = None;
    for dir in device.ancestors().take(4) {
        if dir.join("idVendor").is_file() {
            return Some(UsbTty {
                path: roots.dev.join(name),
                vid: hex_attribute(dir, "idVendor")?,
                pid: hex_attribute(dir, "idProduct")?,
                serial: read_attribute(dir, "serial"),
                interface: below.and_then(|interface: &Path| {
                    u8::from_str_radix(&read_attribute(interface, "bInterfaceNumber")?, 16).ok()
                }),
            });
        }
        below = Some(dir);
    }
    None
}

/// Every tty in `<sys>/class/tty` that belongs to a USB device, sorted by path.
pub fn usb_ttys(roots: &DeviceRoots) -> Result<Vec<UsbTty>, PortLookupError> {
    let class = roots.sys.join("class/tty");
    let entries = std::fs::read_dir(&class).map_err(|source| PortLookupError::Sysfs {
        path: class.clone(),
        source,
    })?;
    let mut ttys: Vec<UsbTty> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| usb_tty(roots, entry.file_name().to_str()?))
        .collect();
    ttys.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ttys)
}

/// The one tty in `ttys` whose USB device has the serial number `serial`.
pub fn find_usb_serial<'a>(
    serial: &str,
    ttys: &'a [UsbTty],
) -> Result<&'a UsbTty, PortLookupError> {
    let found: Vec<&UsbTty> = ttys
        .iter()
        .filter(|tty| tty.serial.as_deref() == Some(serial))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(PortLookupError::NoTty {
            serial: serial.to_owned(),
            usb_ttys: ttys.iter().map(ToString::to_string).collect(),
        }),
        several => Err(PortLookupError::SeveralTtys {
            serial: serial.to_owned(),
            ttys: several.iter().map(ToString::to_string).collect(),
        }),
    }
}

/// A fake sysfs and `/dev` under a temporary directory, shaped like the kernel's.
#[cfg(test)]
pub(crate) mod fake {
    use super::DeviceRoots;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    /// A temporary directory holding `sys/` and `dev/`.
    pub(crate) struct FakeDevices {
        pub(crate) dir: tempfile::TempDir,
        pub(crate) roots: DeviceRoots,
    }

    impl FakeDevices {
        pub(crate) fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let roots = DeviceRoots {
                sys: dir.path().join("sys"),
                dev: dir.path().join("dev"),
            };
            std::fs::create_dir_all(roots.sys.join("class/tty")).unwrap();
            std::fs::create_dir_all(&roots.dev).unwrap();
            FakeDevices { dir, roots }
        }

        /// A USB device at `bus_path` (`1-2`) with these ids and serial number.
        pub(crate) fn usb_device(&self, bus_path: &str, vid: u16, pid: u16, serial: Option<&str>) {
            let dir = self.usb_dir(bus_path);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("idVendor"), format!("{vid:04x}\n")).unwrap();
            std::fs::write(dir.join("idProduct"), format!("{pid:04x}\n")).unwrap();
            if let Some(serial) = serial {
                std::fs::write(dir.join("serial"), format!("{serial}\n")).unwrap();
            }
        }

        /// A CDC ACM tty `name` on interface `interface` of the device at `bus_path`; its
        /// node in `dev/` links to `node` when given (a PTY standing in for the port).
        pub(crate) fn acm_tty(
            &self,
            bus_path: &str,
            interface: u8,
            name: &str,
            node: Option<&Path>,
        ) {
            let interface_dir = format!("{bus_path}:1.{interface}");
            let usb = self.usb_dir(bus_path);
            let tty_dir = usb.join(&interface_dir).join("tty").join(name);
            std::fs::create_dir_all(&tty_dir).unwrap();
            std::fs::write(
                usb.join(&interface_dir).join("bInterfaceNumber"),
                format!("{interface:02x}\n"),
            )
            .unwrap();
            symlink(format!("../../../{interface_dir}"), tty_dir.join("device")).unwrap();
            symlink(&tty_dir, self.roots.sys.join("class/tty").join(name)).unwrap();
            if let Some(node) = node {
                symlink(node, self.roots.dev.join(name)).unwrap();
            }
        }

        /// A USB serial converter's tty (`ttyUSB0`): one directory deeper than CDC ACM.
        pub(crate) fn converter_tty(&self, bus_path: &str, name: &str) {
            let interface_dir = format!("{bus_path}:1.0");
            let usb = self.usb_dir(bus_path);
            let port_dir = usb.join(&interface_dir).join(name);
            let tty_dir = port_dir.join("tty").join(name);
            std::fs::create_dir_all(&tty_dir).unwrap();
            std::fs::write(usb.join(&interface_dir).join("bInterfaceNumber"), "00\n").unwrap();
            symlink(format!("../../../{name}"), tty_dir.join("device")).unwrap();
            symlink(&tty_dir, self.roots.sys.join("class/tty").join(name)).unwrap();
        }

        /// A tty with no USB device above it (a PCI UART or a virtual terminal).
        pub(crate) fn other_tty(&self, name: &str, with_device: bool) {
            let tty_dir = self
                .roots
                .sys
                .join("devices/platform/serial8250/tty")
                .join(name);
            std::fs::create_dir_all(&tty_dir).unwrap();
            if with_device {
                symlink("../../../serial8250", tty_dir.join("device")).unwrap();
            }
            symlink(&tty_dir, self.roots.sys.join("class/tty").join(name)).unwrap();
        }

        /// The device went away: its tty leaves sysfs and `dev/`.
        pub(crate) fn remove_tty(&self, name: &str) {
            std::fs::remove_file(self.roots.sys.join("class/tty").join(name)).unwrap();
            let _ = std::fs::remove_file(self.roots.dev.join(name));
        }

        fn usb_dir(&self, bus_path: &str) -> std::path::PathBuf {
            self.roots
                .sys
                .join("devices/pci0000:00/0000:00:14.0/usb1")
                .join(bus_path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeDevices;
    use super::*;

    const NEDBG: &str = "ATML3203081800001234";

    fn bench() -> FakeDevices {
        let fake = FakeDevices::new();
        // A SAM-IoT's nEDBG: CMSIS-DAP on interface 0, its CDC port on interface 1.
        fake.usb_device("1-2", 0x03eb, 0x2175, Some(NEDBG));
        fake.acm_tty("1-2", 1, "ttyACM0", None);
        // A second board of the same kind.
        fake.usb_device("1-3", 0x03eb, 0x2175, Some("ATML3203081800005678"));
        fake.acm_tty("1-3", 1, "ttyACM1", None);
        // An FTDI cable, a device without a serial number, a UART and a virtual terminal.
        fake.usb_device("1-4", 0x0403, 0x6001, Some("A10KZP2F"));
        fake.converter_tty("1-4", "ttyUSB0");
        fake.usb_device("1-5", 0x2e8a, 0x000a, None);
        fake.acm_tty("1-5", 0, "ttyACM2", None);
        fake.other_tty("ttyS0", true);
        fake.other_tty("tty1", false);
        fake
    }

    #[test]
    fn sysfs_describes_every_usb_tty_and_nothing_else() {
        let fake = bench();
        let dev = &fake.roots.dev;
        let listed: Vec<String> = usb_ttys(&fake.roots)
            .unwrap()
            .iter()
            .map(|tty| tty.to_string().replace(&dev.display().to_string(), "/dev"))
            .collect();
        assert_eq!(
            listed,
            [
                "/dev/ttyACM0 (03eb:2175, serial number ATML3203081800001234, interface 1)",
                "/dev/ttyACM1 (03eb:2175, serial number ATML3203081800005678, interface 1)",
                "/dev/ttyACM2 (2e8a:000a, no serial number, interface 0)",
                "/dev/ttyUSB0 (0403:6001, serial number A10KZP2F, interface 0)",
            ]
        );
    }

    #[test]
    fn a_usb_serial_number_resolves_to_its_tty_wherever_it_was_numbered() {
        let fake = bench();
        let key = PortKey::UsbSerial(NEDBG.to_owned());
        assert_eq!(
            key.resolve(&fake.roots).unwrap(),
            fake.roots.dev.join("ttyACM0")
        );
        assert_eq!(
            PortKey::UsbSerial("A10KZP2F".into())
                .resolve(&fake.roots)
                .unwrap(),
            fake.roots.dev.join("ttyUSB0")
        );
        // The board re-enumerates as ttyACM3.
        fake.remove_tty("ttyACM0");
        fake.acm_tty("1-2", 1, "ttyACM3", None);
        assert_eq!(
            key.resolve(&fake.roots).unwrap(),
            fake.roots.dev.join("ttyACM3")
        );
        // A path is its own resolution.
        let by_id = PathBuf::from("/dev/serial/by-id/usb-Microchip_nEDBG_X-if01");
        assert_eq!(
            PortKey::Path(by_id.clone()).resolve(&fake.roots).unwrap(),
            by_id
        );
    }

    #[test]
    fn a_missing_or_shared_serial_number_is_a_clear_error() {
        let fake = bench();
        let error = PortKey::UsbSerial("NOPE".into())
            .resolve(&fake.roots)
            .unwrap_err();
        let text = error
            .to_string()
            .replace(&fake.roots.dev.display().to_string(), "/dev");
        assert_eq!(
            text,
            "no tty belongs to a USB device with serial number \"NOPE\"; USB ttys: \
             /dev/ttyACM0 (03eb:2175, serial number ATML3203081800001234, interface 1), \
             /dev/ttyACM1 (03eb:2175, serial number ATML3203081800005678, interface 1), \
             /dev/ttyACM2 (2e8a:000a, no serial number, interface 0), \
             /dev/ttyUSB0 (0403:6001, serial number A10KZP2F, interface 0)"
        );
        // A debugger with two CDC ports (a J-Link with two VCOMs, say).
        fake.acm_tty("1-2", 3, "ttyACM4", None);
        let error = PortKey::UsbSerial(NEDBG.into())
            .resolve(&fake.roots)
            .unwrap_err();
        let text = error
            .to_string()
            .replace(&fake.roots.dev.display().to_string(), "/dev");
        assert_eq!(
            text,
            "the USB device with serial number \"ATML3203081800001234\" has 2 ttys: \
             /dev/ttyACM0 (03eb:2175, serial number ATML3203081800001234, interface 1), \
             /dev/ttyACM4 (03eb:2175, serial number ATML3203081800001234, interface 3); \
             name one with port = \"/dev/serial/by-id/...-if<NN>\""
        );
        let nowhere = DeviceRoots {
            sys: fake.dir.path().join("no-sysfs"),
            dev: fake.roots.dev.clone(),
        };
        assert!(matches!(
            PortKey::UsbSerial(NEDBG.into()).resolve(&nowhere),
            Err(PortLookupError::Sysfs { .. })
        ));
    }
}
