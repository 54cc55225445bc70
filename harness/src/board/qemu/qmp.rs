//! A small QMP client (QEMU Machine Protocol): [`Qmp`] over a Unix socket, one command at a
//! time.
//!
//! [`Qmp::connect`] reads QEMU's greeting and leaves capabilities negotiation
//! (`qmp_capabilities`); [`Qmp::execute`] writes a command with an `id` and reads until the
//! reply with that id, skipping asynchronous events (`RESET`, `STOP`, ...). Every read waits
//! at most the client's timeout; a reply that is not JSON, an `error` reply and a closed
//! socket are typed errors ([`QmpError`]). The helpers on top are the ones a QEMU board
//! needs: reading a word of guest memory with the monitor's `xp` ([`parse_xp`] decodes its
//! text), the serial port's PTY from `query-chardev`, `system_reset`, `set_link`, `cont`,
//! `quit`. Starting QEMU is the board's business (`super::process`).

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// How long a QMP reply may take by default.
pub const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// A QMP exchange that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QmpError {
    /// The socket could not be reached, read or written (QEMU not started, or gone).
    #[error("qmp socket {path}: {source}")]
    Io {
        /// The socket's path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// QEMU closed the connection (it quit or crashed; its standard error says why).
    #[error("qemu closed the qmp connection during {command}")]
    Closed {
        /// The command under way.
        command: String,
    },
    /// No reply in time: QEMU is hung, or the machine is busy; the timeout is a safety net.
    #[error("no qmp reply to {command} within {timeout:?}")]
    Timeout {
        /// The command.
        command: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// QEMU sent something that is not what QMP promises.
    #[error("unexpected qmp message during {command}: {message}")]
    Protocol {
        /// The command under way (or `greeting`).
        command: String,
        /// What was received, or what was wrong with it.
        message: String,
    },
    /// QEMU refused the command (its `error` reply): a wrong argument, a device not found.
    #[error("qemu refused {command}: {class}: {desc}")]
    Refused {
        /// The command.
        command: String,
        /// QMP's error class (`GenericError`, `DeviceNotFound`, ...).
        class: String,
        /// QEMU's description.
        desc: String,
    },
}

/// A QMP connection in command mode.
#[derive(Debug)]
pub struct Qmp {
    path: String,
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
    next_id: u64,
    timeout: Duration,
}

impl Qmp {
    /// Connects to the socket at `path`, reads the greeting and negotiates capabilities;
    /// each reply may take `timeout`.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| QmpError::Io {
                path: path.display().to_string(),
                source,
            })?;
        let (read, write) = stream.into_split();
        let mut qmp = Qmp {
            path: path.display().to_string(),
            lines: BufReader::new(read).lines(),
            write,
            next_id: 0,
            timeout,
        };
        let greeting = qmp.next("greeting").await?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol {
                command: "greeting".into(),
                message: greeting.to_string(),
            });
        }
        qmp.execute("qmp_capabilities", json!({})).await?;
        Ok(qmp)
    }

    /// The next message, within the timeout.
    async fn next(&mut self, command: &str) -> Result<Value, QmpError> {
        let line = tokio::time::timeout(self.timeout, self.lines.next_line())
            .await
            .map_err(|_| QmpError::Timeout {
                command: command.to_owned(),
                timeout: self.timeout,
            })?
            .map_err(|source| QmpError::Io {
                path: self.path.clone(),
                source,
            })?
            .ok_or_else(|| QmpError::Closed {
                command: command.to_owned(),
            })?;
        serde_json::from_str(&line).map_err(|e| QmpError::Protocol {
            command: command.to_owned(),
            message: format!("{e}: {line}"),
        })
    }

    /// Runs `command` with `arguments` and returns its `return` value; events that come
    /// first are skipped.
    pub async fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, QmpError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({"execute": command, "id": id});
        if arguments.as_object().is_some_and(|a| !a.is_empty()) {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.write
            .write_all(line.as_bytes())
            .await
            .map_err(|source| QmpError::Io {
                path: self.path.clone(),
                source,
            })?;
        loop {
            let reply = self.next(command).await?;
            if reply.get("event").is_some() {
                continue;
            }
            if reply.get("id").is_some_and(|i| i != &json!(id)) {
                // A late reply to an earlier command that timed out.
                continue;
            }
            if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = reply.get("error") {
                let text = |key: &str| error[key].as_str().unwrap_or("?").to_owned();
                return Err(QmpError::Refused {
                    command: command.to_owned(),
                    class: text("class"),
                    desc: text("desc"),
                });
            }
            return Err(QmpError::Protocol {
                command: command.to_owned(),
                message: reply.to_string(),
            });
        }
    }

    /// Reads the 32-bit word of guest physical memory at `address` (the monitor's `xp`).
    pub async fn read_word(&mut self, address: u32) -> Result<u32, QmpError> {
        let command = format!("xp /1wx {address:#x}");
        let out = self
            .execute("human-monitor-command", json!({"command-line": command}))
            .await?;
        out.as_str()
            .and_then(parse_xp)
            .ok_or_else(|| QmpError::Protocol {
                command,
                message: format!("xp printed {out}"),
            })
    }

    /// The PTY QEMU made for the chardev labelled `label` (`serial0` for `-serial pty`).
    pub async fn pty(&mut self, label: &str) -> Result<String, QmpError> {
        let chardevs = self.execute("query-chardev", json!({})).await?;
        chardevs
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["label"] == label)
            .and_then(|c| c["filename"].as_str())
            .and_then(|f| f.strip_prefix("pty:"))
            .map(str::to_owned)
            .ok_or_else(|| QmpError::Protocol {
                command: "query-chardev".into(),
                message: format!("no {label} pty in {chardevs}"),
            })
    }

    /// Sets the link of network device `name` up or down.
    pub async fn set_link(&mut self, name: &str, up: bool) -> Result<(), QmpError> {
        self.execute("set_link", json!({"name": name, "up": up}))
            .await
            .map(drop)
    }
}

/// The word in the monitor's `xp /1wx` output (`000000004002f004: 0x00000008`).
pub fn parse_xp(text: &str) -> Option<u32> {
    let value = text.lines().next()?.split(": ").nth(1)?.trim();
    u32::from_str_radix(value.strip_prefix("0x")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A fake QEMU: greets, then answers each command line with `answer`.
    fn fake_qemu(
        dir: &Path,
        answer: impl Fn(&Value) -> Vec<String> + Send + 'static,
    ) -> std::path::PathBuf {
        let path = dir.join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let greeting = r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}"#;
            write
                .write_all(format!("{greeting}\n").as_bytes())
                .await
                .unwrap();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let request: Value = serde_json::from_str(&line).unwrap();
                for reply in answer(&request) {
                    write
                        .write_all(format!("{reply}\n").as_bytes())
                        .await
                        .unwrap();
                }
            }
        });
        path
    }

    fn ok(request: &Value, value: Value) -> String {
        json!({"return": value, "id": request["id"]}).to_string()
    }

    #[tokio::test]
    async fn commands_get_their_replies_past_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = fake_qemu(dir.path(), |request| match request["execute"].as_str() {
            Some("qmp_capabilities") => vec![ok(request, json!({}))],
            Some("human-monitor-command") => {
                assert_eq!(request["arguments"]["command-line"], "xp /1wx 0x4002f004");
                vec![
                    r#"{"event": "RESET", "data": {"guest": false}, "timestamp": {"seconds": 1, "microseconds": 2}}"#.to_owned(),
                    ok(request, json!("000000004002f004: 0x00000008\r\n")),
                ]
            }
            Some("query-chardev") => vec![ok(
                request,
                json!([{"label": "compat_monitor0", "filename": "unix:/x"}, {"label": "serial0", "filename": "pty:/dev/pts/7"}]),
            )],
            _ => vec![ok(request, json!({}))],
        });
        let mut qmp = Qmp::connect(&path, QMP_TIMEOUT).await.unwrap();
        assert_eq!(qmp.read_word(0x4002_f004).await.unwrap(), 8);
        assert_eq!(qmp.pty("serial0").await.unwrap(), "/dev/pts/7");
        assert!(matches!(
            qmp.pty("serial1").await,
            Err(QmpError::Protocol { .. })
        ));
        qmp.set_link("net0", false).await.unwrap();
    }

    #[tokio::test]
    async fn an_error_reply_is_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = fake_qemu(dir.path(), |request| {
            match request["execute"].as_str() {
            Some("set_link") => vec![json!({"error": {"class": "DeviceNotFound", "desc": "Device 'net9' not found"}, "id": request["id"]}).to_string()],
            _ => vec![ok(request, json!({}))],
        }
        });
        let mut qmp = Qmp::connect(&path, QMP_TIMEOUT).await.unwrap();
        let err = qmp.set_link("net9", true).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "qemu refused set_link: DeviceNotFound: Device 'net9' not found"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_qemu_times_out_and_a_closed_one_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let path = fake_qemu(dir.path(), |request| match request["execute"].as_str() {
            Some("qmp_capabilities") => vec![ok(request, json!({}))],
            _ => vec![],
        });
        let mut qmp = Qmp::connect(&path, Duration::from_secs(3)).await.unwrap();
        let err = qmp.execute("system_reset", json!({})).await.unwrap_err();
        assert!(
            matches!(&err, QmpError::Timeout { command, timeout } if command == "system_reset" && *timeout == Duration::from_secs(3)),
            "{err}"
        );

        let other = tempfile::tempdir().unwrap();
        let path = other.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
        });
        let err = Qmp::connect(&path, Duration::from_secs(3))
            .await
            .unwrap_err();
        assert!(matches!(err, QmpError::Closed { .. }), "{err}");
        let err = Qmp::connect(&other.path().join("none.sock"), Duration::from_secs(3))
            .await
            .unwrap_err();
        assert!(matches!(err, QmpError::Io { .. }), "{err}");
    }

    #[test]
    fn xp_output_is_parsed() {
        assert_eq!(parse_xp("000000004002f004: 0x00000008\r\n"), Some(8));
        assert_eq!(parse_xp("0000000040028000: 0xdeadbeef"), Some(0xdead_beef));
        assert_eq!(parse_xp("Cannot access memory"), None);
        assert_eq!(parse_xp(""), None);
    }
}
