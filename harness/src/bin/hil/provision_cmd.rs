//! `hil provision BOARD`: provisions one board against the rig's broker and proves it
//! connects, by waiting for its first telemetry message.

use crate::bring_up::{BroughtUp, Stop};
use harness::provision::ProvisionMode;
use harness::rig::Rig;
use harness::runner::message_of;
use std::time::Duration;

/// Provisions `board` in `mode`; `Ok(true)` when its telemetry arrived within `within`.
pub async fn provision_board(
    rig: &Rig,
    board: &str,
    mode: ProvisionMode,
    within: Duration,
) -> miette::Result<bool> {
    let mut stop = Stop::install()?;
    let mut up = BroughtUp::start(rig, board).await?;
    let done = match up.provision(rig, mode).await {
        Ok(done) => done,
        Err(e) => {
            up.shut_down().await;
            return Err(e);
        }
    };
    println!(
        "{board} provisioned ({})",
        format!("{mode:?}").to_lowercase()
    );
    println!("  thing           {}", done.thing);
    println!("  certificate id  {}", done.certificate_id);
    println!("  signer CA id    {}", done.ca_id);
    let topic = format!("{}/sensors", done.thing);
    let started = up.timeline.now();
    let first = up.timeline.first(within, |entry| {
        message_of(entry).is_some_and(|message| message.topic == topic)
    });
    let seen = tokio::select! {
        _ = stop.requested() => None,
        found = first => found.as_ref().and_then(message_of),
    };
    let ok = match seen {
        Some(message) => {
            println!(
                "first telemetry on {topic} after {:.1}s: {}",
                up.timeline.now().saturating_sub(started).as_secs_f64(),
                message.payload
            );
            true
        }
        None => {
            println!("no telemetry on {topic} within {within:?}; the last broker events:");
            let entries = up.timeline.entries();
            for entry in entries.iter().rev().take(10).rev() {
                println!("  {entry}");
            }
            false
        }
    };
    up.shut_down().await;
    Ok(ok)
}
