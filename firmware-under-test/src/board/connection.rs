//! The connection's life: Wi-Fi, transport, CONNECT and CONNACK, keep-alive, QoS 1 and
//! SUBSCRIBE retries, telemetry, and the backoff between attempts; plus the LED patterns
//! that show where it stands.
//!
//! The board subscribes once per session, with one SUBSCRIBE for all its filters (the
//! shadow delta and the jobs topics): one packet id, one SUBACK, resent whole when the
//! SUBACK does not come. A session the broker resumed (CONNACK's session present) keeps
//! them, so the board does not subscribe again, unless its SUBACK never came.

use super::output::{LOG_INFO, LOG_WARN};
use super::{
    Action, Actions, Board, Filters, Payload, Phase, Qos, Topic, delta_topic, jobs_filters, push,
};
use crate::credentials::ThingName;
use crate::flaws::Flaw;
use crate::hardware::Hardware;
use crate::led::Led;
use crate::telemetry;
use crate::time::{Duration, Instant};
use core::fmt::Write;

/// A QoS 1 message waiting for its PUBACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Inflight {
    pub(super) topic: Topic,
    pub(super) payload: Payload,
    pub(super) pkid: u16,
    pub(super) retain: bool,
    pub(super) sent_at: Instant,
}

impl Inflight {
    /// Sends it again now, with its packet id and DUP (unless [`Flaw::NoDup`]).
    fn resend(&mut self, now: Instant, flaws: crate::flaws::Flaws, out: &mut Actions) {
        self.sent_at = now;
        push(
            out,
            Action::MqttPublish {
                topic: self.topic.clone(),
                payload: self.payload.clone(),
                qos: Qos::AtLeastOnce,
                pkid: self.pkid,
                dup: !flaws.has(Flaw::NoDup),
                retain: self.retain,
            },
        );
    }
}

/// State of a live MQTT connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Session {
    pub(super) since: Instant,
    pub(super) next_telemetry: Instant,
    pub(super) last_sent: Instant,
    /// When the last packet came from the broker.
    pub(super) last_received: Instant,
    pub(super) ping_sent: Option<Instant>,
    pub(super) subscription: Option<(u16, Instant)>,
}

impl Session {
    /// When a PINGREQ is due: a keep-alive after the last packet sent, or after the last
    /// one received, whichever is earlier. A board that streams QoS 0 telemetry sends all
    /// the time but may hear nothing back for ever; pinging on what it hears too is how it
    /// notices a dead connection (Device Advisor's MQTT_No_Ack_PingResp blocks PINGRESP
    /// from a streaming device; coreMQTT fixed the same gap, FreeRTOS/coreMQTT#211).
    pub(super) fn ping_due(&self, keep_alive: Duration) -> Instant {
        self.last_sent.min(self.last_received) + keep_alive
    }
}

/// The next packet id after `last` (1 after 65535: 0 is not a packet id).
fn next_pkid(last: u16) -> u16 {
    last.checked_add(1).unwrap_or(1)
}

/// What the board subscribes to, in one SUBSCRIBE: its shadow delta, then the jobs
/// topics.
fn filters(thing: &str) -> Filters {
    let mut filters = Filters::new();
    let _ = filters.push(delta_topic(thing));
    for filter in jobs_filters(thing) {
        let _ = filters.push(filter);
    }
    filters
}

impl Board {
    pub(super) fn boot(&mut self, now: Instant, hw: &mut dyn Hardware, out: &mut Actions) {
        self.say(format_args!(
            "HIL reference firmware {} (device {})",
            crate::FIRMWARE_VERSION,
            hw.device_serial()
        ));
        self.start(now, out);
        self.end_reply();
    }

    /// Starts connecting if the board has everything it needs.
    pub(super) fn start(&mut self, now: Instant, out: &mut Actions) {
        let missing = self.credentials.missing();
        if !missing.is_empty() {
            self.phase = Phase::Unprovisioned;
            let mut list: heapless::String<64> = heapless::String::new();
            for (i, name) in missing.iter().enumerate() {
                let _ = write!(list, "{}{name}", if i == 0 { "" } else { ", " });
            }
            self.log(LOG_WARN, format_args!("missing credentials: {list}"));
            return;
        }
        self.backoff.reset();
        push(out, Action::JoinWifi);
        self.phase = Phase::JoiningWifi { retry_at: None };
        let _ = now;
    }

    pub(super) fn tick(&mut self, now: Instant, hw: &mut dyn Hardware, out: &mut Actions) {
        match &mut self.phase {
            Phase::JoiningWifi { retry_at } if retry_at.is_some_and(|t| now >= t) => {
                *retry_at = None;
                push(out, Action::JoinWifi);
            }
            Phase::Backoff { until } if now >= *until => {
                self.log(
                    LOG_INFO,
                    format_args!("mqtt: connecting (attempt {})", self.backoff.attempts() + 1),
                );
                push(out, Action::OpenTransport);
                self.phase = Phase::Opening {
                    deadline: now + self.config.open_timeout,
                };
            }
            Phase::Opening { deadline } | Phase::AwaitingConnAck { deadline }
                if now >= *deadline =>
            {
                self.log(LOG_WARN, format_args!("mqtt: connect timed out"));
                self.retry_later(now, true, out);
            }
            Phase::Connected(_) => self.tick_connected(now, hw, out),
            _ => {}
        }
    }

    pub(super) fn tick_connected(
        &mut self,
        now: Instant,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        let config = self.config.clone();
        let thing = self.thing_name(hw);
        let Phase::Connected(s) = &mut self.phase else {
            return;
        };
        if s.ping_sent.is_some_and(|t| now >= t + config.ping_timeout) {
            if config.flaws.has(Flaw::IgnorePingrespLoss) {
                s.ping_sent = None;
            } else {
                self.log(LOG_WARN, format_args!("mqtt: no PINGRESP, disconnecting"));
                self.retry_later(now, true, out);
                return;
            }
        }
        // Resend what was not acknowledged in time, with the same packet id.
        if let Some((_, sent)) = s.subscription
            && now >= sent + config.ack_timeout
            && config.flaws.has(Flaw::NoSubscribeRetry)
        {
            s.subscription = None;
        } else if let Some((pkid, sent)) = s.subscription
            && now >= sent + config.ack_timeout
        {
            s.subscription = Some((pkid, now));
            s.last_sent = now;
            let filters = filters(&thing);
            push(out, Action::MqttSubscribe { filters, pkid });
        }
        for m in self.inflight.iter_mut() {
            if now >= m.sent_at + config.ack_timeout {
                s.last_sent = now;
                m.resend(now, config.flaws, out);
            }
        }
        let telemetry_due = now >= s.next_telemetry;
        if telemetry_due {
            s.next_telemetry = now + config.telemetry_interval;
        }
        if now - s.since >= config.stable_after {
            self.backoff.reset();
        }
        if telemetry_due {
            self.publish_telemetry(now, &thing, hw, out);
        }
        if let Phase::Connected(s) = &mut self.phase
            && s.ping_sent.is_none()
            && now >= s.ping_due(config.keep_alive)
        {
            s.ping_sent = Some(now);
            s.last_sent = now;
            push(out, Action::MqttPing);
        }
    }

    pub(super) fn publish_telemetry(
        &mut self,
        now: Instant,
        thing: &str,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        if self.config.flaws.has(Flaw::NoTelemetry) {
            return;
        }
        let Ok(json) = telemetry::payload(hw.sensors()) else {
            return;
        };
        let mut topic = Topic::new();
        let _ = write!(topic, "{thing}/sensors");
        let payload = Payload::try_from(json.as_str()).unwrap_or_default();
        if self.publish(now, topic, payload, self.config.telemetry_qos, out) {
            self.telemetry_sent = self.telemetry_sent.saturating_add(1);
            if self.yellow_held.is_none() {
                self.leds.pulse(Led::Yellow, now);
            }
        }
    }

    /// Publishes at `qos`, not retained; false when QoS 1 has no room in flight.
    pub(super) fn publish(
        &mut self,
        now: Instant,
        topic: Topic,
        payload: Payload,
        qos: Qos,
        out: &mut Actions,
    ) -> bool {
        self.publish_as(now, topic, payload, (qos, false), out)
    }

    /// Publishes at `qos`, with RETAIN as `retain`; false when QoS 1 has no room in
    /// flight.
    pub(super) fn publish_as(
        &mut self,
        now: Instant,
        topic: Topic,
        payload: Payload,
        (qos, retain): (Qos, bool),
        out: &mut Actions,
    ) -> bool {
        let Phase::Connected(s) = &mut self.phase else {
            return false;
        };
        let pkid = match qos {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => {
                if self.inflight.is_full() {
                    self.log(
                        LOG_WARN,
                        format_args!("mqtt: too many unacknowledged messages"),
                    );
                    return false;
                }
                self.next_pkid = next_pkid(self.next_pkid);
                let pkid = self.next_pkid;
                let _ = self.inflight.push(Inflight {
                    topic: topic.clone(),
                    payload: payload.clone(),
                    pkid,
                    retain,
                    sent_at: now,
                });
                pkid
            }
        };
        s.last_sent = now;
        push(
            out,
            Action::MqttPublish {
                topic,
                payload,
                qos,
                pkid,
                dup: false,
                retain,
            },
        );
        true
    }

    pub(super) fn on_connack(
        &mut self,
        now: Instant,
        accepted: bool,
        session_present: bool,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        if !matches!(self.phase, Phase::AwaitingConnAck { .. }) {
            return;
        }
        if !accepted {
            self.log(LOG_WARN, format_args!("mqtt: connection refused"));
            self.retry_later(now, true, out);
            return;
        }
        let thing = self.thing_name(hw);
        self.log(LOG_INFO, format_args!("mqtt: connected as {thing}"));
        // The subscriptions survive in a resumed session: subscribing again is not needed
        // (Device Advisor's Persistent Session case checks that it is not done). A session
        // the broker did not keep, or one whose SUBACK never came, is subscribed anew.
        let flaws = self.config.flaws;
        let kept = session_present && !flaws.has(Flaw::CleanSessionAlways) && self.subscribed_once;
        let subscribe = if flaws.has(Flaw::NoSubscribe) {
            false
        } else if flaws.has(Flaw::NeverResubscribe) {
            !self.subscribed_once
        } else {
            !kept
        };
        if kept {
            self.log(LOG_INFO, format_args!("mqtt: session resumed"));
        }
        let mut session = Session {
            since: now,
            next_telemetry: now,
            last_sent: now,
            last_received: now,
            ping_sent: None,
            subscription: None,
        };
        if subscribe {
            self.next_pkid = next_pkid(self.next_pkid);
            let pkid = self.next_pkid;
            session.subscription = Some((pkid, now));
            push(
                out,
                Action::MqttSubscribe {
                    filters: filters(&thing),
                    pkid,
                },
            );
        }
        self.phase = Phase::Connected(session);
        // QoS 1 messages not acknowledged on the last connection are resent with their
        // packet ids and DUP (MQTT 3.1.1 4.4: a resumed session must; a new one gets them
        // too, as the application was never told they arrived).
        if !self.inflight.is_empty() {
            let count = self.inflight.len();
            self.log(
                LOG_INFO,
                format_args!("mqtt: resending {count} unacknowledged message(s)"),
            );
        }
        for m in self.inflight.iter_mut() {
            m.resend(now, flaws, out);
        }
        // The first connection after boot reports the state the board starts in (Device
        // Advisor's "Publish reported state on start-up").
        if !self.reported_at_start {
            self.reported_at_start = true;
            let toggle = u32::from(self.yellow_held.unwrap_or(false));
            self.report_toggle(now, &thing, toggle, out);
        }
        self.jobs_connected(now, &thing, out);
        self.tick_connected(now, hw, out);
    }

    /// Closes the connection (when asked) and schedules the next attempt after a jittered
    /// backoff delay.
    pub(super) fn retry_later(&mut self, now: Instant, close: bool, out: &mut Actions) {
        if close {
            push(out, Action::CloseTransport);
        }
        let delay = self.backoff.next_delay();
        self.log(
            LOG_INFO,
            format_args!("mqtt: retrying in {} ms", delay.millis()),
        );
        self.phase = Phase::Backoff { until: now + delay };
    }

    /// The thing name: from the device certificate, or derived from the key before there
    /// is one (the two agree for a certificate issued from the board's CSR).
    pub(super) fn thing_name(&self, hw: &dyn Hardware) -> ThingName {
        self.credentials
            .thing
            .clone()
            .unwrap_or_else(|| hw.key_id())
    }

    /// Sets the LED patterns for the current state and reports level changes.
    pub(super) fn refresh_leds(&mut self, now: Instant, out: &mut Actions) {
        let joining = matches!(self.phase, Phase::JoiningWifi { .. });
        match (self.wifi_up, joining) {
            (true, _) => self.leds.set(Led::Blue, true),
            (false, true) => self.leds.blink(Led::Blue, now),
            (false, false) => self.leds.set(Led::Blue, false),
        }
        match self.phase {
            Phase::Connected(_) => self.leds.set(Led::Green, true),
            Phase::Backoff { .. } | Phase::Opening { .. } | Phase::AwaitingConnAck { .. } => {
                self.leds.blink(Led::Green, now)
            }
            _ => self.leds.set(Led::Green, false),
        }
        let fatal = matches!(self.phase, Phase::Unprovisioned | Phase::Fatal);
        self.leds.set(Led::Red, fatal);
        self.leds
            .update(now, |led, on| push(out, Action::SetLed { led, on }));
    }
}
