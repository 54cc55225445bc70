//! One board of a rig, brought up on its own with the rig's broker, for `hil leds` and
//! `hil provision`; and the Ctrl-C/SIGTERM handling those long-running commands share.

use harness::board::Board;
use harness::broker::Broker;
use harness::pki::TestPki;
use harness::provision::{Delivery, ProvisionMode, Provisioned, provision_by};
use harness::rig::Rig;
use harness::runner::{start_board, start_broker};
use harness::timeline::Timeline;
use miette::{Context, IntoDiagnostic};
use std::sync::Arc;

/// The rig's broker and one of its boards. Dropping it stops both (the emulated board's
/// process is killed); [`BroughtUp::shut_down`] stops them in order.
pub struct BroughtUp {
    /// Everything seen, from the broker's tap and the board.
    pub timeline: Arc<Timeline>,
    /// The rig's PKI.
    pub pki: Arc<TestPki>,
    /// The rig's broker.
    pub broker: Box<dyn Broker>,
    /// The board.
    pub board: Box<dyn Board>,
}

impl BroughtUp {
    /// Starts the rig's broker and the board `name`.
    pub async fn start(rig: &Rig, name: &str) -> miette::Result<Self> {
        let timeline = Timeline::new();
        let (pki, broker) = start_broker(rig, timeline.clone())
            .await
            .map_err(|e| miette::miette!("{e}"))
            .wrap_err("cannot start the rig's broker")?;
        let board = start_board(rig, name, broker.as_ref(), timeline.clone())
            .await
            .map_err(|e| miette::miette!("{e}"))
            .wrap_err_with(|| format!("cannot start board {name}"))?;
        Ok(BroughtUp {
            timeline,
            pki,
            broker,
            board,
        })
    }

    /// Provisions the board against the broker with the rig's access point (by the rig's
    /// provisioning hook for the board, if it has one).
    pub async fn provision(
        &mut self,
        rig: &Rig,
        mode: ProvisionMode,
    ) -> miette::Result<Provisioned> {
        let name = self.board.name().to_owned();
        let ap = rig.access_point(&name).ok_or_else(|| {
            miette::miette!(
                help = "add a [wifi.<name>] table to the rig (or `wifi = \"<name>\"` on the board)",
                "the rig gives board {name} no Wi-Fi access point"
            )
        })?;
        let delivery = Delivery::of(rig.provision_hook(&name), &self.timeline);
        provision_by(
            self.board.as_mut(),
            self.broker.as_ref(),
            &self.pki,
            ap,
            mode,
            delivery,
        )
        .await
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot provision {name}"))
    }

    /// Stops the board, then the broker.
    pub async fn shut_down(self) {
        let _ = self.board.shutdown().await;
        self.broker.shutdown().await;
    }
}

/// Ctrl-C or SIGTERM, installed when created so an early signal is not lost.
pub struct Stop {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Stop {
    /// Installs the handlers.
    pub fn install() -> miette::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind| {
            signal(kind)
                .into_diagnostic()
                .wrap_err("cannot install signal handlers")
        };
        Ok(Stop {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
        })
    }

    /// Resolves when either signal arrives.
    pub async fn requested(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
