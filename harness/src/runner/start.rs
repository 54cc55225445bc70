//! Bringing up a rig's parts: its test PKI, its broker, and one of its boards.
//!
//! The runner uses these for every scenario; `hil broker`, `hil leds` and `hil provision`
//! use them to bring up the same parts on their own. Errors are strings that say what
//! could not start and why; the caller adds context.

use crate::board::Board;
use crate::board::emulated::{EmulatedBoard, EmulatedOptions};
use crate::board::probe::{ProbeRsBoard, ProbeRsOptions};
use crate::board::qemu::{HOST_ADDRESS, QemuBoard, QemuOptions};
use crate::broker::Broker;
use crate::broker::container::ContainerBroker;
use crate::broker::embedded::{EmbeddedBroker, EmbeddedOptions};
use crate::broker::mosquitto::MosquittoBroker;
use crate::pki::TestPki;
use crate::rig::{BoardSpec, BrokerSpec, Rig};
use crate::timeline::Timeline;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Opens (or creates) the test PKI in `dir`, serialising access across threads and
/// processes so parallel tests share one PKI safely.
pub fn open_pki(dir: &Path, names: &[&str], fresh: bool) -> Result<TestPki, String> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock_file = std::fs::File::create(dir.join(".lock"))
        .map_err(|e| format!("cannot lock {}: {e}", dir.display()))?;
    let _flock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", dir.display()))?;
    TestPki::open(dir, names, fresh).map_err(|e| format!("test PKI in {}: {e}", dir.display()))
}

/// Opens the rig's PKI for `endpoint` (the server certificate's names).
fn rig_pki(rig: &Rig, endpoint: &str) -> Result<Arc<TestPki>, String> {
    let names = [endpoint, "localhost", "127.0.0.1"];
    Ok(Arc::new(open_pki(&rig.pki_dir, &names, rig.fresh_pki)?))
}

/// Opens the rig's PKI and starts its embedded broker (on `listen` when given, else where
/// the rig says), taps going to `timeline`. An error if the rig's broker is another kind.
pub async fn start_embedded_broker(
    rig: &Rig,
    listen: Option<SocketAddr>,
    timeline: Arc<Timeline>,
) -> Result<(Arc<TestPki>, EmbeddedBroker), String> {
    let BrokerSpec::Embedded {
        endpoint,
        listen: rig_listen,
        zero_touch,
        region,
        account_id,
    } = &rig.broker
    else {
        return Err(format!(
            "the rig's broker is `{}`; this needs the embedded broker (a rig with [broker] kind = \"embedded\")",
            rig.broker.kind()
        ));
    };
    let pki = rig_pki(rig, endpoint)?;
    let options = EmbeddedOptions {
        endpoint: endpoint.clone(),
        listen: listen.unwrap_or(*rig_listen),
        zero_touch: *zero_touch,
        region: region.clone(),
        account_id: account_id.clone(),
    };
    let broker = EmbeddedBroker::start(&options, pki.clone(), timeline)
        .await
        .map_err(|e| e.to_string())?;
    Ok((pki, broker))
}

/// Opens the rig's PKI and starts its broker, whatever its kind: the embedded mock
/// broker, Mosquitto as a process, or Mosquitto in a container.
pub async fn start_broker(
    rig: &Rig,
    timeline: Arc<Timeline>,
) -> Result<(Arc<TestPki>, Box<dyn Broker>), String> {
    match &rig.broker {
        BrokerSpec::Embedded { .. } => {
            let (pki, broker) = start_embedded_broker(rig, None, timeline).await?;
            Ok((pki, Box::new(broker)))
        }
        BrokerSpec::Mosquitto { endpoint, program } => {
            let pki = rig_pki(rig, endpoint)?;
            let broker = MosquittoBroker::start(program, endpoint, &pki, timeline)
                .await
                .map_err(|e| e.to_string())?;
            Ok((pki, Box::new(broker)))
        }
        BrokerSpec::Container { endpoint, image } => {
            let pki = rig_pki(rig, endpoint)?;
            let broker = ContainerBroker::start(image, endpoint, &pki, timeline)
                .await
                .map_err(|e| e.to_string())?;
            Ok((pki, Box::new(broker)))
        }
        BrokerSpec::External { .. } => Err(
            "an external broker is not started by the harness; use the embedded, mosquitto or container kind".into(),
        ),
    }
}

/// The address a QEMU guest uses for the broker at `broker`: QEMU's user network reaches
/// the host's loopback at its host address (10.0.2.2), and any other address of the host
/// or beyond through its NAT, as it is.
fn guest_address(broker: std::net::IpAddr) -> String {
    if broker.is_loopback() || broker.is_unspecified() {
        HOST_ADDRESS.to_owned()
    } else {
        broker.to_string()
    }
}

/// Starts (emulated) or attaches to (probe-rs) the rig's board `name`, pointed at `broker`.
/// An emulated board runs at the speed of the timeline's clock: the rig's for the runner,
/// real time for the `hil` tools a person watches. A probe-rs board needs a real-time
/// timeline.
pub async fn start_board(
    rig: &Rig,
    name: &str,
    broker: &dyn Broker,
    timeline: Arc<Timeline>,
) -> Result<Box<dyn Board>, String> {
    match rig.boards.get(name) {
        Some(BoardSpec::Emulated { binary, flaws, .. }) => {
            let options = EmulatedOptions {
                binary: binary.clone(),
                flaws: flaws.clone(),
                access_points: rig.wifi.values().cloned().collect(),
                hosts: vec![(broker.endpoint().to_owned(), broker.address())],
            };
            Ok(Box::new(
                EmulatedBoard::start(name, &options, timeline)
                    .await
                    .map_err(|e| e.to_string())?,
            ))
        }
        Some(BoardSpec::ProbeRs { .. }) if !timeline.clock().is_real_time() => Err(format!(
            "board {name} is real hardware: it runs in real time, not at {}",
            timeline.clock()
        )),
        Some(BoardSpec::ProbeRs {
            chip,
            probe,
            firmware,
            serial_port,
            baud,
            leds,
            poll,
            rtt,
            ..
        }) => {
            let options = ProbeRsOptions {
                chip: chip.clone(),
                probe: probe.clone(),
                firmware: firmware.clone(),
                serial_port: serial_port.clone(),
                baud: *baud,
                leds: leds.clone(),
                poll: *poll,
                rtt: *rtt,
            };
            let name = name.to_owned();
            let board =
                tokio::task::spawn_blocking(move || ProbeRsBoard::attach(&name, options, timeline))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| match super::world::source_chain(&e) {
                        causes if causes.is_empty() => e.to_string(),
                        causes => format!("{e}: {causes}"),
                    })?;
            Ok(Box::new(board))
        }
        Some(BoardSpec::Qemu { .. }) if !timeline.clock().is_real_time() => Err(format!(
            "board {name} runs under QEMU in real time, not at {}",
            timeline.clock()
        )),
        Some(BoardSpec::Qemu {
            machine,
            firmware,
            program,
            leds,
            poll,
            ..
        }) => {
            let options = QemuOptions {
                machine,
                firmware: firmware.clone(),
                program: program.clone(),
                leds: leds.clone(),
                poll: *poll,
                hosts: vec![(
                    broker.endpoint().to_owned(),
                    guest_address(broker.address()),
                )],
            };
            Ok(Box::new(
                QemuBoard::start(name, options, timeline)
                    .await
                    .map_err(|e| e.to_string())?,
            ))
        }
        _ => {
            let known: Vec<&String> = rig.boards.keys().collect();
            Err(format!("the rig has no board {name:?} (it has {known:?})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qemu_guest_reaches_a_loopback_broker_at_the_host_address_and_others_as_they_are() {
        assert_eq!(guest_address("127.0.0.1".parse().unwrap()), "10.0.2.2");
        assert_eq!(guest_address("0.0.0.0".parse().unwrap()), "10.0.2.2");
        assert_eq!(guest_address("172.17.0.1".parse().unwrap()), "172.17.0.1");
    }
}
