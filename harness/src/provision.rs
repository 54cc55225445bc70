//! Provisioning a board for the cloud, the way Microchip's tool does it, over the console.
//!
//! 1. On the embedded broker, the signer CA is made ready for the mode, in one registry
//!    change ([`EmbeddedBroker::prepare_signer`](crate::broker::embedded::EmbeddedBroker::prepare_signer)):
//!    registered if it is not there, auto-registration turned on for
//!    [`ProvisionMode::Jitr`], auto-registration and a template for [`ProvisionMode::Jitp`].
//!    Provisioning only ever adds to the CA: it never turns auto-registration or a
//!    template off and never changes the CA's status, so boards provisioned in different
//!    modes (at once, in a `parallel` block, or one after the other) share one CA, as the
//!    devices of a real account do; only a scenario's `ca` step takes things away. A
//!    template on the CA provisions every unknown certificate it issued, a `jitr` board's
//!    too (AWS IoT does the same). A broker without AWS's registries (Mosquitto) trusts
//!    the signer by configuration, so only `Preregistered` and `Unregistered` apply.
//!    `Unregistered` signs with the PKI's stranger CA, which no broker trusts.
//! 2. The board's CSR is read (`csr`) and signed by the test PKI.
//! 3. For `Preregistered` on the embedded broker, the certificate, thing and policy are
//!    registered before the board gets its certificate.
//! 4. The device certificate, the signer, the server's root CA, the endpoint and the Wi-Fi
//!    credentials are written over the console, each answered `OK`.
//! 5. The board's `thing` must be the certificate's Subject Key Identifier.
//! 6. The board is reset to use its new credentials.
//!
//! A board whose firmware takes its credentials another way has a [`hook::ProvisionHook`]
//! in the rig ([`Delivery::Hook`]): its `csr_command`, if any, prints the CSR instead of
//! step 2's `csr`, and its `command` writes the credentials instead of steps 4 and 5. The
//! harness lets go of the board's console while either runs (the program may need the
//! port), and resets the board through its backend (probe or emulator) instead of the
//! console's `reset`.

use crate::board::Board;
use crate::broker::Broker;
use crate::broker::embedded::SignerNeeds;
use crate::errors::{BoardError, BrokerError, ConsoleError, ProvisionError};
use crate::pki::{DeviceCert, TestPki};
use crate::rig::AccessPoint;
use crate::timeline::Timeline;
use hook::{CommandLine, HookValues, ProvisionHook};
use std::time::Duration;

pub mod hook;

/// How a board gets its credentials.
#[derive(Debug, Clone, Copy)]
pub enum Delivery<'a> {
    /// Typed on its console with this project's commands.
    Console,
    /// By the rig's provisioning hook, its output going to `timeline`.
    Hook {
        /// The hook.
        hook: &'a ProvisionHook,
        /// Where the hook's output goes.
        timeline: &'a Timeline,
    },
}

/// How the board's certificate gets registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionMode {
    /// Just-In-Time Registration at first connection.
    Jitr,
    /// Just-In-Time Provisioning with a template on the CA.
    Jitp,
    /// Registered before the board connects.
    Preregistered,
    /// The board's certificate comes from the PKI's stranger CA, which no broker knows.
    Unregistered,
}

impl std::str::FromStr for ProvisionMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "jitr" => Ok(ProvisionMode::Jitr),
            "jitp" => Ok(ProvisionMode::Jitp),
            "preregistered" => Ok(ProvisionMode::Preregistered),
            other => Err(format!(
                "unknown provisioning mode {other:?}; expected jitr, jitp or preregistered"
            )),
        }
    }
}

/// What provisioning produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// Thing name (lowercase hex SKI), also the board's MQTT client id.
    pub thing: String,
    /// AWS certificate id of the device certificate.
    pub certificate_id: String,
    /// The device certificate, PEM.
    pub certificate_pem: String,
    /// Certificate id of the signer CA.
    pub ca_id: String,
}

/// How long one console exchange may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

async fn expect_ok(
    board: &mut dyn Board,
    command: &str,
    block: Option<&str>,
) -> Result<(), ProvisionError> {
    let name = board.name().to_owned();
    let console = board.console();
    let reply = match block {
        Some(block) => console.send_block(command, block, COMMAND_TIMEOUT).await,
        None => console.command(command, COMMAND_TIMEOUT).await,
    }
    .map_err(|source| ProvisionError::Board {
        board: name.clone(),
        source: BoardError::Console {
            board: name.clone(),
            source,
        },
    })?;
    if reply == "OK" {
        Ok(())
    } else {
        let shown = command.split_whitespace().next().unwrap_or(command);
        Err(ProvisionError::Refused {
            board: name,
            command: shown.to_owned(),
            reply,
        })
    }
}

fn console_error(board: &str, source: ConsoleError) -> ProvisionError {
    ProvisionError::Board {
        board: board.to_owned(),
        source: BoardError::Console {
            board: board.to_owned(),
            source,
        },
    }
}

async fn query(board: &mut dyn Board, command: &str) -> Result<String, ProvisionError> {
    let name = board.name().to_owned();
    board
        .console()
        .command(command, COMMAND_TIMEOUT)
        .await
        .map_err(|source| console_error(&name, source))
}

impl<'a> Delivery<'a> {
    /// By `hook` when the rig gives the board one, else on the console.
    pub fn of(hook: Option<&'a ProvisionHook>, timeline: &'a Timeline) -> Self {
        match hook {
            Some(hook) => Delivery::Hook { hook, timeline },
            None => Delivery::Console,
        }
    }
}

/// What a hook needs to know besides the board: the values of its placeholders.
struct HookContext<'a> {
    hook: &'a ProvisionHook,
    timeline: &'a Timeline,
    endpoint: &'a str,
    port: u16,
    ap: &'a AccessPoint,
    signer_pem: &'a str,
    pki: &'a TestPki,
}

impl HookContext<'_> {
    /// Runs `line` (the hook's `which`) with the board's console let go meanwhile;
    /// returns its stdout.
    async fn run(
        &self,
        board: &mut dyn Board,
        which: &'static str,
        line: &CommandLine,
        device: Option<&DeviceCert>,
    ) -> Result<String, ProvisionError> {
        let name = board.name().to_owned();
        // The device open now; a hook is never given a console port that is gone.
        let serial_port = board.console().path().unwrap_or_default();
        let values = HookValues {
            board: &name,
            serial_port: &serial_port,
            endpoint: self.endpoint,
            port: self.port,
            ap: self.ap,
            signer_pem: self.signer_pem,
            root_ca_pem: &self.pki.root.pem,
            server_ca_pem: &self.pki.server_ca.pem,
            device,
        };
        let program = match which {
            "csr_command" => format!("{name} CSR hook"),
            _ => format!("{name} provisioning hook"),
        };
        board
            .console()
            .release()
            .await
            .map_err(|source| console_error(&name, source))?;
        let ran = hook::run(line, &values, self.hook, &program, self.timeline).await;
        // Taken back whatever the hook did, so the board's console stays usable.
        let reclaimed = board.console().reclaim();
        let output = ran.map_err(|source| ProvisionError::Hook {
            board: name.clone(),
            hook: which,
            source,
        })?;
        reclaimed.map_err(|source| console_error(&name, source))?;
        Ok(output)
    }
}

/// Provisions `board` for `broker` with the test PKI and `ap` over its console; see the
/// module docs.
pub async fn provision(
    board: &mut dyn Board,
    broker: &dyn Broker,
    pki: &TestPki,
    ap: &AccessPoint,
    mode: ProvisionMode,
) -> Result<Provisioned, ProvisionError> {
    provision_by(board, broker, pki, ap, mode, Delivery::Console).await
}

/// Provisions `board` for `broker` with the test PKI and `ap`, its credentials delivered
/// as `delivery` says; see the module docs.
pub async fn provision_by(
    board: &mut dyn Board,
    broker: &dyn Broker,
    pki: &TestPki,
    ap: &AccessPoint,
    mode: ProvisionMode,
    delivery: Delivery<'_>,
) -> Result<Provisioned, ProvisionError> {
    let name = board.name().to_owned();
    let registry = broker.embedded();
    let ca_id = match (mode, registry) {
        (ProvisionMode::Jitr, Some(broker)) => {
            broker.prepare_signer(SignerNeeds::AutoRegistration)?
        }
        (ProvisionMode::Jitp, Some(broker)) => broker.prepare_signer(SignerNeeds::Template)?,
        (ProvisionMode::Preregistered, Some(broker)) => {
            broker.prepare_signer(SignerNeeds::Registration)?
        }
        (ProvisionMode::Jitr | ProvisionMode::Jitp, None) => {
            return Err(BrokerError::Unsupported {
                kind: broker.kind(),
                operation: "register certificates just in time (JITR/JITP is AWS IoT's)",
            }
            .into());
        }
        // A broker without registries trusts the signer by its configuration.
        (ProvisionMode::Preregistered, None) => pki.signer.id()?,
        (ProvisionMode::Unregistered, _) => pki.stranger.id()?,
    };
    let signer = if mode == ProvisionMode::Unregistered {
        &pki.stranger
    } else {
        &pki.signer
    };
    let hook = match delivery {
        Delivery::Console => None,
        Delivery::Hook { hook, timeline } => Some(HookContext {
            hook,
            timeline,
            endpoint: broker.endpoint(),
            port: broker.port(),
            ap,
            signer_pem: &signer.pem,
            pki,
        }),
    };
    let (csr, csr_source) = match hook
        .as_ref()
        .and_then(|h| Some((h, h.hook.csr_command.as_ref()?)))
    {
        Some((context, line)) => {
            let output = context.run(board, "csr_command", line, None).await?;
            let csr = hook::csr_in(&output, line).map_err(|source| ProvisionError::Hook {
                board: name.clone(),
                hook: "csr_command",
                source,
            })?;
            (csr, "csr_command")
        }
        None => (query(board, "csr").await?, "csr"),
    };
    if !csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----") {
        return Err(ProvisionError::Refused {
            board: name,
            command: csr_source.into(),
            reply: csr,
        });
    }
    let csr = csr.replace("\r\n", "\n");
    let device = if mode == ProvisionMode::Unregistered {
        pki.sign_csr_as_stranger(&csr)?
    } else {
        pki.sign_csr(&csr)?
    };
    if let (ProvisionMode::Preregistered, Some(registry)) = (mode, registry) {
        registry.preregister(&device.pem, &device.thing)?;
    }
    match &hook {
        Some(context) => {
            let line = &context.hook.command;
            context.run(board, "command", line, Some(&device)).await?;
            board
                .reset()
                .await
                .map_err(|source| ProvisionError::Board {
                    board: name.clone(),
                    source,
                })?;
            await_restart(board).await?;
        }
        None => write_over_console(board, broker, pki, ap, signer, &device).await?,
    }
    Ok(Provisioned {
        thing: device.thing,
        certificate_id: device.id,
        certificate_pem: device.pem,
        ca_id,
    })
}

/// Steps 4 to 6 of the module docs: the credentials typed on the console, the thing name
/// checked, the board reset.
async fn write_over_console(
    board: &mut dyn Board,
    broker: &dyn Broker,
    pki: &TestPki,
    ap: &AccessPoint,
    signer: &crate::pki::Ca,
    device: &DeviceCert,
) -> Result<(), ProvisionError> {
    expect_ok(board, "cert", Some(&device.pem)).await?;
    expect_ok(board, "signer", Some(&signer.pem)).await?;
    expect_ok(board, "rootca", Some(&pki.server_ca.pem)).await?;
    expect_ok(
        board,
        &format!("endpoint {}:{}", broker.endpoint(), broker.port()),
        None,
    )
    .await?;
    let wifi = if ap.auth == "open" {
        format!("wifi {}", ap.ssid)
    } else {
        format!("wifi {},{},{}", ap.ssid, ap.password, ap.auth)
    };
    expect_ok(board, &wifi, None).await?;
    let reported = query(board, "thing").await?;
    if reported != device.thing {
        return Err(ProvisionError::ThingMismatch {
            board: board.name().to_owned(),
            reported,
            expected: device.thing.clone(),
        });
    }
    expect_ok(board, "reset", None).await?;
    await_restart(board).await
}

/// How long provisioning waits for the boot banner after `reset` (wall time).
pub const BANNER_TIMEOUT: Duration = Duration::from_secs(5);

/// After `reset` answered `OK`: waits for the boot banner (the console contract: the board
/// restarts and prints its banner, which ends with EOT), so provisioning ends with the
/// board running on its new credentials and the steps after it judge the restarted board,
/// not the LEDs of the one before (a QEMU board answers `OK` before it resets). A console
/// that loses output across a reset (a native USB port that re-enumerates) may miss the
/// banner: after [`BANNER_TIMEOUT`] it is enough that the board answers again.
async fn await_restart(board: &mut dyn Board) -> Result<(), ProvisionError> {
    let name = board.name().to_owned();
    let console = board.console();
    match console.reply(BANNER_TIMEOUT).await {
        Ok(_) => Ok(()),
        Err(ConsoleError::Timeout { .. }) => console
            .sync(COMMAND_TIMEOUT)
            .await
            .map_err(|source| console_error(&name, source)),
        Err(source) => Err(console_error(&name, source)),
    }
}
