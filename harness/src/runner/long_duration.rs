//! The `long_duration` step: AWS IoT Device Advisor's long-duration suite, run locally on
//! the rig clock. For the step's stretch of board time the board is disrupted every
//! `every`, in turn ([`DISRUPTIONS`]): a server disconnect, withheld PUBACKs, a Wi-Fi loss
//! and withheld CONNACKs. With each one the shadow's desired `toggle` flips, so a QoS 1
//! delta must reach the board (through its persistent session when it is away) and its
//! QoS 1 report must reach the broker. After each, telemetry must resume within
//! `recover`. At the end the board's memory must not have grown (see [`memory_verdict`]).
//! Every disruption leaves a timeline note with what was seen: the evidence a report shows.

use super::world::{Mismatch, World, mismatch};
use crate::scenario::{LongDurationStep, Scenario};
use crate::timeline::{Entry, What};
use mock_broker::{Target, Withhold};
use serde_json::Value;
use std::time::Duration;

/// One way the long-duration step disrupts the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disruption {
    /// The broker drops the connection (a server-initiated disconnect).
    ServerDisconnect,
    /// The broker withholds PUBACK for [`OUTAGE`]: the board's QoS 1 report must be
    /// resent until it is acknowledged.
    WithheldPubacks,
    /// The access point goes away for [`OUTAGE`].
    WifiLoss,
    /// The broker drops the connection and withholds the next three CONNACKs.
    WithheldConnacks,
}

/// The disruptions, in the order they come round.
pub const DISRUPTIONS: [Disruption; 4] = [
    Disruption::ServerDisconnect,
    Disruption::WithheldPubacks,
    Disruption::WifiLoss,
    Disruption::WithheldConnacks,
];

/// How long a withheld-PUBACK or Wi-Fi outage lasts (board time).
pub const OUTAGE: Duration = Duration::from_secs(30);
/// Default time between disruptions (board time).
pub const DEFAULT_EVERY: Duration = Duration::from_secs(600);
/// Default time the board has to stream again after a disruption (board time).
pub const DEFAULT_RECOVER: Duration = Duration::from_secs(120);

impl Disruption {
    /// In words, for notes.
    pub fn describe(self) -> &'static str {
        match self {
            Disruption::ServerDisconnect => "server disconnect",
            Disruption::WithheldPubacks => "PUBACKs withheld for 30 s",
            Disruption::WifiLoss => "Wi-Fi lost for 30 s",
            Disruption::WithheldConnacks => "disconnect and 3 CONNACKs withheld",
        }
    }
}

/// Judges the board's memory: `first` bytes after the first disruption, `last` at the end.
/// Growth up to 10% of `first` and at least 1 MiB is allowed (allocators and caches settle);
/// more fails. `None` when either was not measured (the verdict then says so and passes).
pub fn memory_verdict(first: Option<u64>, last: Option<u64>) -> Result<String, String> {
    const MIB: f64 = 1024.0 * 1024.0;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok("memory not measured on this board".into());
    };
    let allowed = (first / 10).max(1024 * 1024);
    let text = format!(
        "resident memory {:.1} MiB after the first disruption, {:.1} MiB at the end",
        first as f64 / MIB,
        last as f64 / MIB
    );
    if last > first.saturating_add(allowed) {
        Err(format!(
            "{text}: grew by more than {:.1} MiB",
            allowed as f64 / MIB
        ))
    } else {
        Ok(text)
    }
}

/// Is `event` a PUBLISH from `client_id` on `topic` whose payload holds `needle`?
fn publish_from(event: &Value, client_id: &str, topic: &str, needle: Option<&str>) -> bool {
    event["event"] == "publish_in"
        && event["client_id"] == client_id
        && event["topic"] == topic
        && event.get("refused").is_none()
        && needle.is_none_or(|n| event["payload"].as_str().is_some_and(|p| p.contains(n)))
}

impl World {
    /// The board time of the first broker event after `since` that `wanted` accepts,
    /// waiting up to `within` (board time) from now; `None` when none came.
    async fn first_event_after(
        &self,
        since: Duration,
        within: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Option<Duration> {
        use tokio::sync::broadcast::error::RecvError;
        let matches = |entry: &Entry| {
            entry.at > since && matches!(&entry.what, What::Broker { event } if wanted(event))
        };
        let deadline = self.timeline.instant(self.timeline.now() + within);
        // Subscribed before the look back, so nothing falls between the two.
        let mut live = self.timeline.subscribe();
        let mut look_back = true;
        loop {
            if look_back {
                if let Some(entry) = self.timeline.entries().iter().find(|e| matches(e)) {
                    return Some(entry.at);
                }
                look_back = false;
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            match tokio::time::timeout_at(deadline, live.recv()).await {
                Ok(Ok(entry)) if matches(&entry) => return Some(entry.at),
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(_))) => look_back = true,
                Ok(Err(RecvError::Closed)) | Err(_) => return None,
            }
        }
    }

    async fn disrupt(
        &self,
        s: &LongDurationStep,
        thing: &str,
        disruption: Disruption,
        desired: u32,
    ) -> Result<(), Mismatch> {
        let clock = self.timeline.clock();
        let target = Target::Client(thing.to_owned());
        let faults = {
            let broker = self.broker.read().await;
            Self::registry(broker.as_ref(), "disrupt the board")?.faults()
        };
        let publish_desired = async || {
            let topic = format!("$aws/things/{thing}/shadow/update");
            let payload = format!(r#"{{"state":{{"desired":{{"toggle":{desired}}}}}}}"#);
            self.broker
                .read()
                .await
                .publish(&topic, payload.as_bytes(), rumqttc::QoS::AtLeastOnce, false)
                .await
                .map_err(|e| mismatch(format!("a publish on {topic}"), e.to_string()))
        };
        let wifi = async |up: bool| {
            let ssid = self.ap_for(s.board.get())?.ssid;
            let mut board = self.board(&s.board).await?;
            let environment = board.environment().ok_or_else(|| {
                mismatch(
                    "control of the access point",
                    "this board has no environment",
                )
            })?;
            environment
                .set_wifi(&ssid, up)
                .await
                .map_err(|e| mismatch(format!("access point {ssid} up: {up}"), e.to_string()))
        };
        match disruption {
            Disruption::ServerDisconnect => {
                faults.disconnect(thing);
                publish_desired().await?;
            }
            Disruption::WithheldPubacks => {
                faults.withhold(target.clone(), Withhold::Puback);
                publish_desired().await?;
                clock.sleep(OUTAGE).await;
                faults.release(&target, Withhold::Puback);
            }
            Disruption::WifiLoss => {
                wifi(false).await?;
                publish_desired().await?;
                clock.sleep(OUTAGE).await;
                wifi(true).await?;
            }
            Disruption::WithheldConnacks => {
                faults.withhold_connack(target, 3);
                faults.disconnect(thing);
                publish_desired().await?;
            }
        }
        Ok(())
    }

    pub(super) async fn long_duration(&self, s: &LongDurationStep) -> Result<(), Mismatch> {
        let thing = self.provisioned(&s.board)?.thing;
        let total = Scenario::checked_duration(&s.for_);
        let every = s
            .every
            .as_ref()
            .map_or(DEFAULT_EVERY, Scenario::checked_duration);
        let recover = s
            .recover
            .as_ref()
            .map_or(DEFAULT_RECOVER, Scenario::checked_duration);
        let clock = self.timeline.clock();
        let end = self.timeline.now() + total;
        let telemetry = format!("{thing}/sensors");
        let reports = format!("$aws/things/{thing}/shadow/update");
        let mut first_memory = None;
        let mut desired = 0;
        for (round, disruption) in DISRUPTIONS.iter().copied().cycle().enumerate() {
            let left = end.saturating_sub(self.timeline.now());
            if left < every {
                clock.sleep(left).await;
                break;
            }
            clock.sleep(every).await;
            desired = 1 - desired;
            let began = self.timeline.now();
            self.disrupt(s, &thing, disruption, desired).await?;
            let ended = self.timeline.now();
            let what = format!("disruption {} ({})", round + 1, disruption.describe());
            let Some(streaming) = self
                .first_event_after(ended, recover, |e| {
                    publish_from(e, &thing, &telemetry, None)
                })
                .await
            else {
                return Err(mismatch(
                    format!("telemetry again within {recover:?} after {what}"),
                    "none",
                ));
            };
            let needle = format!("\"toggle\":{desired}");
            let Some(reported) = self
                .first_event_after(began, recover, |e| {
                    publish_from(e, &thing, &reports, Some(&needle))
                })
                .await
            else {
                return Err(mismatch(
                    format!(
                        "the desired toggle {desired} (QoS 1) applied and reported after {what}"
                    ),
                    "no report: a QoS 1 message was lost",
                ));
            };
            if round == 0 {
                first_memory = self.board(&s.board).await?.memory_bytes();
            }
            self.timeline.record(What::Note {
                text: format!(
                    "long_duration {}: {what} at {:.1} s: streaming again {:.1} s after it ended, toggle {desired} reported after {:.1} s",
                    s.board.get(),
                    began.as_secs_f64(),
                    streaming.saturating_sub(ended).as_secs_f64(),
                    reported.saturating_sub(began).as_secs_f64(),
                ),
                warning: false,
            });
        }
        let last_memory = self.board(&s.board).await?.memory_bytes();
        match memory_verdict(first_memory, last_memory) {
            Ok(text) => {
                self.timeline.record(What::Note {
                    text: format!("long_duration {}: {text}", s.board.get()),
                    warning: false,
                });
                Ok(())
            }
            Err(seen) => Err(mismatch("memory that does not grow", seen)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_may_settle_but_not_grow() {
        const MIB: u64 = 1024 * 1024;
        assert!(memory_verdict(Some(8 * MIB), Some(8 * MIB + MIB / 2)).is_ok());
        assert!(
            memory_verdict(Some(40 * MIB), Some(43 * MIB)).is_ok(),
            "10% of 40"
        );
        let grown = memory_verdict(Some(8 * MIB), Some(10 * MIB)).unwrap_err();
        assert!(
            grown.contains("8.0 MiB after the first disruption, 10.0 MiB"),
            "{grown}"
        );
        assert_eq!(
            memory_verdict(None, Some(MIB)).unwrap(),
            "memory not measured on this board"
        );
    }

    #[test]
    fn a_report_is_a_publish_from_the_board_holding_the_value() {
        let event = serde_json::json!({"event": "publish_in", "client_id": "dev",
            "topic": "$aws/things/dev/shadow/update",
            "payload": r#"{"state":{"reported":{"toggle":1}}}"#});
        let topic = "$aws/things/dev/shadow/update";
        assert!(publish_from(&event, "dev", topic, Some("\"toggle\":1")));
        assert!(!publish_from(&event, "dev", topic, Some("\"toggle\":0")));
        assert!(!publish_from(&event, "other", topic, None));
        let mut refused = event.clone();
        refused["refused"] = "policy".into();
        assert!(!publish_from(&refused, "dev", topic, None));
    }
}
