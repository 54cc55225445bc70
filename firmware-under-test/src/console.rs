//! The serial console: line editing and command parsing.
//!
//! [`LineEditor`] turns raw bytes into lines: CR, LF or CR LF end a line, backspace and DEL
//! erase, a line is at most [`MAX_LINE`] characters, and bytes that are neither printable
//! ASCII nor editing keys mark the line as garbage. [`parse`] turns a line into a
//! [`Command`]. Executing commands and writing replies (each ended by EOT) is the board's
//! job ([`crate::board`]).

use crate::credentials::{Endpoint, WifiAuth, WifiCredentials};

/// Longest accepted line, in characters.
pub const MAX_LINE: usize = 256;
/// End of transmission: ends every reply.
pub const EOT: u8 = 0x04;
/// Version of the command set, printed by `cli_version`.
pub const CLI_VERSION: &str = "2.0";

/// Every command, for the help text.
pub const COMMAND_LIST: &[&str] = &[
    "reset",
    "reconnect",
    "wifi <ssid>[,<pass>[,<auth>]]",
    "thing",
    "device",
    "version",
    "cli_version",
    "debug <0-4>",
    "csr",
    "cert",
    "signer",
    "rootca",
    "endpoint <host>[:<port>]",
    "erase",
    "status",
];

/// A line as typed.
pub type Line = heapless::String<MAX_LINE>;

/// Why a line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// Longer than [`MAX_LINE`].
    TooLong,
    /// Held bytes that are not printable ASCII.
    Garbage,
}

/// Collects bytes into lines.
#[derive(Debug, Default)]
pub struct LineEditor {
    line: Line,
    too_long: bool,
    garbage: bool,
    after_cr: bool,
}

impl LineEditor {
    /// Feeds one byte; returns a finished line (or why it was refused) at its end.
    pub fn push(&mut self, byte: u8) -> Option<Result<Line, LineError>> {
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => None,
            b'\r' | b'\n' => Some(self.finish()),
            0x08 | 0x7f => {
                self.line.pop();
                None
            }
            b'\t' | 0x20..=0x7e => {
                let c = if byte == b'\t' { ' ' } else { byte as char };
                if self.line.push(c).is_err() {
                    self.too_long = true;
                }
                None
            }
            _ => {
                self.garbage = true;
                None
            }
        }
    }

    fn finish(&mut self) -> Result<Line, LineError> {
        let line = core::mem::take(&mut self.line);
        let too_long = core::mem::take(&mut self.too_long);
        let garbage = core::mem::take(&mut self.garbage);
        if garbage {
            Err(LineError::Garbage)
        } else if too_long {
            Err(LineError::TooLong)
        } else {
            Ok(line)
        }
    }
}

/// A console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Restart the firmware.
    Reset,
    /// Drop the cloud connection and connect again (clears a fatal error).
    Reconnect,
    /// Set the Wi-Fi credentials.
    Wifi(WifiCredentials),
    /// Print the thing name.
    Thing,
    /// Print the device serial number.
    Device,
    /// Print the firmware version.
    Version,
    /// Print the command-set version.
    CliVersion,
    /// Set the log level.
    Debug(u8),
    /// Print a CSR for the device key.
    Csr,
    /// Read the device certificate (PEM lines, then an empty line).
    Cert,
    /// Read the signer CA certificate.
    Signer,
    /// Read the root CA certificate that the server must chain to.
    RootCa,
    /// Set the MQTT endpoint.
    Endpoint(Endpoint),
    /// Forget every credential.
    Erase,
    /// Print the board's status and, when connected, publish it retained on
    /// `<thing>/status` at QoS 1.
    Status,
    /// An empty line.
    Nothing,
}

/// Why a line is not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// No such command; the help text follows the error.
    Unknown,
    /// The command's arguments are wrong; the text says how to use it.
    Usage(&'static str),
}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CommandError::Unknown => f.write_str("unknown command"),
            CommandError::Usage(usage) => write!(f, "usage: {usage}"),
        }
    }
}

/// Parses one line.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let line = line.trim();
    let (word, rest) = match line.split_once(' ') {
        Some((word, rest)) => (word, rest.trim()),
        None => (line, ""),
    };
    let no_args = |command: Command, usage: &'static str| {
        if rest.is_empty() {
            Ok(command)
        } else {
            Err(CommandError::Usage(usage))
        }
    };
    match word {
        "" => Ok(Command::Nothing),
        "reset" => no_args(Command::Reset, "reset"),
        "reconnect" => no_args(Command::Reconnect, "reconnect"),
        "thing" => no_args(Command::Thing, "thing"),
        "device" => no_args(Command::Device, "device"),
        "version" => no_args(Command::Version, "version"),
        "cli_version" => no_args(Command::CliVersion, "cli_version"),
        "csr" => no_args(Command::Csr, "csr"),
        "cert" => no_args(Command::Cert, "cert"),
        "signer" => no_args(Command::Signer, "signer"),
        "rootca" => no_args(Command::RootCa, "rootca"),
        "erase" => no_args(Command::Erase, "erase"),
        "status" => no_args(Command::Status, "status"),
        "debug" => match rest.parse::<u8>() {
            Ok(level) if level <= 4 => Ok(Command::Debug(level)),
            _ => Err(CommandError::Usage("debug <0-4>")),
        },
        "wifi" => parse_wifi(rest).map(Command::Wifi),
        "endpoint" => parse_endpoint(rest).map(Command::Endpoint),
        _ => Err(CommandError::Unknown),
    }
}

const WIFI_USAGE: &str = "wifi <ssid>[,<pass>[,<auth>]] (auth: open|wpa2|wep or 1|2|3)";

fn parse_wifi(args: &str) -> Result<WifiCredentials, CommandError> {
    let usage = CommandError::Usage(WIFI_USAGE);
    let mut parts = args.splitn(3, ',');
    let ssid = parts.next().unwrap_or("");
    let password = parts.next().unwrap_or("");
    let auth = match parts.next().map(str::trim) {
        None if password.is_empty() => WifiAuth::Open,
        None => WifiAuth::Wpa2,
        Some("open" | "1") => WifiAuth::Open,
        Some("wpa" | "wpa2" | "2") => WifiAuth::Wpa2,
        Some("wep" | "3") => WifiAuth::Wep,
        Some(_) => return Err(usage),
    };
    if ssid.is_empty() || (auth != WifiAuth::Open && password.is_empty()) {
        return Err(usage);
    }
    Ok(WifiCredentials {
        ssid: heapless::String::try_from(ssid).map_err(|_| usage)?,
        password: heapless::String::try_from(password).map_err(|_| usage)?,
        auth,
    })
}

const ENDPOINT_USAGE: &str = "endpoint <host>[:<port>]";

fn parse_endpoint(args: &str) -> Result<Endpoint, CommandError> {
    let usage = CommandError::Usage(ENDPOINT_USAGE);
    let (host, port) = match args.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| usage)?),
        None => (args, 8883),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !host_ok || port == 0 {
        return Err(usage);
    }
    Ok(Endpoint {
        host: heapless::String::try_from(host).map_err(|_| usage)?,
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(editor: &mut LineEditor, bytes: &[u8]) -> heapless::Vec<Result<Line, LineError>, 8> {
        let mut out = heapless::Vec::new();
        for b in bytes {
            if let Some(line) = editor.push(*b) {
                out.push(line).unwrap();
            }
        }
        out
    }

    #[test]
    fn cr_lf_and_crlf_end_lines_once() {
        let mut ed = LineEditor::default();
        let lines = feed(&mut ed, b"a\r\nb\nc\r");
        let texts: heapless::Vec<&str, 8> =
            lines.iter().map(|l| l.as_ref().unwrap().as_str()).collect();
        assert_eq!(texts.as_slice(), &["a", "b", "c"]);
    }

    #[test]
    fn backspace_erases() {
        let mut ed = LineEditor::default();
        let lines = feed(&mut ed, b"thinx\x08g\x7f\x7fng\r\n");
        assert_eq!(lines[0].as_ref().unwrap().as_str(), "thing");
    }

    #[test]
    fn over_long_lines_and_garbage_are_refused_then_editing_recovers() {
        let mut ed = LineEditor::default();
        let mut long = [b'x'; MAX_LINE + 10];
        long[MAX_LINE + 9] = b'\n';
        assert_eq!(feed(&mut ed, &long).as_slice(), &[Err(LineError::TooLong)]);
        assert_eq!(
            feed(&mut ed, b"\xff\x00\x1bthing\n").as_slice(),
            &[Err(LineError::Garbage)]
        );
        assert_eq!(
            feed(&mut ed, b"thing\n")[0].as_ref().unwrap().as_str(),
            "thing"
        );
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse("thing"), Ok(Command::Thing));
        assert_eq!(parse("  version  "), Ok(Command::Version));
        assert_eq!(parse("debug 4"), Ok(Command::Debug(4)));
        assert_eq!(parse("debug 5"), Err(CommandError::Usage("debug <0-4>")));
        assert_eq!(parse("thing now"), Err(CommandError::Usage("thing")));
        assert_eq!(parse("fly"), Err(CommandError::Unknown));
        assert_eq!(parse(""), Ok(Command::Nothing));
    }

    #[test]
    fn wifi_arguments() {
        let Ok(Command::Wifi(w)) = parse("wifi lab,secret") else {
            panic!()
        };
        assert_eq!(
            (w.ssid.as_str(), w.password.as_str(), w.auth),
            ("lab", "secret", WifiAuth::Wpa2)
        );
        let Ok(Command::Wifi(open)) = parse("wifi cafe") else {
            panic!()
        };
        assert_eq!(open.auth, WifiAuth::Open);
        let Ok(Command::Wifi(wep)) = parse("wifi old,key,3") else {
            panic!()
        };
        assert_eq!(wep.auth, WifiAuth::Wep);
        assert!(parse("wifi").is_err());
        assert!(parse("wifi lab,,2").is_err());
        assert!(parse("wifi lab,pw,9").is_err());
    }

    #[test]
    fn endpoint_arguments() {
        let Ok(Command::Endpoint(e)) = parse("endpoint a1b2-ats.iot.eu-west-1.amazonaws.com")
        else {
            panic!()
        };
        assert_eq!(
            (e.host.as_str(), e.port),
            ("a1b2-ats.iot.eu-west-1.amazonaws.com", 8883)
        );
        let Ok(Command::Endpoint(e)) = parse("endpoint localhost:18883") else {
            panic!()
        };
        assert_eq!(e.port, 18883);
        for bad in [
            "endpoint",
            "endpoint :8883",
            "endpoint host:0",
            "endpoint host:x",
            "endpoint a b",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
