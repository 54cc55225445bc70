//! `hil broker`: the rig's embedded broker on its own, for poking at a board by hand.
//!
//! It opens the rig's test PKI, starts the embedded broker where the rig says (or on
//! `--listen`), registers the signer CA for Just-In-Time Registration (so a board
//! provisioned by `hil` connects and registers), prints how to connect, then prints every
//! broker event until Ctrl-C or SIGTERM.

use crate::bring_up::Stop;
use harness::broker::Broker;
use harness::rig::{BrokerSpec, Rig};
use harness::runner::start_embedded_broker;
use harness::timeline::Timeline;
use miette::{Context, IntoDiagnostic};
use std::io::Write;
use std::net::SocketAddr;

/// Runs the broker until a signal; prints events unless `quiet`.
pub async fn serve(rig: &Rig, listen: Option<SocketAddr>, quiet: bool) -> miette::Result<()> {
    let mut stop = Stop::install()?;
    let timeline = Timeline::new();
    let mut events = timeline.subscribe();
    let (pki, broker) = start_embedded_broker(rig, listen, timeline.clone())
        .await
        .map_err(|e| miette::miette!("{e}"))
        .wrap_err("cannot start the embedded broker")?;
    let zero_touch = match &rig.broker {
        BrokerSpec::Embedded { zero_touch, .. } => *zero_touch,
        _ => None,
    };
    let endpoint = broker.endpoint().to_owned();
    let ca_id = broker
        .prepare_signer(harness::broker::embedded::SignerNeeds::AutoRegistration)
        .into_diagnostic()
        .wrap_err("cannot register the signer CA")?;
    let dir = std::path::absolute(pki.dir()).unwrap_or_else(|_| pki.dir().to_owned());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "embedded broker listening on {}:{} for endpoint {endpoint}",
        broker.address(),
        broker.port()
    );
    let _ = writeln!(
        out,
        "signer CA {ca_id} registered for JITR{}",
        match zero_touch {
            Some(delay) => format!(", activated {delay:?} after registration"),
            None => " (certificates stay PENDING_ACTIVATION)".to_owned(),
        }
    );
    let _ = writeln!(
        out,
        "watch everything:\n  mosquitto_sub -h localhost -p {port} --cafile {ca} --cert {cert} --key {key} -t '#' -v",
        port = broker.port(),
        ca = dir.join("server-ca.pem").display(),
        cert = dir.join("operator.pem").display(),
        key = dir.join("operator.key").display(),
    );
    let _ = writeln!(out, "Ctrl-C stops it");
    let _ = out.flush();
    drop(out);
    loop {
        tokio::select! {
            _ = stop.requested() => break,
            event = events.recv() => match event {
                Ok(entry) if !quiet => println!("{entry}"),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("({n} events not shown: the terminal is slower than the broker)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    drop(broker);
    println!("broker stopped");
    Ok(())
}
