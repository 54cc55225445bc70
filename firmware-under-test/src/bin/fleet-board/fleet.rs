//! The fleet process's main loop: creates the boards (a key and a CSR each), answers the
//! parent's [`Command`]s on stdin, powers the boards on (each then runs as its own task),
//! and writes every [`Line`] to stdout. What one board does is [`Instance`]'s.

use crate::Args;
use crate::clock::Clock;
use crate::instance::{Common, Instance, NetEvents, Shared};
use crate::protocol::{Command, Line, What};
use crate::secure_element::SecureElement;
use crate::sensors::Sensors;
use firmware_under_test::board::{Config, Qos};
use firmware_under_test::time::Duration;
use std::io::{BufRead, Write};
use tokio::sync::mpsc;

/// Runs the fleet until stdin ends, `stop`, or a signal.
pub async fn run(args: Args) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    if !(args.speed > 0.0 && args.speed.is_finite()) {
        return Err(format!(
            "--speed must be a positive number, got {}",
            args.speed
        ));
    }
    exit_with_parent()?;
    let clock = Clock::new(args.speed);
    let (lines, to_stdout) = mpsc::unbounded_channel();
    let writer = std::thread::Builder::new()
        .name("stdout".into())
        .spawn(move || write_lines(to_stdout))
        .map_err(|e| format!("cannot start the stdout thread: {e}"))?;
    let shared = Shared {
        clock,
        join: Duration::from_millis(args.join_ms),
        hosts: args.host_map()?.into(),
        lines: lines.clone(),
    };
    let count = usize::try_from(args.boards).map_err(|e| e.to_string())?;
    let mut boards: Vec<Option<(Instance, NetEvents)>> = Vec::with_capacity(count);
    for index in 0..count {
        let hardware = SecureElement::generate(Sensors::default())
            .map_err(|e| format!("board {index}: cannot generate its key: {e}"))?;
        let seed = match args.seed {
            Some(seed) => seed.wrapping_add(index as u64),
            None => seed_from(hardware.serial()),
        };
        let config = Config {
            telemetry_interval: Duration::from_millis(args.telemetry_ms.max(1)),
            telemetry_qos: if args.qos == 1 {
                Qos::AtLeastOnce
            } else {
                Qos::AtMostOnce
            },
            seed,
            open_timeout: crate::clock::open_timeout(args.speed),
            flaws: args.flaws.iter().copied().collect(),
            ..Config::default()
        };
        let (mut instance, net) = Instance::new(index, config, hardware, shared.clone());
        let csr = instance
            .csr()
            .map_err(|reply| format!("board {index}: csr answered {reply:?}"))?;
        let serial = instance.serial().to_owned();
        send(&lines, &clock, Some(index), What::Csr { serial, csr });
        boards.push(Some((instance, net)));
    }
    send(
        &lines,
        &clock,
        None,
        What::Ready {
            boards: count,
            speed: args.speed,
        },
    );
    let mut stdin = read_stdin()?;
    let mut common: Option<Common> = None;
    loop {
        let line = tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            line = stdin.recv() => line,
        };
        let Some(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let command = match serde_json::from_str::<Command>(&line) {
            Ok(command) => command,
            Err(e) => {
                let reason = format!("{e}");
                send(&lines, &clock, None, What::BadCommand { reason });
                continue;
            }
        };
        match command {
            Command::Common {
                signer,
                root_ca,
                endpoint,
                wifi,
            } => {
                common = Some(Common {
                    signer,
                    root_ca,
                    endpoint,
                    wifi,
                });
            }
            Command::Certificate { board, pem } => {
                let what = match (boards.get_mut(board), &common) {
                    (Some(Some((instance, _))), Some(common)) => {
                        match instance.provision(&pem, common) {
                            Ok(thing) => What::Provisioned { thing },
                            Err((command, reply)) => What::ProvisionFailed { command, reply },
                        }
                    }
                    (Some(Some(_)), None) => What::BadCommand {
                        reason: "certificate before common".into(),
                    },
                    _ => What::BadCommand {
                        reason: format!("no board {board} waiting for provisioning"),
                    },
                };
                send(&lines, &clock, Some(board), what);
            }
            Command::PowerOn { ramp_ms } => power_on(&mut boards, &clock, ramp_ms),
            Command::Stop => break,
        }
    }
    // Every line sent so far is written before the process exits.
    let _ = lines.send(None);
    let _ = writer.join();
    Ok(())
}

/// Starts every board not yet running, the i-th of N at `i * ramp_ms / N` from now.
fn power_on(boards: &mut [Option<(Instance, NetEvents)>], clock: &Clock, ramp_ms: u64) {
    let start = clock.now();
    let count = boards.len().max(1) as u64;
    for (index, slot) in boards.iter_mut().enumerate() {
        let Some((mut instance, net)) = slot.take() else {
            continue;
        };
        let at = start + Duration::from_millis(ramp_ms.saturating_mul(index as u64) / count);
        let wake = clock.host_instant(at);
        tokio::spawn(async move {
            tokio::time::sleep_until(wake).await;
            instance.power_on();
            instance.run(net).await;
        });
    }
}

fn send(
    lines: &mpsc::UnboundedSender<Option<Line>>,
    clock: &Clock,
    board: Option<usize>,
    what: What,
) {
    let _ = lines.send(Some(Line {
        board,
        t_ms: clock.now().millis(),
        what,
    }));
}

/// Writes lines to stdout, flushing whenever no more are waiting, until `None` (a thread:
/// tokio's stdout is not among the runtime's features).
fn write_lines(mut lines: mpsc::UnboundedReceiver<Option<Line>>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Some(Some(line)) = lines.blocking_recv() {
        let Ok(text) = serde_json::to_string(&line) else {
            continue;
        };
        if writeln!(out, "{text}").is_err() {
            return;
        }
        if lines.is_empty() && out.flush().is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Lines of stdin, read by a thread; the channel closes when stdin ends or fails.
fn read_stdin() -> Result<mpsc::UnboundedReceiver<String>, String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| format!("cannot start the stdin thread: {e}"))?;
    Ok(rx)
}

/// Asks the kernel for SIGTERM when the parent dies, and exits if it already has.
fn exit_with_parent() -> Result<(), String> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
        .map_err(|e| format!("cannot watch the parent process: {e}"))?;
    if nix::unistd::getppid() == nix::unistd::Pid::from_raw(1) {
        return Err("the parent process is gone".into());
    }
    Ok(())
}

/// The emulated board's default jitter seed: FNV-1a of the serial.
fn seed_from(serial: &str) -> u64 {
    serial.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
