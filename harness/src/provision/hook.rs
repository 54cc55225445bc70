//! A board's provisioning hook: the rig's own program that gives the board its
//! credentials, for firmware that does not take them on the console (Microchip's kit
//! protocol through the debugger, a vendor tool, files written to flash).
//!
//! [`ProvisionHook`] is what the rig's `[boards.<name>.provision]` table says: a
//! [`CommandLine`] that writes the credentials, optionally one that prints the board's CSR,
//! a timeout, and the directory they run in. A [`CommandLine`] is split into arguments
//! like a shell would (quotes, backslashes; `shlex`) but runs without a shell; each
//! argument may hold `{placeholder}`s ([`Placeholder`]), replaced argument by argument, so
//! a value with spaces stays one argument.
//!
//! Running one (`run`, used by [`crate::provision`]) writes the files its placeholders
//! name (certificates, 0644; never a private key: the device key stays on the board) into
//! a fresh temporary directory, starts the program in its own process group with stdin
//! closed, puts each line it prints on the timeline as [`What::Program`], and kills the
//! whole group at the timeout, when it exits (leftover children), and when the run is
//! dropped. A non-zero exit is a [`HookError::Failed`] with the last lines of its stderr.
//! Reports name the command line with its placeholders, never their values.
//!
//! Parsing the rig table and locating errors in the rig file is [`crate::rig`]'s job;
//! handing the console to the program and back is [`crate::provision`]'s.

use crate::errors::{CommandLineError, HookError};
use crate::pki::DeviceCert;
use crate::rig::AccessPoint;
use crate::timeline::{Timeline, What};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// How long a hook may run when the rig gives no `timeout`.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// How many of its last stderr lines a failed hook's report shows.
const STDERR_LINES: usize = 40;

/// A board's provisioning hook, as the rig gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionHook {
    /// Writes the credentials to the board (`command`).
    pub command: CommandLine,
    /// Prints the board's CSR in PEM (`csr_command`); `None`: the console's `csr` command.
    pub csr_command: Option<CommandLine>,
    /// How long each may run before it is killed (`timeout`).
    pub timeout: Duration,
    /// Where they run: the rig file's directory, which relative program paths start from.
    pub dir: PathBuf,
}

/// What a `{placeholder}` in a hook's command line stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placeholder {
    /// `{certificate}`: the path of the device certificate (PEM).
    Certificate,
    /// `{signer}`: the path of the signer CA's certificate, which issued it (PEM).
    Signer,
    /// `{root_ca}`: the path of the root CA of the device chain, which issued the signer.
    RootCa,
    /// `{server_ca}`: the path of the CA the broker's server certificate chains to (what
    /// the console's `rootca` command gets; Amazon Root CA 1 for AWS IoT Core).
    ServerCa,
    /// `{endpoint}`: the broker's host name (the TLS server name).
    Endpoint,
    /// `{port}`: the broker's port.
    Port,
    /// `{wifi_ssid}`: the access point's SSID.
    WifiSsid,
    /// `{wifi_password}`: its passphrase (empty for an open network).
    WifiPassword,
    /// `{wifi_auth}`: `open`, `wpa2` or `wep`.
    WifiAuth,
    /// `{serial_port}`: the board's console port (the harness lets go of it meanwhile).
    SerialPort,
    /// `{thing}`: the thing name, the certificate's Subject Key Identifier in hex.
    Thing,
    /// `{certificate_id}`: AWS's id of the device certificate.
    CertificateId,
    /// `{board}`: the board's name in the rig.
    Board,
}

impl Placeholder {
    /// Every placeholder.
    pub const ALL: [Placeholder; 13] = [
        Placeholder::Certificate,
        Placeholder::Signer,
        Placeholder::RootCa,
        Placeholder::ServerCa,
        Placeholder::Endpoint,
        Placeholder::Port,
        Placeholder::WifiSsid,
        Placeholder::WifiPassword,
        Placeholder::WifiAuth,
        Placeholder::SerialPort,
        Placeholder::Thing,
        Placeholder::CertificateId,
        Placeholder::Board,
    ];

    /// Its name between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Certificate => "certificate",
            Placeholder::Signer => "signer",
            Placeholder::RootCa => "root_ca",
            Placeholder::ServerCa => "server_ca",
            Placeholder::Endpoint => "endpoint",
            Placeholder::Port => "port",
            Placeholder::WifiSsid => "wifi_ssid",
            Placeholder::WifiPassword => "wifi_password",
            Placeholder::WifiAuth => "wifi_auth",
            Placeholder::SerialPort => "serial_port",
            Placeholder::Thing => "thing",
            Placeholder::CertificateId => "certificate_id",
            Placeholder::Board => "board",
        }
    }

    /// The placeholder called `name`.
    pub fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Known before the device certificate is made, so usable in `csr_command`.
    pub fn known_before_certificate(self) -> bool {
        !matches!(
            self,
            Placeholder::Certificate | Placeholder::Thing | Placeholder::CertificateId
        )
    }

    /// The file it names, for the file placeholders.
    fn file_name(self) -> Option<&'static str> {
        match self {
            Placeholder::Certificate => Some("certificate.pem"),
            Placeholder::Signer => Some("signer.pem"),
            Placeholder::RootCa => Some("root-ca.pem"),
            Placeholder::ServerCa => Some("server-ca.pem"),
            _ => None,
        }
    }
}

/// One piece of an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(Placeholder),
}

/// A hook's command line: arguments with placeholders; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    text: String,
    words: Vec<Vec<Piece>>,
}

impl CommandLine {
    /// Splits `text` into arguments and finds its placeholders.
    pub fn parse(text: &str) -> Result<CommandLine, CommandLineError> {
        let words = shlex::split(text).ok_or(CommandLineError::Quoting)?;
        if words.is_empty() {
            return Err(CommandLineError::Empty);
        }
        let words = words
            .iter()
            .map(|word| pieces(word))
            .collect::<Result<_, _>>()?;
        Ok(CommandLine {
            text: text.to_owned(),
            words,
        })
    }

    /// The line as the rig wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The placeholders it uses, in order of appearance (repeats included).
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.words.iter().flatten().filter_map(|piece| match piece {
            Piece::Value(p) => Some(*p),
            Piece::Text(_) => None,
        })
    }

    /// The arguments with `value` filled in.
    fn argv(&self, value: impl Fn(Placeholder) -> String) -> Vec<String> {
        self.words
            .iter()
            .map(|word| {
                word.iter()
                    .map(|piece| match piece {
                        Piece::Text(text) => text.clone(),
                        Piece::Value(p) => value(*p),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Splits one argument into text and placeholders (`{{` and `}}` are braces).
fn pieces(word: &str) -> Result<Vec<Piece>, CommandLineError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(CommandLineError::Unclosed {
                                word: word.to_owned(),
                            });
                        }
                    }
                }
                let placeholder = Placeholder::from_name(&name)
                    .ok_or(CommandLineError::UnknownPlaceholder { name })?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Value(placeholder));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// What the placeholders stand for, for one board.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HookValues<'a> {
    pub(crate) board: &'a str,
    pub(crate) serial_port: &'a str,
    pub(crate) endpoint: &'a str,
    pub(crate) port: u16,
    pub(crate) ap: &'a AccessPoint,
    pub(crate) signer_pem: &'a str,
    pub(crate) root_ca_pem: &'a str,
    pub(crate) server_ca_pem: &'a str,
    /// The device certificate; `None` before it is made (the CSR hook).
    pub(crate) device: Option<&'a DeviceCert>,
}

impl HookValues<'_> {
    /// The text of `placeholder`; a file's path once `files` holds it.
    fn value(&self, placeholder: Placeholder, files: &Path) -> String {
        if let Some(name) = placeholder.file_name() {
            return files.join(name).display().to_string();
        }
        let device = |f: fn(&DeviceCert) -> &str| self.device.map(f).unwrap_or_default().to_owned();
        match placeholder {
            Placeholder::Endpoint => self.endpoint.to_owned(),
            Placeholder::Port => self.port.to_string(),
            Placeholder::WifiSsid => self.ap.ssid.clone(),
            Placeholder::WifiPassword => self.ap.password.clone(),
            Placeholder::WifiAuth => self.ap.auth.clone(),
            Placeholder::SerialPort => self.serial_port.to_owned(),
            Placeholder::Thing => device(|d| &d.thing),
            Placeholder::CertificateId => device(|d| &d.id),
            _ => self.board.to_owned(),
        }
    }

    /// The PEM text of a file placeholder.
    fn file_text(&self, placeholder: Placeholder) -> &str {
        match placeholder {
            Placeholder::Certificate => self.device.map(|d| d.pem.as_str()).unwrap_or_default(),
            Placeholder::Signer => self.signer_pem,
            Placeholder::RootCa => self.root_ca_pem,
            _ => self.server_ca_pem,
        }
    }
}

/// Writes the files `line` names into `dir`, readable by all (certificates only).
fn write_files(line: &CommandLine, values: &HookValues<'_>, dir: &Path) -> Result<(), HookError> {
    use std::os::unix::fs::PermissionsExt;
    for placeholder in line.placeholders() {
        let Some(name) = placeholder.file_name() else {
            continue;
        };
        let path = dir.join(name);
        let written = std::fs::write(&path, values.file_text(placeholder))
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)));
        written.map_err(|source| HookError::Files { path, source })?;
    }
    Ok(())
}

/// Kills a hook's process group when dropped, unless disarmed.
struct GroupKiller(Option<nix::unistd::Pid>);

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(group) = self.0.take() {
            // Gone already is fine.
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `stream` line by line onto the timeline, keeping the lines in `kept` (the last
/// `keep` of them).
async fn pump_lines(
    stream: impl AsyncRead + Unpin,
    name: &str,
    program: &str,
    timeline: &Timeline,
    kept: &mut VecDeque<String>,
    keep: usize,
) {
    let mut reader = BufReader::new(stream);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        timeline.record(What::Program {
            program: program.to_owned(),
            stream: name.to_owned(),
            line: line.clone(),
        });
        if kept.len() == keep {
            kept.pop_front();
        }
        kept.push_back(line);
    }
}

/// Runs `line` with `values` from `hook`'s directory, as `program` on the timeline; returns
/// what it printed on stdout. See the module documentation.
pub(crate) async fn run(
    line: &CommandLine,
    values: &HookValues<'_>,
    hook: &ProvisionHook,
    program: &str,
    timeline: &Timeline,
) -> Result<String, HookError> {
    let files = tempfile::Builder::new()
        .prefix("hil-provision-")
        .tempdir()
        .map_err(|source| HookError::Files {
            path: std::env::temp_dir(),
            source,
        })?;
    write_files(line, values, files.path())?;
    let argv = line.argv(|p| values.value(p, files.path()));
    let (first, args) = argv.split_first().ok_or(HookError::Spawn {
        program: String::new(),
        source: std::io::ErrorKind::NotFound.into(),
    })?;
    // A bare name is looked up on PATH; a path is relative to the rig file.
    let executable = if first.contains('/') {
        hook.dir.join(first)
    } else {
        PathBuf::from(first)
    };
    let mut command = tokio::process::Command::new(&executable);
    command
        .args(args)
        .current_dir(&hook.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| HookError::Spawn {
        program: first.clone(),
        source,
    })?;
    let mut killer = GroupKiller(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(nix::unistd::Pid::from_raw),
    );
    timeline.record(What::Action {
        text: format!("{program}: `{}` started", line.text()),
    });
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (mut out, mut err) = (VecDeque::new(), VecDeque::new());
    let finished = tokio::time::timeout(hook.timeout, async {
        let reading = async {
            if let Some(stdout) = stdout {
                pump_lines(stdout, "stdout", program, timeline, &mut out, usize::MAX).await;
            }
        };
        let reading_errors = async {
            if let Some(stderr) = stderr {
                pump_lines(stderr, "stderr", program, timeline, &mut err, STDERR_LINES).await;
            }
        };
        let waiting = async {
            let status = child.wait().await;
            // Whatever it left running goes with it (and lets go of the pipes).
            killer.kill();
            status
        };
        let (status, (), ()) = tokio::join!(waiting, reading, reading_errors);
        status
    })
    .await;
    let stderr = Vec::from(err).join("\n");
    let status = match finished {
        Ok(status) => status.map_err(|source| HookError::Spawn {
            program: first.clone(),
            source,
        })?,
        Err(_) => {
            killer.kill();
            let _ = child.wait().await;
            timeline.record(What::Action {
                text: format!("{program}: killed after {:?}", hook.timeout),
            });
            return Err(HookError::TimedOut {
                command: line.text().to_owned(),
                timeout: hook.timeout,
                stderr,
            });
        }
    };
    timeline.record(What::Action {
        text: format!("{program}: {status}"),
    });
    if !status.success() {
        return Err(HookError::Failed {
            command: line.text().to_owned(),
            status: status.to_string(),
            stderr,
        });
    }
    Ok(Vec::from(out).join("\n"))
}

/// The PEM certificate request in a CSR hook's output.
pub(crate) fn csr_in(output: &str, line: &CommandLine) -> Result<String, HookError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE REQUEST-----";
    const END: &str = "-----END CERTIFICATE REQUEST-----";
    let output = output
        .replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST")
        .replace('\r', "");
    let found = output.find(BEGIN).and_then(|start| {
        let end = start + output[start..].find(END)? + END.len();
        Some(format!("{}\n", &output[start..end]))
    });
    found.ok_or_else(|| HookError::NoCsr {
        command: line.text().to_owned(),
    })
}

#[cfg(test)]
mod tests;
