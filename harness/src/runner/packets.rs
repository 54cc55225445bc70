//! The `expect_retry` and `expect_packet` steps: a board's MQTT packets, read from the
//! broker's tap on the timeline. The judging is pure ([`retry_verdict`],
//! [`packets_sent`]) over the timeline's entries; the steps wait for new entries until the
//! verdict is in or the deadline passes. A pass leaves a note ([`What::Note`]) with the
//! evidence: the packet ids and times. Times are board time.

use super::world::{Mismatch, World, mismatch};
use crate::scenario::{BoardPacket, ExpectPacketStep, ExpectRetryStep, RetriedPacket, Scenario};
use crate::timeline::{Entry, What};
use serde_json::Value;
use std::time::Duration;

/// What a board's packets say about a retry.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryVerdict {
    /// Resent as wanted: the evidence, for the timeline.
    Pass(String),
    /// Resent wrongly, or the chance to resend is gone: why.
    Fail(String),
    /// Not yet: what was seen so far.
    Pending(String),
}

/// The tap events of `client_id` after `since`, with their board time.
fn events_of<'a>(
    entries: &'a [Entry],
    client_id: &'a str,
    since: Duration,
) -> impl Iterator<Item = (Duration, &'a Value)> + 'a {
    entries.iter().filter_map(move |entry| match &entry.what {
        What::Broker { event } if entry.at > since && event["client_id"] == client_id => {
            Some((entry.at, event))
        }
        _ => None,
    })
}

fn secs(at: Duration) -> String {
    format!("{:.2} s", at.as_secs_f64())
}

/// Judges whether `client_id` resent its first `packet` after `since` that the broker did
/// not acknowledge: the same packet id (and for PUBLISH the same topic, QoS 1 and DUP
/// set) on the same connection. Device Advisor fails a device that disconnects before
/// republishing (MQTT_Publish_Retry_No_Puback) or resends with another packet id.
pub fn retry_verdict(
    entries: &[Entry],
    client_id: &str,
    since: Duration,
    packet: RetriedPacket,
) -> RetryVerdict {
    let (sent, acked, name) = match packet {
        RetriedPacket::Publish => ("publish_in", "puback_out", "PUBLISH"),
        RetriedPacket::Subscribe => ("subscribe", "suback", "SUBSCRIBE"),
    };
    let events: Vec<(Duration, &Value)> = events_of(entries, client_id, since).collect();
    let is_original = |event: &Value| {
        event["event"] == sent
            && match packet {
                RetriedPacket::Publish => event["qos"] == 1 && event["dup"] == false,
                RetriedPacket::Subscribe => true,
            }
    };
    let same = |a: &Value, b: &Value| a["conn"] == b["conn"] && a["pkid"] == b["pkid"];
    // The first original the broker did not acknowledge.
    let Some((index, (at, original))) = events.iter().enumerate().find(|(i, (_, event))| {
        is_original(event)
            && !events[i + 1..]
                .iter()
                .any(|(_, later)| later["event"] == acked && same(later, event))
    }) else {
        return RetryVerdict::Pending(format!(
            "no unacknowledged {name}{} from {client_id} yet",
            if packet == RetriedPacket::Publish {
                " at QoS 1"
            } else {
                ""
            }
        ));
    };
    let pkid = &original["pkid"];
    let first = format!("{name} packet id {pkid} at {}", secs(*at));
    for (later_at, later) in &events[index + 1..] {
        if later["event"] == "closed" && later["conn"] == original["conn"] {
            return RetryVerdict::Fail(format!(
                "{first}: the connection closed at {} before it was resent",
                secs(*later_at)
            ));
        }
        if later["event"] != sent {
            continue;
        }
        let resent = match packet {
            RetriedPacket::Publish => later["topic"] == original["topic"] && later["pkid"] == *pkid,
            RetriedPacket::Subscribe => later["filters"] == original["filters"],
        };
        if !resent {
            continue;
        }
        if later["pkid"] != *pkid {
            return RetryVerdict::Fail(format!(
                "{first}: resent at {} with another packet id, {}",
                secs(*later_at),
                later["pkid"]
            ));
        }
        if packet == RetriedPacket::Publish && later["dup"] != true {
            return RetryVerdict::Fail(format!(
                "{first}: resent at {} without the DUP flag",
                secs(*later_at)
            ));
        }
        let dup = if packet == RetriedPacket::Publish {
            " with DUP set"
        } else {
            ""
        };
        return RetryVerdict::Pass(format!(
            "{first}, not acknowledged, resent at {}{dup}, the same packet id, on the same connection",
            secs(*later_at)
        ));
    }
    RetryVerdict::Pending(format!("{first}, not acknowledged, not resent yet"))
}

/// The times `client_id` sent `packet` since the timeline began.
pub fn packets_sent(entries: &[Entry], client_id: &str, packet: BoardPacket) -> Vec<Duration> {
    events_of(entries, client_id, Duration::ZERO)
        .filter(|(_, event)| event["event"] == packet.tap_event())
        .map(|(at, _)| at)
        .collect()
}

impl World {
    /// Waits for a new timeline entry until `deadline`; false when the deadline passed.
    pub(super) async fn next_entry(
        live: &mut tokio::sync::broadcast::Receiver<Entry>,
        deadline: tokio::time::Instant,
    ) -> bool {
        use tokio::sync::broadcast::error::{RecvError, TryRecvError};
        // Checked first: entries arriving without end (LED edges at a high speed) must not
        // keep a step past its deadline, and a timeout polls its future before its clock.
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        let next = async {
            match live.recv().await {
                Ok(_) | Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => false,
            }
        };
        let came = matches!(tokio::time::timeout_at(deadline, next).await, Ok(true));
        // What else is waiting is taken too: the caller looks at the timeline once for all.
        while came && matches!(live.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
        came
    }

    /// When the step before the one under way started (zero when there is none): the
    /// packets `expect_retry` judges are those after it, so the step before (a `fault`
    /// withholding the acknowledgement, say) and what it set off count.
    pub(super) fn previous_step_started(&self) -> Duration {
        self.timeline
            .entries()
            .iter()
            .rev()
            .filter(|entry| matches!(&entry.what, What::Step { status, .. } if status == "started"))
            .nth(1)
            .map_or(Duration::ZERO, |entry| entry.at)
    }

    pub(super) async fn expect_retry(&self, s: &ExpectRetryStep) -> Result<(), Mismatch> {
        let thing = self.provisioned(&s.board)?.thing;
        let within = Scenario::checked_duration(&s.within);
        let since = self.previous_step_started();
        let deadline = self.timeline.instant(self.timeline.now() + within);
        let mut live = self.timeline.subscribe();
        let (name, how) = match s.packet {
            RetriedPacket::Publish => ("PUBLISH", "with the same packet id and DUP set"),
            RetriedPacket::Subscribe => ("SUBSCRIBE", "with the same packet id"),
        };
        let expected = format!(
            "an unacknowledged {name} from {} resent {how} on the same connection within {within:?}",
            s.board.get()
        );
        loop {
            match retry_verdict(&self.timeline.entries(), &thing, since, s.packet) {
                RetryVerdict::Pass(evidence) => {
                    self.timeline.record(What::Note {
                        text: format!("expect_retry {}: {evidence}", s.board.get()),
                        warning: false,
                    });
                    return Ok(());
                }
                RetryVerdict::Fail(seen) => return Err(mismatch(expected, seen)),
                RetryVerdict::Pending(so_far) => {
                    if !Self::next_entry(&mut live, deadline).await {
                        return Err(mismatch(expected, so_far));
                    }
                }
            }
        }
    }

    pub(super) async fn expect_packet(&self, s: &ExpectPacketStep) -> Result<(), Mismatch> {
        let thing = self.provisioned(&s.board)?.thing;
        let within = Scenario::checked_duration(&s.within);
        let deadline = self.timeline.instant(self.timeline.now() + within);
        let mut live = self.timeline.subscribe();
        let wanted = s.count as usize;
        let name = s.packet.name();
        let expected = format!("{wanted} {name} from {} since the start", s.board.get());
        loop {
            let sent = packets_sent(&self.timeline.entries(), &thing, s.packet);
            let at: Vec<String> = sent.iter().map(|at| secs(*at)).collect();
            let seen = if at.is_empty() {
                format!("no {name}")
            } else {
                format!("{} {name} (at {})", sent.len(), at.join(", "))
            };
            if sent.len() == wanted {
                self.timeline.record(What::Note {
                    text: format!("expect_packet {}: {seen}", s.board.get()),
                    warning: false,
                });
                return Ok(());
            }
            if sent.len() > wanted || !Self::next_entry(&mut live, deadline).await {
                return Err(mismatch(expected, seen));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_its_deadline_no_entry_is_waited_for_even_with_entries_waiting() {
        let timeline = crate::timeline::Timeline::new();
        let mut live = timeline.subscribe();
        let record = || {
            timeline.record(What::Action {
                text: "edge".into(),
            })
        };
        record();
        let soon = tokio::time::Instant::now() + Duration::from_secs(5);
        assert!(World::next_entry(&mut live, soon).await, "an entry came");
        // A backlog that never empties (LED edges at speed 500 behind a slow scan) must not
        // keep a step past its deadline: a timeout polls its future first, so it would.
        for _ in 0..10 {
            record();
        }
        let past = tokio::time::Instant::now();
        assert!(!World::next_entry(&mut live, past).await);
    }
    use serde_json::json;

    fn entry(ms: u64, event: Value) -> Entry {
        Entry {
            seq: ms,
            at: Duration::from_millis(ms),
            wall: Duration::from_millis(ms),
            what: What::Broker { event },
        }
    }

    fn publish(ms: u64, conn: u64, pkid: u16, dup: bool) -> Entry {
        entry(
            ms,
            json!({"event": "publish_in", "conn": conn, "client_id": "dev", "topic": "t",
                   "qos": 1, "dup": dup, "pkid": pkid}),
        )
    }

    fn verdict(entries: &[Entry], packet: RetriedPacket) -> RetryVerdict {
        retry_verdict(entries, "dev", Duration::ZERO, packet)
    }

    #[test]
    fn a_publish_resent_with_dup_and_its_packet_id_on_its_connection_passes() {
        let entries = [publish(1000, 1, 7, false), publish(6000, 1, 7, true)];
        let RetryVerdict::Pass(evidence) = verdict(&entries, RetriedPacket::Publish) else {
            panic!("{:?}", verdict(&entries, RetriedPacket::Publish));
        };
        assert!(evidence.contains("packet id 7 at 1.00 s"), "{evidence}");
        assert!(
            evidence.contains("resent at 6.00 s with DUP set"),
            "{evidence}"
        );
    }

    #[test]
    fn a_resend_without_dup_or_after_a_reconnect_fails() {
        let no_dup = [publish(1000, 1, 7, false), publish(6000, 1, 7, false)];
        assert!(matches!(verdict(&no_dup, RetriedPacket::Publish),
            RetryVerdict::Fail(why) if why.contains("without the DUP flag")));
        let closed = [
            publish(1000, 1, 7, false),
            entry(
                3000,
                json!({"event": "closed", "conn": 1, "client_id": "dev"}),
            ),
            publish(6000, 2, 7, true),
        ];
        assert!(matches!(verdict(&closed, RetriedPacket::Publish),
            RetryVerdict::Fail(why) if why.contains("closed at 3.00 s before it was resent")));
    }

    #[test]
    fn an_acknowledged_publish_is_not_the_one_judged() {
        let entries = [
            publish(1000, 1, 7, false),
            entry(
                1001,
                json!({"event": "puback_out", "conn": 1, "client_id": "dev", "pkid": 7}),
            ),
            publish(2000, 1, 8, false),
        ];
        assert!(matches!(verdict(&entries, RetriedPacket::Publish),
            RetryVerdict::Pending(so_far) if so_far.contains("packet id 8")));
        assert!(matches!(
            verdict(&entries[..2], RetriedPacket::Publish),
            RetryVerdict::Pending(_)
        ));
        // Another client's packets are not the board's.
        assert!(matches!(
            retry_verdict(&entries, "other", Duration::ZERO, RetriedPacket::Publish),
            RetryVerdict::Pending(_)
        ));
    }

    #[test]
    fn a_subscribe_resent_with_another_packet_id_fails() {
        let subscribe = |ms, pkid| {
            entry(
                ms,
                json!({"event": "subscribe", "conn": 1, "client_id": "dev", "pkid": pkid,
                       "filters": [["a/b", 1]]}),
            )
        };
        let same = [subscribe(1000, 1), subscribe(6000, 1)];
        assert!(matches!(
            verdict(&same, RetriedPacket::Subscribe),
            RetryVerdict::Pass(_)
        ));
        let other = [subscribe(1000, 1), subscribe(6000, 2)];
        assert!(matches!(verdict(&other, RetriedPacket::Subscribe),
            RetryVerdict::Fail(why) if why.contains("another packet id, 2")));
    }

    #[test]
    fn packets_are_counted_by_kind_and_client() {
        let entries = [
            entry(1, json!({"event": "subscribe", "client_id": "dev"})),
            entry(2, json!({"event": "subscribe", "client_id": "other"})),
            entry(3, json!({"event": "connect", "client_id": "dev"})),
            entry(4, json!({"event": "subscribe", "client_id": "dev"})),
        ];
        let at = packets_sent(&entries, "dev", BoardPacket::Subscribe);
        assert_eq!(at, [Duration::from_millis(1), Duration::from_millis(4)]);
        assert_eq!(packets_sent(&entries, "dev", BoardPacket::Connect).len(), 1);
    }
}
