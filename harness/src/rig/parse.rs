//! Parsing a rig file: the raw, span-carrying TOML structs and their validation into a
//! [`Rig`], with located errors. This file holds the raw structs, the top level and the
//! broker; a board's table is validated in `board` (kinds, consoles, LEDs, hardware two
//! boards must not share), its provisioning hook in `hook`.

use super::*;
use crate::broker::embedded::{DEFAULT_ACCOUNT_ID, DEFAULT_REGION};
use mock_broker::aws::registry::Account;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRig {
    speed: Option<Spanned<f64>>,
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
    firmware: Option<Spanned<String>>,
    machine: Option<Spanned<String>>,
    qemu: Option<String>,
    serial: Option<Spanned<RawSerial>>,
    leds: Option<BTreeMap<Spanned<String>, Spanned<RawLed>>>,
    poll_ms: Option<Spanned<u64>>,
    flaws: Option<Spanned<Vec<Spanned<String>>>>,
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

        let clock = match &raw.speed {
            Some(speed) => RigClock::new(*speed.get_ref()).map_err(|e| {
                src.at(
                    speed,
                    e.to_string(),
                    "not a speed",
                    Some("speed = 20 runs the rig's emulated boards and embedded broker 20 times faster than real time"),
                )
            })?,
            None => RigClock::REAL_TIME,
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
                let hook = hook::provision_hook(&src, base, hook)?;
                provision_hooks.insert(name.get_ref().clone(), hook);
            }
        }
        Self::check_shared_hardware(&src, boards_table.get_ref(), &boards)?;
        Self::check_one_clock(&src, raw.speed.as_ref(), clock, boards_table.get_ref())?;
        let pki_dir = raw
            .pki
            .as_ref()
            .and_then(|p| p.dir.clone())
            .map_or_else(|| base.join("../../target/hil/pki"), |d| base.join(d));
        Ok(Rig {
            path: path.to_owned(),
            clock,
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
}

mod board;
mod hook;
