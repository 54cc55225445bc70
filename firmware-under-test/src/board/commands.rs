//! The console commands: parsing a line, executing it, and taking PEM blocks typed over
//! the console.

use super::{Action, Actions, Board, Phase, Qos, push};
use crate::console::{self, CLI_VERSION, COMMAND_LIST, Command, CommandError, LineError};
use crate::credentials::{Credentials, Pem};
use crate::hardware::{CertificateError, Hardware};
use crate::time::Instant;
use core::fmt::Write;

/// Which certificate a PEM block being typed is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PemTarget {
    Device,
    Signer,
    RootCa,
}

/// A PEM block being typed over the console.
#[derive(Debug)]
pub(super) struct PemInput {
    pub(super) target: PemTarget,
    pub(super) text: Pem,
    pub(super) overflow: bool,
}

impl Board {
    pub(super) fn on_line(
        &mut self,
        now: Instant,
        line: Result<console::Line, LineError>,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        if self.pem.is_some() {
            return self.on_pem_line(line, hw, out);
        }
        let line = match line {
            Ok(line) => line,
            Err(LineError::TooLong) => {
                return self.error(format_args!(
                    "line too long (at most {} characters)",
                    console::MAX_LINE
                ));
            }
            Err(LineError::Garbage) => {
                return self.error(format_args!("invalid characters in line"));
            }
        };
        match console::parse(&line) {
            Ok(command) => self.execute(now, command, hw, out),
            Err(CommandError::Unknown) => {
                self.say(format_args!("ERROR: unknown command; commands:"));
                for command in COMMAND_LIST {
                    self.say(format_args!("  {command}"));
                }
                self.end_reply();
            }
            Err(usage) => self.error(format_args!("{usage}")),
        }
    }

    pub(super) fn execute(
        &mut self,
        now: Instant,
        command: Command,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        match command {
            Command::Nothing => self.end_reply(),
            Command::Reset => {
                self.ok();
                push(out, Action::Reset);
            }
            Command::Reconnect => {
                self.ok();
                self.reconnect(now, out);
            }
            Command::Wifi(wifi) => {
                self.credentials.wifi = Some(wifi);
                push(out, Action::SaveCredentials);
                self.ok();
            }
            Command::Thing => {
                let thing = self.thing_name(hw);
                self.reply(format_args!("{thing}"));
            }
            Command::Device => {
                let serial: heapless::String<64> =
                    heapless::String::try_from(hw.device_serial()).unwrap_or_default();
                self.reply(format_args!("{serial}"));
            }
            Command::Version => self.reply(format_args!("{}", crate::FIRMWARE_VERSION)),
            Command::CliVersion => self.reply(format_args!("{CLI_VERSION}")),
            Command::Debug(level) => {
                self.log_level = level;
                self.ok();
            }
            Command::Csr => {
                let mut pem: heapless::String<1024> = heapless::String::new();
                match hw.write_csr(&mut pem) {
                    Ok(()) => {
                        for line in pem.lines() {
                            self.say(format_args!("{line}"));
                        }
                        self.end_reply();
                    }
                    Err(_) => {
                        self.phase = Phase::Fatal;
                        self.error(format_args!("crypto failure: cannot create the CSR"));
                    }
                }
            }
            Command::Cert => self.begin_pem(PemTarget::Device),
            Command::Signer => self.begin_pem(PemTarget::Signer),
            Command::RootCa => self.begin_pem(PemTarget::RootCa),
            Command::Endpoint(endpoint) => {
                self.credentials.endpoint = Some(endpoint);
                push(out, Action::SaveCredentials);
                self.ok();
            }
            Command::Erase => {
                self.credentials = Credentials::default();
                push(out, Action::SaveCredentials);
                self.disconnect_all(out);
                self.phase = Phase::Unprovisioned;
                self.ok();
            }
            Command::Status => self.status(now, hw, out),
        }
    }

    /// `status`: prints the thing, whether it is connected and the telemetry period, and
    /// when connected publishes the same as JSON, retained, at QoS 1 on `<thing>/status`
    /// (`{"firmware":"1.2.0","telemetry_period_ms":2000,"telemetry_sent":7}`), so that an
    /// application subscribing later gets the board's last status at once. AWS IoT needs
    /// `iot:RetainPublish` on the topic for that, beside `iot:Publish`.
    fn status(&mut self, now: Instant, hw: &mut dyn Hardware, out: &mut Actions) {
        let thing = self.thing_name(hw);
        let period_ms = self.config.telemetry_interval.millis();
        let connected = self.is_connected();
        self.say(format_args!("thing: {thing}"));
        self.say(format_args!("connected: {connected}"));
        self.say(format_args!("telemetry_period_ms: {period_ms}"));
        if !connected {
            return self.error(format_args!("not connected: status not published"));
        }
        let mut topic = super::Topic::new();
        let _ = write!(topic, "{thing}/status");
        let mut payload = super::Payload::new();
        let _ = write!(
            payload,
            "{{\"firmware\":\"{}\",\"telemetry_period_ms\":{period_ms},\"telemetry_sent\":{}}}",
            crate::FIRMWARE_VERSION,
            self.telemetry_sent
        );
        let retain = !self.config.flaws.has(crate::flaws::Flaw::NoRetain);
        if self.publish_as(now, topic, payload, (Qos::AtLeastOnce, retain), out) {
            self.ok();
        } else {
            self.error(format_args!(
                "too many unacknowledged messages: status not published"
            ));
        }
    }

    pub(super) fn reconnect(&mut self, now: Instant, out: &mut Actions) {
        self.disconnect_all(out);
        self.start(now, out);
    }

    pub(super) fn disconnect_all(&mut self, out: &mut Actions) {
        if matches!(
            self.phase,
            Phase::Opening { .. } | Phase::AwaitingConnAck { .. } | Phase::Connected(_)
        ) {
            push(out, Action::CloseTransport);
        }
        if self.wifi_up || matches!(self.phase, Phase::JoiningWifi { .. }) {
            push(out, Action::LeaveWifi);
        }
        self.wifi_up = false;
    }

    pub(super) fn begin_pem(&mut self, target: PemTarget) {
        self.pem = Some(PemInput {
            target,
            text: Pem::new(),
            overflow: false,
        });
    }

    pub(super) fn on_pem_line(
        &mut self,
        line: Result<console::Line, LineError>,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        let Some(pem) = self.pem.as_mut() else {
            return;
        };
        match line {
            Ok(line) if line.trim().is_empty() => {}
            Ok(line) => {
                if pem.text.push_str(line.trim()).is_err() || pem.text.push('\n').is_err() {
                    pem.overflow = true;
                }
                return;
            }
            Err(_) => {
                pem.overflow = true;
                return;
            }
        }
        let Some(pem) = self.pem.take() else {
            return;
        };
        let result = if pem.overflow {
            Err(CertificateError::TooLong)
        } else {
            match pem.target {
                PemTarget::Device => hw.check_device_certificate(&pem.text).map(|thing| {
                    self.credentials.device_cert = Some(pem.text.clone());
                    self.credentials.thing = Some(thing);
                }),
                PemTarget::Signer => hw
                    .check_ca_certificate(&pem.text)
                    .map(|()| self.credentials.signer = Some(pem.text.clone())),
                PemTarget::RootCa => hw
                    .check_ca_certificate(&pem.text)
                    .map(|()| self.credentials.root_ca = Some(pem.text.clone())),
            }
        };
        match result {
            Ok(()) => {
                push(out, Action::SaveCredentials);
                self.ok();
            }
            Err(e) => self.error(format_args!("{e}")),
        }
    }
}
