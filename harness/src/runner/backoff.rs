//! The `expect_backoff` step: a board's connection attempts, read from the broker's tap,
//! judged for exponential growth and jitter.

use super::world::{Mismatch, World, mismatch};
use crate::scenario::{ExpectBackoffStep, Scenario};
use crate::timeline::{Entry, What};
use std::time::Duration;

/// Is `entry` a TLS handshake the broker finished (accepted or refused)?
fn is_handshake(entry: &Entry) -> bool {
    matches!(&entry.what, What::Broker { event }
        if matches!(event["event"].as_str(), Some("tls_accepted" | "tls_rejected")))
}

/// One connection attempt on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// When the TLS handshake finished (accepted or refused).
    pub start: Duration,
    /// When the connection closed; `None` while it is open. A refused handshake ends
    /// when it starts.
    pub end: Option<Duration>,
}

/// Judges connection attempts: the delays between one attempt's end and the next one's
/// start (the backoff, without the time an attempt took, e.g. a CONNACK timeout) must
/// grow (the later half longer on average than the earlier half) and carry jitter (not a
/// fixed doubling, not all equal).
pub fn backoff_verdict(attempts: &[Attempt]) -> Result<(), String> {
    let delays: Vec<f64> = attempts
        .windows(2)
        .map(|w| {
            w[1].start
                .saturating_sub(w[0].end.unwrap_or(w[0].start))
                .as_secs_f64()
        })
        .collect();
    let shown = delays
        .iter()
        .map(|d| format!("{d:.2}s"))
        .collect::<Vec<_>>()
        .join(", ");
    if delays.len() < 3 {
        return Err(format!("only {} delays ({shown})", delays.len()));
    }
    let half = delays.len() / 2;
    let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len() as f64;
    let (early, late) = (mean(&delays[..half]), mean(&delays[delays.len() - half..]));
    if late <= early {
        return Err(format!("delays do not grow: {shown}"));
    }
    let ratios: Vec<f64> = delays
        .windows(2)
        .filter(|w| w[0] > 0.0)
        .map(|w| w[1] / w[0])
        .collect();
    let fixed_ratio = ratios
        .windows(2)
        .all(|r| (r[1] - r[0]).abs() <= 0.05 * r[0].abs().max(1e-9));
    if fixed_ratio {
        return Err(format!("delays grow without jitter: {shown}"));
    }
    Ok(())
}

impl World {
    /// Connection attempts (TLS handshakes, accepted or refused) with the board's
    /// certificate after `since`, each with when its connection closed.
    pub(super) fn attempts_of(&self, certificate_id: &str, since: Duration) -> Vec<Attempt> {
        let entries = self.timeline.entries();
        let mut attempts = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let What::Broker { event } = &entry.what else {
                continue;
            };
            if entry.at <= since || event["certificate_id"].as_str() != Some(certificate_id) {
                continue;
            }
            match event["event"].as_str() {
                Some("tls_rejected") => attempts.push(Attempt {
                    start: entry.at,
                    end: Some(entry.at),
                }),
                Some("tls_accepted") => {
                    let conn = &event["conn"];
                    let end = entries[index + 1..]
                        .iter()
                        .find(|later| {
                            matches!(&later.what, What::Broker { event }
                                if event["event"] == "closed" && &event["conn"] == conn)
                        })
                        .map(|later| later.at);
                    attempts.push(Attempt {
                        start: entry.at,
                        end,
                    });
                }
                _ => {}
            }
        }
        attempts
    }

    /// When the board's last accepted connection before `before` was accepted (zero if
    /// none): the attempts after it are the retries of the current outage.
    fn last_connected(&self, thing: &str, before: Duration) -> Duration {
        self.timeline
            .entries()
            .iter()
            .rev()
            .find(|entry| {
                entry.at <= before
                    && matches!(&entry.what, What::Broker { event }
                        if event["event"] == "connack"
                            && event["client_id"] == thing
                            && event["code"] == "Success")
            })
            .map_or(Duration::ZERO, |entry| entry.at)
    }

    pub(super) async fn expect_backoff(&self, s: &ExpectBackoffStep) -> Result<(), Mismatch> {
        let provisioned = self.provisioned(&s.board)?;
        let (id, thing) = (provisioned.certificate_id, provisioned.thing);
        // The retries of the outage under way: the board's connection that succeeded last
        // (before this step) is not one of them, nor is anything before it.
        let since = self.last_connected(&thing, self.timeline.now());
        let wanted = s.attempts as usize;
        let within = Scenario::checked_duration(&s.within);
        let deadline = self.timeline.instant(self.timeline.now() + within);
        let mut live = self.timeline.subscribe();
        loop {
            let attempts = self.attempts_of(&id, since);
            if attempts.len() >= wanted {
                return backoff_verdict(&attempts).map_err(|seen| {
                    mismatch(
                        "connection attempts backing off exponentially with jitter",
                        seen,
                    )
                });
            }
            // Only a new handshake changes the count: wait for one (or for a gap in what
            // was seen) before counting again.
            let handshake = async {
                loop {
                    match live.recv().await {
                        Ok(entry) if is_handshake(&entry) => return true,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return false,
                    }
                }
            };
            match tokio::time::timeout_at(deadline, handshake).await {
                Ok(true) => {}
                _ => {
                    return Err(mismatch(
                        format!("{wanted} connection attempts by {}", s.board.get()),
                        format!(
                            "{} attempts since its last accepted connection",
                            self.attempts_of(&id, since).len()
                        ),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instant attempts (refused handshakes) `list` seconds apart.
    fn secs(list: &[f64]) -> Vec<Attempt> {
        let mut t = 0.0;
        let instant = |t: f64| Attempt {
            start: Duration::from_secs_f64(t),
            end: Some(Duration::from_secs_f64(t)),
        };
        let mut out = vec![instant(0.0)];
        for d in list {
            t += d;
            out.push(instant(t));
        }
        out
    }

    #[test]
    fn the_time_an_attempt_takes_is_not_backoff() {
        // Each attempt waits 10 s for a CONNACK that never comes. Start to start, the
        // attempts are an exact doubling (10.5, 21, 42, 84 s: "without jitter"); the
        // backoff between them (0.5, 11, 32, 74 s) grows with jitter.
        let attempt = |start: f64, end: Option<f64>| Attempt {
            start: Duration::from_secs_f64(start),
            end: end.map(Duration::from_secs_f64),
        };
        let attempts = [
            attempt(0.0, Some(10.0)),
            attempt(10.5, Some(20.5)),
            attempt(31.5, Some(41.5)),
            attempt(73.5, Some(83.5)),
            attempt(157.5, None),
        ];
        assert_eq!(backoff_verdict(&attempts), Ok(()));
        let start_to_start: Vec<Attempt> = attempts
            .iter()
            .map(|a| attempt(a.start.as_secs_f64(), Some(a.start.as_secs_f64())))
            .collect();
        assert!(
            backoff_verdict(&start_to_start)
                .unwrap_err()
                .contains("without jitter")
        );
    }

    #[test]
    fn backoff_verdicts() {
        assert!(
            backoff_verdict(&secs(&[0.4, 1.7, 1.3, 3.3, 6.1])).is_ok(),
            "full jitter"
        );
        assert!(
            backoff_verdict(&secs(&[1.0, 2.0, 4.0, 8.0]))
                .unwrap_err()
                .contains("without jitter")
        );
        assert!(
            backoff_verdict(&secs(&[2.0, 2.1, 1.9, 2.0]))
                .unwrap_err()
                .contains("do not grow")
        );
        assert!(
            backoff_verdict(&secs(&[1.0, 2.0]))
                .unwrap_err()
                .contains("only 2 delays")
        );
    }
}
