//! A board of a rig file: its kind, its console, its LEDs, and the hardware two boards
//! must not share.

use super::*;

/// The reference firmware's LED register on mps2-an385 (the SCC's CFG_REG1, bits 0-3 blue,
/// green, yellow, red, active high): a qemu board's map when the rig gives none.
const MPS2_LED_REGISTER: u32 = 0x4002_F004;

/// The console's baud rate when the rig names none.
const DEFAULT_BAUD: u32 = 115_200;

/// The device a probe-rs board's console is, when the rig tells: its path, or the USB
/// serial number of its device (the probe's own, by default).
fn console_identity(port: &SerialPortSpec, probe: &ProbeSelector) -> Option<String> {
    match port {
        SerialPortSpec::Path(path) => Some(path.display().to_string()),
        SerialPortSpec::UsbSerial(serial) => Some(format!("USB serial {serial}")),
        SerialPortSpec::ProbeUsb => probe.serial.as_ref().map(|s| format!("USB serial {s}")),
    }
}

fn parse_probe(text: &str) -> Option<ProbeSelector> {
    let mut parts = text.splitn(3, ':');
    let vid = u16::from_str_radix(parts.next()?, 16).ok()?;
    let pid = u16::from_str_radix(parts.next()?, 16).ok()?;
    let serial = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    Some(ProbeSelector { vid, pid, serial })
}

impl Rig {
    pub(super) fn board(
        src: &Source<'_>,
        base: &Path,
        spanned: &Spanned<RawBoard>,
        wifi: &BTreeMap<String, AccessPoint>,
    ) -> Result<BoardSpec, RigError> {
        let raw = spanned.get_ref();
        let ap = match &raw.wifi {
            Some(name) if !wifi.contains_key(name.get_ref()) => {
                let known = wifi.keys().cloned().collect::<Vec<_>>().join(", ");
                return Err(src.at(
                    name,
                    format!("no access point {:?} in [wifi]", name.get_ref()),
                    "unknown access point",
                    Some(&format!("known: {known}")),
                ));
            }
            Some(name) => Some(name.get_ref().clone()),
            None => None,
        };
        let require = |field: &Option<Spanned<String>>, name: &str| {
            field.as_ref().map(|f| f.get_ref().clone()).ok_or_else(|| {
                src.at(
                    spanned,
                    format!("a probe-rs board needs `{name}`"),
                    "in this board",
                    None,
                )
            })
        };
        if let Some(flaws) = &raw.flaws
            && raw.kind.get_ref() != "emulated"
        {
            return Err(src.at(
                flaws,
                "flaws are switches of the emulated board",
                "not for this kind",
                Some("a real or QEMU board runs the firmware image it is given"),
            ));
        }
        match raw.kind.get_ref().as_str() {
            "emulated" => {
                if let Some(serial) = &raw.serial {
                    return Err(src.at(
                        serial,
                        "an emulated board's console is its own pseudo-terminal",
                        "not for an emulated board",
                        Some("`serial` names a probe-rs board's port"),
                    ));
                }
                let mut flaws = Vec::new();
                for flaw in raw.flaws.iter().flat_map(|f| f.get_ref()) {
                    let name = flaw.get_ref();
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        return Err(src.at(
                            flaw,
                            "not a flaw name",
                            "expected a kebab-case name",
                            Some(
                                "e.g. flaws = [\"no-jitter\"]; `emulated-board --help` lists them",
                            ),
                        ));
                    }
                    flaws.push(name.clone());
                }
                Ok(BoardSpec::Emulated {
                    binary: raw.binary.as_ref().map(|b| base.join(b)),
                    wifi: ap,
                    flaws,
                })
            }
            "probe-rs" => {
                let chip = require(&raw.chip, "chip")?;
                let probe_text = raw.probe.as_ref().ok_or_else(|| {
                    src.at(
                        spanned,
                        "a probe-rs board needs `probe`",
                        "in this board",
                        Some("probe = \"03eb:2175\""),
                    )
                })?;
                let probe = parse_probe(probe_text.get_ref()).ok_or_else(|| {
                    src.at(
                        probe_text,
                        "invalid probe selector",
                        "expected VID:PID[:serial] in hex",
                        Some("e.g. \"03eb:2175\""),
                    )
                })?;
                let firmware = raw.firmware.as_ref().ok_or_else(|| {
                    src.at(
                        spanned,
                        "a probe-rs board needs `firmware`",
                        "in this board",
                        None,
                    )
                })?;
                let (serial_port, baud) = Self::serial(src, raw.serial.as_ref())?;
                let leds = Self::leds(src, raw.leds.as_ref())?;
                let poll = Self::poll(src, raw.poll_ms.as_ref(), Duration::from_millis(5))?;
                Ok(BoardSpec::ProbeRs {
                    chip,
                    probe,
                    firmware: base.join(firmware.get_ref()),
                    serial_port,
                    baud,
                    leds,
                    poll,
                    rtt: raw.rtt,
                    wifi: ap,
                })
            }
            "qemu" => Self::qemu_board(src, base, spanned, ap),
            other => Err(src.at(
                &raw.kind,
                format!("unknown board kind {other:?}"),
                "unknown kind",
                Some("kind is \"emulated\", \"probe-rs\" or \"qemu\""),
            )),
        }
    }

    /// One clock for the whole rig: a board's own `speed` must be the rig's (emulated
    /// boards take the rig's speed anyway; the key is allowed so older rig files that set
    /// it per board still say the same), and real hardware runs in real time, so a rig
    /// with a probe-rs board has speed 1.
    pub(super) fn check_one_clock(
        src: &Source<'_>,
        rig_speed: Option<&Spanned<f64>>,
        clock: RigClock,
        boards: &BTreeMap<Spanned<String>, Spanned<RawBoard>>,
    ) -> Result<(), RigError> {
        for (name, board) in boards {
            let board = board.get_ref();
            let real_time = Self::real_time_kind(board.kind.get_ref());
            let probe_rs = real_time.is_some();
            if let Some(speed) = &board.speed {
                let own = RigClock::new(*speed.get_ref())
                    .map_err(|e| src.at(speed, e.to_string(), "not a speed", None))?;
                if probe_rs && !own.is_real_time() {
                    return Err(src.at(
                        speed,
                        format!(
                            "board {} is {}: it runs in real time",
                            name.get_ref(),
                            real_time.unwrap_or("real hardware")
                        ),
                        "not 1",
                        Some("only emulated boards run faster than real time; remove `speed`"),
                    ));
                }
                if own != clock {
                    let help = match rig_speed {
                        None => format!(
                            "a rig has one clock: write `speed = {}` at the top of the rig file, before any table, and remove it here",
                            speed.get_ref()
                        ),
                        Some(_) => "a rig has one clock: remove the board's `speed`".to_owned(),
                    };
                    return Err(src.at(
                        speed,
                        format!(
                            "board {}'s speed {} differs from the rig's ({})",
                            name.get_ref(),
                            speed.get_ref(),
                            clock.speed()
                        ),
                        "not the rig's speed",
                        Some(&help),
                    ));
                }
            }
            if probe_rs
                && !clock.is_real_time()
                && let Some(rig_speed) = rig_speed
            {
                return Err(src.at(
                    rig_speed,
                    format!(
                        "the rig has a {} board ({}), which runs in real time, so its speed must be 1",
                        board.kind.get_ref(),
                        name.get_ref()
                    ),
                    "not 1 with real hardware",
                    Some("a rig with real hardware or QEMU runs at speed 1; scenario durations are board time, so the same files run on it unchanged"),
                ));
            }
        }
        Ok(())
    }

    /// What a board kind that runs in real time is, in words; `None` for emulated boards.
    fn real_time_kind(kind: &str) -> Option<&'static str> {
        match kind {
            "probe-rs" => Some("real hardware"),
            "qemu" => Some("a firmware image under QEMU (no -icount)"),
            _ => None,
        }
    }

    /// A board's `[boards.<name>.leds]` map (probe-rs and QEMU boards alike).
    fn leds(
        src: &Source<'_>,
        raw: Option<&BTreeMap<Spanned<String>, Spanned<RawLed>>>,
    ) -> Result<BTreeMap<String, LedBit>, RigError> {
        let mut leds = BTreeMap::new();
        for (name, led) in raw.into_iter().flatten() {
            if !crate::led::LED_NAMES.contains(&name.get_ref().as_str()) {
                return Err(src.at(
                    name,
                    format!("unknown LED {:?}", name.get_ref()),
                    "unknown LED",
                    Some("LEDs are blue, green, yellow and red"),
                ));
            }
            let l = led.get_ref();
            if l.bit > 31 {
                return Err(src.at(led, "bit must be 0..31", "bit out of range", None));
            }
            leds.insert(
                name.get_ref().clone(),
                LedBit {
                    register: l.register,
                    bit: l.bit,
                    active_low: l.active_low,
                },
            );
        }
        Ok(leds)
    }

    /// A board's LED polling period (`poll_ms`), `default` when absent.
    fn poll(
        src: &Source<'_>,
        raw: Option<&Spanned<u64>>,
        default: Duration,
    ) -> Result<Duration, RigError> {
        match raw {
            Some(ms) if *ms.get_ref() == 0 => {
                Err(src.at(ms, "poll_ms must be at least 1", "zero", None))
            }
            // An LED query waits for the next poll (at most 2 s), and a level shorter than
            // the period may be missed: a second is the most that makes sense.
            Some(ms) if *ms.get_ref() > 1000 => Err(src.at(
                ms,
                "poll_ms must be at most 1000",
                "too long",
                Some("LED levels are sampled: a blink faster than the period is missed"),
            )),
            Some(ms) => Ok(Duration::from_millis(*ms.get_ref())),
            None => Ok(default),
        }
    }

    /// A `kind = "qemu"` board: machine, firmware (checked to exist when named), program,
    /// LEDs (the reference firmware's map on mps2-an385 when absent).
    fn qemu_board(
        src: &Source<'_>,
        base: &Path,
        spanned: &Spanned<RawBoard>,
        wifi: Option<String>,
    ) -> Result<BoardSpec, RigError> {
        let raw = spanned.get_ref();
        for (key, present) in [
            ("serial", raw.serial.as_ref().map(|s| s.span())),
            ("chip", raw.chip.as_ref().map(|s| s.span())),
            ("probe", raw.probe.as_ref().map(|s| s.span())),
        ] {
            if let Some(span) = present {
                return Err(src.error(
                    Some(span),
                    format!("`{key}` is for probe-rs boards"),
                    "not for a qemu board",
                    Some("a qemu board's console is QEMU's serial PTY; it needs machine and firmware"),
                ));
            }
        }
        let known: Vec<&str> = crate::board::qemu::MACHINES
            .iter()
            .map(|m| m.name)
            .collect();
        let machine_name = raw.machine.as_ref().ok_or_else(|| {
            src.at(
                spanned,
                "a qemu board needs `machine`",
                "in this board",
                Some(&format!(
                    "machine = \"mps2-an385\" (known: {})",
                    known.join(", ")
                )),
            )
        })?;
        let machine = crate::board::qemu::machine(machine_name.get_ref()).ok_or_else(|| {
            src.at(
                machine_name,
                format!("unknown QEMU machine {:?}", machine_name.get_ref()),
                "unknown machine",
                Some(&format!("known: {}", known.join(", "))),
            )
        })?;
        let firmware = match &raw.firmware {
            Some(path) => {
                let file = base.join(path.get_ref());
                if !file.is_file() {
                    return Err(src.at(
                        path,
                        format!("no firmware image at {}", file.display()),
                        "no such file",
                        Some("the path is relative to the rig file; ci/build-qemu-firmware builds the reference image"),
                    ));
                }
                file
            }
            None => match std::env::var_os("HIL_QEMU_FIRMWARE") {
                Some(path) => PathBuf::from(path),
                None => crate::board::qemu::default_firmware(&super::workspace_root()),
            },
        };
        let mut leds = Self::leds(src, raw.leds.as_ref())?;
        if leds.is_empty() {
            leds = crate::led::LED_NAMES
                .iter()
                .zip(0u8..)
                .map(|(name, bit)| {
                    let led = LedBit {
                        register: MPS2_LED_REGISTER,
                        bit,
                        active_low: false,
                    };
                    ((*name).to_owned(), led)
                })
                .collect();
        }
        let poll = Self::poll(src, raw.poll_ms.as_ref(), Duration::from_millis(10))?;
        let program = raw.qemu.as_deref().map_or_else(
            || PathBuf::from("qemu-system-arm"),
            |p| program_path(base, p),
        );
        Ok(BoardSpec::Qemu {
            machine,
            firmware,
            program,
            leds,
            poll,
            wifi,
        })
    }

    /// A probe-rs board's `serial` table: one of `port` and `usb_serial`, or neither (the
    /// probe's own USB device), and the baud rate.
    fn serial(
        src: &Source<'_>,
        raw: Option<&Spanned<RawSerial>>,
    ) -> Result<(SerialPortSpec, u32), RigError> {
        let Some(spanned) = raw else {
            return Ok((SerialPortSpec::ProbeUsb, DEFAULT_BAUD));
        };
        let serial = spanned.get_ref();
        let baud = match &serial.baud {
            Some(baud) if *baud.get_ref() == 0 => {
                return Err(src.at(baud, "the baud rate must be positive", "zero", None));
            }
            Some(baud) => *baud.get_ref(),
            None => DEFAULT_BAUD,
        };
        let port = match (&serial.port, &serial.usb_serial) {
            (Some(_), Some(usb)) => {
                return Err(src.at(
                    usb,
                    "`port` and `usb_serial` both name the console",
                    "keep one of the two",
                    Some("port is a device path; usb_serial finds the tty of that USB device"),
                ));
            }
            (Some(port), None) => {
                let path = PathBuf::from(port.get_ref());
                if !path.is_absolute() {
                    return Err(src.at(
                        port,
                        "the console port is a device path",
                        "not an absolute path",
                        Some(
                            "e.g. \"/dev/serial/by-id/usb-...-if01\" (stable) or \"/dev/ttyACM0\"",
                        ),
                    ));
                }
                SerialPortSpec::Path(path)
            }
            (None, Some(usb)) if usb.get_ref().trim().is_empty() => {
                return Err(src.at(usb, "the USB serial number is empty", "empty", None));
            }
            (None, Some(usb)) => SerialPortSpec::UsbSerial(usb.get_ref().trim().to_owned()),
            (None, None) => SerialPortSpec::ProbeUsb,
        };
        Ok((port, baud))
    }

    /// Two probe-rs boards must not reach the same probe or the same console: with two
    /// probes of one kind, each needs its serial number.
    pub(super) fn check_shared_hardware(
        src: &Source<'_>,
        raw: &BTreeMap<Spanned<String>, Spanned<RawBoard>>,
        boards: &BTreeMap<String, BoardSpec>,
    ) -> Result<(), RigError> {
        let probe_rs: Vec<(&Spanned<String>, &RawBoard, &ProbeSelector, &SerialPortSpec)> = raw
            .iter()
            .filter_map(|(name, board)| match boards.get(name.get_ref()) {
                Some(BoardSpec::ProbeRs {
                    probe, serial_port, ..
                }) => Some((name, board.get_ref(), probe, serial_port)),
                _ => None,
            })
            .collect();
        for (i, (name, board, probe, port)) in probe_rs.iter().enumerate() {
            for (earlier, _, other_probe, other_port) in &probe_rs[..i] {
                let same_kind = (probe.vid, probe.pid) == (other_probe.vid, other_probe.pid);
                if same_kind
                    && (probe.serial.is_none()
                        || other_probe.serial.is_none()
                        || probe.serial == other_probe.serial)
                {
                    let at = board
                        .probe
                        .as_ref()
                        .map_or_else(|| name.span(), |p| p.span());
                    return Err(src.error(
                        Some(at),
                        format!(
                            "boards {} and {} could open the same probe ({probe})",
                            earlier.get_ref(),
                            name.get_ref()
                        ),
                        "same probe",
                        Some("with two probes of one kind, give each board its probe's serial number: probe = \"VID:PID:SERIAL\""),
                    ));
                }
                if let Some(shared) = console_identity(port, probe)
                    && console_identity(other_port, other_probe).as_ref() == Some(&shared)
                {
                    let at = board
                        .serial
                        .as_ref()
                        .map_or_else(|| name.span(), |s| s.span());
                    return Err(src.error(
                        Some(at),
                        format!(
                            "boards {} and {} have the same console ({shared})",
                            earlier.get_ref(),
                            name.get_ref()
                        ),
                        "same console",
                        None,
                    ));
                }
            }
        }
        Ok(())
    }
}
