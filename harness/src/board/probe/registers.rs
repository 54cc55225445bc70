//! LED output registers through the probe: [`SessionReader`] reads words through the
//! chip's core 0 for the shared register-to-edge path in [`crate::board::register_leds`]
//! (decoding, polling and edges live there, shared with the QEMU backend).

use crate::board::register_leds::{self, RegisterReader};
use crate::rig::LedBit;
use probe_rs::{MemoryInterface, Session};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use register_leds::{LedPoller, decode_leds};

/// Reads words through a probe session's core 0.
#[derive(Clone)]
pub struct SessionReader(pub Arc<Mutex<Session>>);

impl std::fmt::Debug for SessionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SessionReader").finish_non_exhaustive()
    }
}

impl RegisterReader for SessionReader {
    fn read_word(&mut self, address: u32) -> Result<u32, String> {
        let mut session = self.0.lock().map_err(|_| "session poisoned".to_owned())?;
        let mut core = session.core(0).map_err(|e| format!("core 0: {e}"))?;
        core.read_word_32(u64::from(address))
            .map_err(|e| e.to_string())
    }
}

/// Reads every register the LEDs live in through `session` (each once).
pub fn read_led_registers(
    session: Arc<Mutex<Session>>,
    leds: &BTreeMap<String, LedBit>,
) -> Result<BTreeMap<u32, u32>, String> {
    register_leds::read_led_registers(&mut SessionReader(session), leds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::probe::test_helpers::fake_session;
    use crate::board::register_leds::tests::sam_iot_leds;
    use crate::timeline::Timeline;
    use std::time::Duration;

    #[test]
    fn the_fake_probe_attaches_and_its_registers_read_as_led_levels() {
        let session = Arc::new(Mutex::new(fake_session()));
        let words = read_led_registers(session, &sam_iot_leds()).unwrap();
        assert_eq!(words.len(), 1, "one register read for four LEDs");
        // The mocked core reads zeros: every active-low LED is lit.
        assert!(decode_leds(&words, &sam_iot_leds()).values().all(|on| *on));
    }

    #[test]
    fn the_led_poller_feeds_the_observer() {
        let session = Arc::new(Mutex::new(fake_session()));
        let observer = crate::board::LedObserver::new(
            "dut",
            Timeline::new(),
            &["blue", "green", "yellow", "red"],
        );
        let poller = LedPoller::start(
            SessionReader(session),
            sam_iot_leds(),
            Duration::from_millis(5),
            observer.clone(),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !observer.is_on("red") {
            assert!(std::time::Instant::now() < deadline, "no LED level arrived");
            std::thread::yield_now();
        }
        drop(poller);
        assert!(observer.is_on("blue"));
    }
}
