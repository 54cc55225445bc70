//! The Device Shadow part of the firmware: the delta topic, reading `toggle` from a delta
//! the way Microchip's firmware does, and reporting it back. Messages on other topics go
//! to the Jobs handler (`jobs.rs`).

use super::output::{LOG_INFO, LOG_WARN};
use super::{Action, Actions, Board, Payload, Qos, Topic, push};
use crate::flaws::Flaw;
use crate::hardware::Hardware;
use crate::led::Led;
use crate::time::Instant;
use core::fmt::Write;

impl Board {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_publish(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &[u8],
        qos: Qos,
        pkid: u16,
        hw: &mut dyn Hardware,
        out: &mut Actions,
    ) {
        if !self.is_connected() {
            return;
        }
        if qos == Qos::AtLeastOnce {
            push(out, Action::MqttPubAck { pkid });
        }
        let thing = self.thing_name(hw);
        if topic != delta_topic(&thing).as_str() {
            return self.on_jobs_message(now, &thing, topic, payload, out);
        }
        let Some(toggle) = find_toggle(payload) else {
            self.log(LOG_WARN, format_args!("shadow: delta without toggle"));
            return;
        };
        self.yellow_held = Some(toggle != 0);
        self.leds.set(Led::Yellow, toggle != 0);
        self.log(LOG_INFO, format_args!("shadow: toggle {toggle}"));
        self.report_toggle(now, &thing, toggle, out);
    }

    /// Reports `toggle` as the shadow's reported state, at QoS 1 (unless
    /// [`Flaw::NoShadowReport`]).
    pub(super) fn report_toggle(
        &mut self,
        now: Instant,
        thing: &str,
        toggle: u32,
        out: &mut Actions,
    ) {
        if self.config.flaws.has(Flaw::NoShadowReport) {
            return;
        }
        let mut topic = Topic::new();
        let _ = write!(topic, "$aws/things/{thing}/shadow/update");
        let mut report = Payload::new();
        let _ = write!(
            report,
            "{{\"state\":{{\"reported\":{{\"toggle\":{toggle}}}}}}}"
        );
        self.publish(now, topic, report, Qos::AtLeastOnce, out);
    }
}

/// The shadow delta topic of `thing`.
pub fn delta_topic(thing: &str) -> Topic {
    let mut topic = Topic::new();
    let _ = write!(topic, "$aws/things/{thing}/shadow/update/delta");
    topic
}

/// Finds `"toggle":` and the number after it, the way Microchip's firmware reads the delta
/// (so the delta must be compact JSON).
pub fn find_toggle(payload: &[u8]) -> Option<u32> {
    const KEY: &[u8] = b"\"toggle\":";
    let start = payload.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    payload[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(None, |acc: Option<u32>, b| {
            Some(
                acc.unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(u32::from(b - b'0')),
            )
        })
}
