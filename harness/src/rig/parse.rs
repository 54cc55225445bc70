//! Parsing a rig file: the raw, span-carrying TOML structs and their validation into a
//! [`Rig`], with located errors.

use super::*;
use crate::broker::embedded::{DEFAULT_ACCOUNT_ID, DEFAULT_REGION};
use crate::errors::CommandLineError;
use crate::provision::hook::{CommandLine, DEFAULT_HOOK_TIMEOUT, Placeholder};
use mock_broker::aws::registry::Account;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRig {
    broker: Option<Spanned<RawBroker>>,
    pki: Option<RawPki>,
    #[serde(default)]
    wifi: BTreeMap<String, Spanned<RawWifi>>,
    boards: Option<Spanned<BTreeMap<Spanned<String>, Spanned<RawBoard>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBroker {
    kind: Spanned<String>,
    endpoint: Option<Spanned<String>>,
    listen: Option<Spanned<String>>,
    zero_touch_ms: Option<u64>,
    region: Option<Spanned<String>>,
    account_id: Option<Spanned<String>>,
    image: Option<String>,
    program: Option<String>,
    url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPki {
    dir: Option<String>,
    #[serde(default)]
    fresh: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWifi {
    ssid: String,
    #[serde(default)]
    password: String,
    auth: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    kind: Spanned<String>,
    binary: Option<String>,
    speed: Option<Spanned<f64>>,
    wifi: Option<Spanned<String>>,
    chip: Option<Spanned<String>>,
    probe: Option<Spanned<String>>,
    firmware: Option<String>,
    serial: Option<Spanned<RawSerial>>,
    leds: Option<BTreeMap<Spanned<String>, Spanned<RawLed>>>,
    poll_ms: Option<Spanned<u64>>,
    #[serde(default)]
    rtt: bool,
    provision: Option<Spanned<RawProvisionHook>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvisionHook {
    command: Spanned<String>,
    csr_command: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSerial {
    port: Option<Spanned<String>>,
    usb_serial: Option<Spanned<String>>,
    baud: Option<Spanned<u32>>,
}

/// The console's baud rate when the rig names none.
const DEFAULT_BAUD: u32 = 115_200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLed {
    register: u32,
    bit: u8,
    #[serde(default)]
    active_low: bool,
}

/// Builds errors against one file's text.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn error(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) -> RigError {
        RigError::new(self.path, self.text, span, message, label, help)
    }

    fn at<T>(
        &self,
        spanned: &Spanned<T>,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) -> RigError {
        self.error(Some(spanned.span()), message, label, help)
    }
}

/// A program named in a rig: a bare name is looked up on `PATH`, a path is relative to
/// the rig file.
fn program_path(base: &Path, program: &str) -> PathBuf {
    if program.contains('/') {
        base.join(program)
    } else {
        PathBuf::from(program)
    }
}

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
    /// Validates rig text as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Rig, RigError> {
        let src = Source { path, text };
        let raw: RawRig = toml::from_str(text)
            .map_err(|e| src.error(e.span(), e.message().to_owned(), "here", None))?;
        let base = path.parent().unwrap_or(Path::new("."));

        let wifi = raw
            .wifi
            .iter()
            .map(|(name, ap)| {
                let ap_ref = ap.get_ref();
                let auth = match &ap_ref.auth {
                    Some(auth) if ["open", "wpa2", "wep"].contains(&auth.get_ref().as_str()) => {
                        auth.get_ref().clone()
                    }
                    Some(auth) => {
                        return Err(src.at(
                            auth,
                            "unknown Wi-Fi security",
                            "not open, wpa2 or wep",
                            None,
                        ));
                    }
                    None if ap_ref.password.is_empty() => "open".to_owned(),
                    None => "wpa2".to_owned(),
                };
                Ok((
                    name.clone(),
                    AccessPoint {
                        ssid: ap_ref.ssid.clone(),
                        password: ap_ref.password.clone(),
                        auth,
                    },
                ))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;

        let broker = match &raw.broker {
            None => BrokerSpec::Embedded {
                endpoint: DEFAULT_ENDPOINT.into(),
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                zero_touch: None,
                region: DEFAULT_REGION.into(),
                account_id: DEFAULT_ACCOUNT_ID.into(),
            },
            Some(spanned) => Self::broker(&src, base, spanned)?,
        };

        let boards_table = raw.boards.as_ref().ok_or_else(|| {
            src.error(
                None,
                "the rig has no [boards]",
                "",
                Some("add a [boards.dut] table with kind = \"emulated\""),
            )
        })?;
        if boards_table.get_ref().is_empty() {
            return Err(src.at(boards_table, "the rig has no boards", "empty", None));
        }
        let mut boards = BTreeMap::new();
        let mut provision_hooks = BTreeMap::new();
        for (name, board) in boards_table.get_ref() {
            let spec = Self::board(&src, base, board, &wifi)?;
            boards.insert(name.get_ref().clone(), spec);
            if let Some(hook) = &board.get_ref().provision {
                let hook = provision_hook(&src, base, hook)?;
                provision_hooks.insert(name.get_ref().clone(), hook);
            }
        }
        Self::check_shared_hardware(&src, boards_table.get_ref(), &boards)?;
        let pki_dir = raw
            .pki
            .as_ref()
            .and_then(|p| p.dir.clone())
            .map_or_else(|| base.join("../../target/hil/pki"), |d| base.join(d));
        Ok(Rig {
            path: path.to_owned(),
            broker,
            pki_dir,
            fresh_pki: raw.pki.as_ref().is_some_and(|p| p.fresh),
            wifi,
            boards,
            provision_hooks,
        })
    }

    fn broker(
        src: &Source<'_>,
        base: &Path,
        spanned: &Spanned<RawBroker>,
    ) -> Result<BrokerSpec, RigError> {
        let endpoint = |raw: &RawBroker| {
            raw.endpoint
                .as_ref()
                .map_or_else(|| DEFAULT_ENDPOINT.to_owned(), |e| e.get_ref().clone())
        };
        let raw = spanned.get_ref();
        if raw.kind.get_ref() != "embedded"
            && let Some(key) = raw.region.as_ref().or(raw.account_id.as_ref())
        {
            return Err(src.at(
                key,
                "only the embedded broker stands in for an AWS account",
                "not for this kind",
                Some("region and account_id belong to [broker] kind = \"embedded\""),
            ));
        }
        Ok(match raw.kind.get_ref().as_str() {
            "embedded" => {
                let listen = match &raw.listen {
                    Some(listen) => listen.get_ref().parse().map_err(|_| {
                        src.at(listen, "invalid listen address", "expected IP:PORT", None)
                    })?,
                    None => SocketAddr::from(([127, 0, 0, 1], 0)),
                };
                let region = match &raw.region {
                    Some(region) => {
                        Account::check_region(region.get_ref())
                            .map_err(|e| src.at(region, e.to_string(), "not a region", None))?;
                        region.get_ref().clone()
                    }
                    None => DEFAULT_REGION.to_owned(),
                };
                let account_id = match &raw.account_id {
                    Some(id) => {
                        Account::check_id(id.get_ref())
                            .map_err(|e| src.at(id, e.to_string(), "not an account id", None))?;
                        id.get_ref().clone()
                    }
                    None => DEFAULT_ACCOUNT_ID.to_owned(),
                };
                BrokerSpec::Embedded {
                    endpoint: endpoint(raw),
                    listen,
                    zero_touch: raw.zero_touch_ms.map(Duration::from_millis),
                    region,
                    account_id,
                }
            }
            "mosquitto" => BrokerSpec::Mosquitto {
                endpoint: endpoint(raw),
                program: raw
                    .program
                    .as_ref()
                    .map_or_else(|| PathBuf::from("mosquitto"), |p| program_path(base, p)),
            },
            "container" => BrokerSpec::Container {
                endpoint: endpoint(raw),
                image: raw
                    .image
                    .clone()
                    .unwrap_or_else(|| "eclipse-mosquitto:2".into()),
            },
            "external" => {
                let url = raw.url.as_ref().ok_or_else(|| {
                    src.at(
                        spanned,
                        "an external broker needs `url`",
                        "in this table",
                        Some("url = \"mqtts://host:8883\""),
                    )
                })?;
                let rest = url.get_ref().strip_prefix("mqtts://").ok_or_else(|| {
                    src.at(
                        url,
                        "the broker url must start with mqtts://",
                        "not mqtts://",
                        None,
                    )
                })?;
                let (host, port) = match rest.rsplit_once(':') {
                    Some((host, port)) => (
                        host.to_owned(),
                        port.parse()
                            .map_err(|_| src.at(url, "invalid port", "here", None))?,
                    ),
                    None => (rest.to_owned(), 8883),
                };
                BrokerSpec::External { host, port }
            }
            _ => {
                return Err(src.at(
                    &raw.kind,
                    format!("unknown broker kind {:?}", raw.kind.get_ref()),
                    "unknown kind",
                    Some("kind is one of: embedded, mosquitto, container, external"),
                ));
            }
        })
    }

    fn board(
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
                let speed = match &raw.speed {
                    Some(speed) if !(*speed.get_ref() > 0.0 && speed.get_ref().is_finite()) => {
                        return Err(src.at(
                            speed,
                            "speed must be a positive number",
                            "not positive",
                            None,
                        ));
                    }
                    Some(speed) => *speed.get_ref(),
                    None => 1.0,
                };
                Ok(BoardSpec::Emulated {
                    binary: raw.binary.as_ref().map(|b| base.join(b)),
                    speed,
                    wifi: ap,
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
                let mut leds = BTreeMap::new();
                for (name, led) in raw.leds.iter().flatten() {
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
                let poll = match &raw.poll_ms {
                    Some(ms) if *ms.get_ref() == 0 => {
                        return Err(src.at(ms, "poll_ms must be at least 1", "zero", None));
                    }
                    Some(ms) => Duration::from_millis(*ms.get_ref()),
                    None => Duration::from_millis(5),
                };
                Ok(BoardSpec::ProbeRs {
                    chip,
                    probe,
                    firmware: base.join(firmware),
                    serial_port,
                    baud,
                    leds,
                    poll,
                    rtt: raw.rtt,
                    wifi: ap,
                })
            }
            other => Err(src.at(
                &raw.kind,
                format!("unknown board kind {other:?}"),
                "unknown kind",
                Some("kind is \"emulated\" or \"probe-rs\""),
            )),
        }
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
    fn check_shared_hardware(
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

/// Where `token` is in the text of the string at `span`, if it is written as is.
fn locate(text: &str, span: std::ops::Range<usize>, token: &str) -> Option<std::ops::Range<usize>> {
    let start = span.start + text.get(span.clone())?.find(token)?;
    Some(start..start + token.len())
}

/// A hook command line, its errors located at the offending placeholder when it can be
/// found in the file; `csr` says it runs before the device certificate exists.
fn command_line(
    src: &Source<'_>,
    spanned: &Spanned<String>,
    csr: bool,
) -> Result<CommandLine, RigError> {
    let names = || {
        Placeholder::ALL
            .into_iter()
            .filter(|p| !csr || p.known_before_certificate())
            .map(|p| format!("{{{}}}", p.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let at = |token: &str| locate(src.text, spanned.span(), token).unwrap_or(spanned.span());
    let line = CommandLine::parse(spanned.get_ref()).map_err(|e| match &e {
        CommandLineError::UnknownPlaceholder { name } => {
            let closest = Placeholder::ALL
                .into_iter()
                .map(Placeholder::name)
                .max_by(|a, b| {
                    strsim::jaro_winkler(name, a).total_cmp(&strsim::jaro_winkler(name, b))
                })
                .filter(|close| strsim::jaro_winkler(name, close) > 0.8);
            let help = match closest {
                Some(close) => format!("did you mean {{{close}}}? placeholders: {}", names()),
                None => format!("placeholders: {} (write {{{{ and }}}} for braces)", names()),
            };
            src.error(
                Some(at(&format!("{{{name}}}"))),
                e.to_string(),
                "unknown placeholder",
                Some(&help),
            )
        }
        CommandLineError::Unclosed { word } => {
            src.error(Some(at(word)), e.to_string(), "unclosed placeholder", None)
        }
        _ => src.at(spanned, e.to_string(), "here", None),
    })?;
    if csr && let Some(late) = line.placeholders().find(|p| !p.known_before_certificate()) {
        let token = format!("{{{}}}", late.name());
        return Err(src.error(
            Some(at(&token)),
            format!("csr_command runs before the certificate exists, so it cannot use {token}"),
            "not known yet",
            Some(&format!("csr_command may use {}", names())),
        ));
    }
    Ok(line)
}

/// A board's `[boards.<name>.provision]` table.
fn provision_hook(
    src: &Source<'_>,
    base: &Path,
    spanned: &Spanned<RawProvisionHook>,
) -> Result<ProvisionHook, RigError> {
    let raw = spanned.get_ref();
    let timeout = match &raw.timeout {
        Some(text) => match crate::scenario::parse_duration(text.get_ref()) {
            Ok(timeout) if !timeout.is_zero() => timeout,
            Ok(_) => return Err(src.at(text, "the hook's timeout must not be zero", "zero", None)),
            Err(e) => return Err(src.at(text, e, "not a duration", None)),
        },
        None => DEFAULT_HOOK_TIMEOUT,
    };
    Ok(ProvisionHook {
        command: command_line(src, &raw.command, false)?,
        csr_command: raw
            .csr_command
            .as_ref()
            .map(|line| command_line(src, line, true))
            .transpose()?,
        timeout,
        // Absolute: the program runs there, and a relative path would be taken from there.
        dir: std::path::absolute(base).unwrap_or_else(|_| base.to_owned()),
    })
}
