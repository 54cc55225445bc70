//! A small world for the harness's own flow tests: a timeline, a test PKI, an embedded
//! broker and one emulated board, not yet provisioned.

use harness::board::emulated::{EmulatedBoard, EmulatedOptions};
use harness::broker::Broker;
use harness::broker::embedded::{EmbeddedBroker, EmbeddedOptions};
use harness::clock::RigClock;
use harness::pki::TestPki;
use harness::rig::AccessPoint;
use harness::timeline::{Entry, Timeline, What};
use std::sync::Arc;
use std::time::Duration;

pub const ENDPOINT: &str = "broker.hil.test";
pub const WAIT: Duration = Duration::from_secs(30);

pub struct World {
    pub timeline: Arc<Timeline>,
    pub live: tokio::sync::broadcast::Receiver<Entry>,
    pub pki: Arc<TestPki>,
    pub broker: EmbeddedBroker,
    pub board: EmulatedBoard,
    pub ap: AccessPoint,
    _pki_dir: tempfile::TempDir,
}

/// Starts the world with the board and the broker at `speed`, in range of `ap`.
pub async fn start(speed: f64, ap: AccessPoint) -> World {
    let timeline = Timeline::with_clock(RigClock::new(speed).unwrap());
    let live = timeline.subscribe();
    let pki_dir = tempfile::tempdir().unwrap();
    let names = [ENDPOINT, "localhost", "127.0.0.1"];
    let pki = Arc::new(TestPki::open(pki_dir.path(), &names, false).unwrap());
    let listen = "127.0.0.1:0".parse().unwrap();
    let options = EmbeddedOptions::new(ENDPOINT, listen);
    let broker = EmbeddedBroker::start(&options, pki.clone(), timeline.clone())
        .await
        .unwrap();
    let options = EmulatedOptions {
        access_points: vec![ap.clone()],
        hosts: vec![(ENDPOINT.to_owned(), broker.address())],
        ..EmulatedOptions::default()
    };
    let board = EmulatedBoard::start("dut", &options, timeline.clone())
        .await
        .unwrap();
    World {
        timeline,
        live,
        pki,
        broker,
        board,
        ap,
        _pki_dir: pki_dir,
    }
}

/// Waits for a broker event on the timeline that satisfies `pred`.
pub async fn broker_event(
    live: &mut tokio::sync::broadcast::Receiver<Entry>,
    what: &str,
    mut pred: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let waiting = async {
        loop {
            match live.recv().await {
                Ok(Entry {
                    what: What::Broker { event },
                    ..
                }) if pred(&event) => return event,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("timeline closed: {e}"),
            }
        }
    };
    tokio::time::timeout(WAIT, waiting)
        .await
        .unwrap_or_else(|_| panic!("no broker event: {what} within {WAIT:?}"))
}

/// Has process `pid` exited (gone, or a zombie waiting to be reaped)?
pub fn process_gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.split_whitespace().nth(2) == Some("Z"))
        .unwrap_or(true)
}

/// Waits until process `pid` is gone; panics after `timeout`. Another process's end
/// cannot be awaited, so /proc is looked at every 10 ms.
pub async fn wait_gone(pid: u32, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !process_gone(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pid {pid} still runs after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
