//! The expectation steps on LEDs and messages: `expect_led`, `expect_message` and
//! `expect_no_message`. Their windows and deadlines are board time, on the timeline's
//! clock.

use super::message::{MessageFilter, Source};
use super::world::{Mismatch, World, mismatch};
use crate::board::DEFAULT_SETTLE;
use crate::led::Pattern;
use crate::scenario::{
    ClientName, ExpectLedStep, ExpectMessageStep, ExpectNoMessageStep, Scenario,
};
use std::sync::Arc;
use std::time::Duration;

impl World {
    pub(super) async fn expect_led(&self, s: &ExpectLedStep) -> Result<(), Mismatch> {
        let led = s.led.get().clone();
        let leds = self.board(&s.board).await?.leds().clone();
        if let Some(is) = &s.is {
            let on = is.get() == "on";
            let within = s
                .within
                .as_ref()
                .map_or(Duration::ZERO, Scenario::checked_duration);
            return leds
                .wait_solid(&led, on, DEFAULT_SETTLE, within)
                .await
                .map(drop)
                .map_err(|m| mismatch(m.expected, m.seen));
        }
        let window = s
            .for_
            .as_ref()
            .map_or(Duration::ZERO, Scenario::checked_duration);
        if let Some(holds) = &s.holds {
            return leds
                .wait_held(&led, holds.get() == "on", window)
                .await
                .map_err(|m| mismatch(m.expected, m.seen));
        }
        let Some(blink) = &s.blinking else {
            return Ok(());
        };
        let hz = Scenario::checked_range(&blink.hz);
        let duty = blink.duty.as_ref().map(Scenario::checked_range);
        let expected = match duty {
            Some(duty) => format!("{led} blinking at {hz} Hz with duty {duty} for {window:?}"),
            None => format!("{led} blinking at {hz} Hz for {window:?}"),
        };
        match leds.observe(&led, window).await {
            Pattern::Blinking { hz: f, duty: d }
                if hz.contains(f) && duty.is_none_or(|r| r.contains(d)) =>
            {
                Ok(())
            }
            other => Err(mismatch(expected, other.to_string())),
        }
    }

    pub(super) async fn expect_message(
        &self,
        scenario: &Scenario,
        s: &ExpectMessageStep,
    ) -> Result<(), Mismatch> {
        let topic = s.topic.get().as_str();
        let source = source(s.client.as_ref());
        let within = Scenario::checked_duration(&s.within);
        let wanted = s.count.unwrap_or(1).max(1) as usize;
        let filter = MessageFilter {
            json: s.json.as_ref().map(crate::scenario::json_of),
            regex: match &s.regex {
                Some(r) => Some(
                    regex::Regex::new(r.get())
                        .map_err(|e| mismatch("a valid regex", e.to_string()))?,
                ),
                None => None,
            },
            qos: s.qos.as_ref().map(|q| *q.get()),
            schema: match &s.schema {
                Some(path) => Some((
                    path.get().clone(),
                    Arc::new(
                        scenario
                            .json_schema(path)
                            .map_err(|e| mismatch("a JSON Schema", e.message().to_owned()))?,
                    ),
                )),
                None => None,
            },
            retained: s.retained,
        };
        let description = format!(
            "{wanted} message(s) on {topic} to {} within {within:?}{}",
            source.describe(),
            filter.describe()
        );
        let mut live = self.timeline.subscribe();
        // The payloads on the topic, and what the last one that did not match lacked.
        let mut seen_on_topic: Vec<String> = Vec::new();
        let mut last_unmet: Vec<String> = Vec::new();
        let mut last_match = None;
        let mut count = 0;
        // Entries recorded between subscribing and reading the history arrive twice.
        let mut last_seq = None;
        for entry in self.timeline.entries() {
            last_seq = Some(entry.seq);
            if let Some(message) = source.message(&entry)
                && message.topic == topic
            {
                let unmet = filter.unmet(&message);
                if unmet.is_empty() {
                    count += 1;
                    last_match = Some(message.clone());
                } else {
                    last_unmet = unmet;
                }
                seen_on_topic.push(message.payload);
            }
        }
        let deadline = self.timeline.instant(self.timeline.now() + within);
        // The deadline is checked before each wait: a timeout polls its future first, so
        // entries that never stop coming would otherwise keep the step going.
        while count < wanted && tokio::time::Instant::now() < deadline {
            match tokio::time::timeout_at(deadline, live.recv()).await {
                Ok(Ok(entry)) if last_seq.is_some_and(|last| entry.seq <= last) => {}
                Ok(Ok(entry)) => {
                    if let Some(message) = source.message(&entry)
                        && message.topic == topic
                    {
                        let unmet = filter.unmet(&message);
                        if unmet.is_empty() {
                            count += 1;
                            last_match = Some(message.clone());
                        } else {
                            last_unmet = unmet;
                        }
                        seen_on_topic.push(message.payload);
                    }
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                _ => break,
            }
        }
        if count >= wanted {
            if let Some(message) = last_match {
                self.note_match(count, &message, &source.describe());
            }
            return Ok(());
        }
        let seen = if seen_on_topic.is_empty() {
            let recent: Vec<String> = self
                .timeline
                .entries()
                .iter()
                .filter_map(|entry| source.message(entry))
                .map(|m| m.topic)
                .rev()
                .take(5)
                .collect();
            format!(
                "no message on {topic}{}; recent topics: {recent:?}",
                self.denials_on(topic)
            )
        } else {
            let last: Vec<&String> = seen_on_topic.iter().rev().take(3).collect();
            format!(
                "{count} matching of {} on the topic (the last that did not match: {}); last \
                 payloads: {last:?}",
                seen_on_topic.len(),
                last_unmet.join(", ")
            )
        };
        Err(mismatch(description, seen))
    }

    /// Leaves the evidence of a passed `expect_message` on the timeline: how many matched,
    /// and the last one's QoS, retain flag and payload (at most 200 characters).
    fn note_match(&self, count: usize, message: &super::message::Message, to: &str) {
        let flag = |known: Option<bool>, yes: &str, no: &str| match known {
            Some(true) => format!(", {yes}"),
            Some(false) => format!(", {no}"),
            None => String::new(),
        };
        let qos = message
            .qos
            .map(|q| format!(", QoS {q}"))
            .unwrap_or_default();
        let retain = flag(message.retain, "retained", "not retained");
        let mut payload: String = message.payload.chars().take(200).collect();
        if payload.len() < message.payload.len() {
            payload.push('…');
        }
        self.timeline.record(crate::timeline::What::Note {
            text: format!(
                "expect_message: {count} on {} to {to}; the last{qos}{retain}: {payload}",
                message.topic
            ),
            warning: false,
        });
    }

    /// What the broker denied on `topic` (a PUBLISH the policy refused, say), for a report
    /// that saw no message there: `; the broker denied iot:RetainPublish topic/a/b (2x): …`.
    fn denials_on(&self, topic: &str) -> String {
        let resource = format!("topic/{topic}");
        let denied: Vec<(String, String)> = self
            .timeline
            .entries()
            .iter()
            .filter_map(|entry| match &entry.what {
                crate::timeline::What::Broker { event }
                    if event["event"] == "denied"
                        && event["action"]
                            .as_str()
                            .is_some_and(|a| a.ends_with(&resource)) =>
                {
                    Some((
                        event["action"].as_str().unwrap_or("").to_owned(),
                        event["reason"].as_str().unwrap_or("").to_owned(),
                    ))
                }
                _ => None,
            })
            .collect();
        match denied.last() {
            None => String::new(),
            Some((action, reason)) => {
                format!("; the broker denied {action} ({}x): {reason}", denied.len())
            }
        }
    }

    pub(super) async fn expect_no_message(&self, s: &ExpectNoMessageStep) -> Result<(), Mismatch> {
        let topic = s.topic.get().as_str();
        let source = source(s.client.as_ref());
        let window = Scenario::checked_duration(&s.for_);
        let regex = match &s.regex {
            Some(r) => Some(
                regex::Regex::new(r.get()).map_err(|e| mismatch("a valid regex", e.to_string()))?,
            ),
            None => None,
        };
        let mut live = self.timeline.subscribe();
        let watching = async {
            loop {
                match live.recv().await {
                    Ok(entry) => {
                        if let Some(message) = source.message(&entry)
                            && message.topic == topic
                            && regex.as_ref().is_none_or(|r| r.is_match(&message.payload))
                        {
                            return Some(message.payload);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return None,
                }
            }
        };
        match self.timeline.clock().timeout(window, watching).await {
            Ok(Some(payload)) => Err(mismatch(
                format!(
                    "no message on {topic}{} to {} for {window:?}",
                    regex
                        .as_ref()
                        .map(|r| format!(" matching /{r}/"))
                        .unwrap_or_default(),
                    source.describe()
                ),
                format!("a message: {payload}"),
            )),
            _ => Ok(()),
        }
    }
}

fn source(client: Option<&ClientName>) -> Source {
    match client {
        Some(name) => Source::Client(name.get().clone()),
        None => Source::Broker,
    }
}
