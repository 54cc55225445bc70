//! `hil leds BOARD`: a live view of a board's LEDs in the terminal.
//!
//! It brings the board up with the rig's broker (provisioning it first with
//! `--provision`), prints one line per LED change with every LED's level, and when it
//! stops (Ctrl-C, SIGTERM or `--for`) what each LED did over the last seconds.

use crate::bring_up::{BroughtUp, Stop};
use harness::led::Pattern;
use harness::provision::ProvisionMode;
use harness::rig::Rig;
use harness::timeline::What;
use std::collections::BTreeMap;
use std::time::Duration;

/// How much of the end of the run the closing summary classifies.
const SUMMARY_WINDOW: Duration = Duration::from_secs(4);

/// What an LED means on the reference board (SAM-IoT WG).
fn meaning(led: &str) -> Option<&'static str> {
    match led {
        "blue" => Some("Wi-Fi"),
        "green" => Some("cloud"),
        "yellow" => Some("data"),
        "red" => Some("error"),
        _ => None,
    }
}

/// One line of the view: the time, then each LED with `●` (lit) or `○` (dark).
pub fn render(at: Duration, order: &[String], levels: &BTreeMap<String, bool>) -> String {
    let mut line = format!("{:>9.3}s ", at.as_secs_f64());
    for led in order {
        let lit = levels.get(led).copied().unwrap_or(false);
        line.push_str(&format!(" {led} {}", if lit { '●' } else { '○' }));
    }
    line
}

/// Watches `board` until a signal or `duration`.
pub async fn watch(
    rig: &Rig,
    board: &str,
    provision: Option<ProvisionMode>,
    duration: Option<Duration>,
) -> miette::Result<()> {
    let mut stop = Stop::install()?;
    let mut up = BroughtUp::start(rig, board).await?;
    let mut events = up.timeline.subscribe();
    let order = up.board.leds().names();
    let legend: Vec<String> = order
        .iter()
        .map(|led| match meaning(led) {
            Some(m) => format!("{led} = {m}"),
            None => led.clone(),
        })
        .collect();
    println!("LEDs of {board} ({}); Ctrl-C stops", legend.join(", "));
    if let Some(mode) = provision {
        match up.provision(rig, mode).await {
            Ok(done) => println!("provisioned: thing {}", done.thing),
            Err(e) => {
                up.shut_down().await;
                return Err(e);
            }
        }
    }
    let mut levels: BTreeMap<String, bool> = order
        .iter()
        .map(|led| (led.clone(), up.board.leds().is_on(led)))
        .collect();
    println!("{}", render(up.timeline.now(), &order, &levels));
    let deadline = duration.map(|d| tokio::time::Instant::now() + d);
    let until_deadline = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);
    loop {
        tokio::select! {
            _ = stop.requested() => break,
            _ = &mut until_deadline => break,
            event = events.recv() => match event {
                Ok(entry) => {
                    if let What::Led { board: b, led, on } = &entry.what
                        && b == board
                        && levels.insert(led.clone(), *on) != Some(*on)
                    {
                        println!("{}", render(entry.at, &order, &levels));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("({n} events not shown: the terminal is slower than the board)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    let now = up.timeline.now();
    let from = now.saturating_sub(SUMMARY_WINDOW);
    println!("over the last {:.1}s:", (now - from).as_secs_f64());
    for led in &order {
        let pattern = up
            .board
            .leds()
            .track(led)
            .map_or(Pattern::Off, |track| track.classify(from, now));
        println!("  {led:<8} {pattern}");
    }
    up.shut_down().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_every_led_in_order() {
        let order = vec!["blue".to_owned(), "green".to_owned(), "red".to_owned()];
        let levels = BTreeMap::from([("blue".to_owned(), true), ("red".to_owned(), false)]);
        assert_eq!(
            render(Duration::from_millis(1500), &order, &levels),
            "    1.500s  blue ● green ○ red ○"
        );
    }
}
