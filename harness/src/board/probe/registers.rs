//! LED output registers: reading them through the probe, decoding them into levels, and
//! polling them on a thread ([`LedPoller`]).

use crate::board::LedObserver;
use crate::rig::LedBit;
use probe_rs::{MemoryInterface, Session};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// LED levels from register words: each LED's bit, inverted when active-low.
pub fn decode_leds(
    words: &BTreeMap<u32, u32>,
    leds: &BTreeMap<String, LedBit>,
) -> BTreeMap<String, bool> {
    leds.iter()
        .filter_map(|(name, bit)| {
            let word = words.get(&bit.register)?;
            let set = word & (1 << bit.bit) != 0;
            Some((name.clone(), set != bit.active_low))
        })
        .collect()
}

/// Reads every register the LEDs live in.
pub fn read_led_registers(
    session: &mut Session,
    leds: &BTreeMap<String, LedBit>,
) -> Result<BTreeMap<u32, u32>, String> {
    let mut core = session.core(0).map_err(|e| format!("core 0: {e}"))?;
    let mut words = BTreeMap::new();
    for register in leds.values().map(|l| l.register) {
        if let std::collections::btree_map::Entry::Vacant(slot) = words.entry(register) {
            let word = core
                .read_word_32(u64::from(register))
                .map_err(|e| format!("reading {register:#010x}: {e}"))?;
            slot.insert(word);
        }
    }
    Ok(words)
}

/// Polls the LED registers on a thread until dropped.
pub struct LedPoller {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LedPoller {
    /// Starts polling `leds` through `session` every `period`, feeding `observer`.
    pub fn start(
        session: Arc<Mutex<Session>>,
        leds: BTreeMap<String, LedBit>,
        period: Duration,
        observer: LedObserver,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("led-poller".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let words = session
                        .lock()
                        .map_err(|_| "session poisoned".to_owned())
                        .and_then(|mut s| read_led_registers(&mut s, &leds));
                    if let Ok(words) = words {
                        for (led, on) in decode_leds(&words, &leds) {
                            observer.record(&led, on);
                        }
                    }
                    std::thread::sleep(period);
                }
            })
            .ok();
        LedPoller { stop, thread }
    }
}

impl Drop for LedPoller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::probe::test_helpers::fake_session;
    use crate::timeline::Timeline;

    fn sam_iot_leds() -> BTreeMap<String, LedBit> {
        [("blue", 21), ("green", 20), ("yellow", 11), ("red", 25)]
            .into_iter()
            .map(|(name, bit)| {
                (
                    name.to_owned(),
                    LedBit {
                        register: 0x4100_4410,
                        bit,
                        active_low: true,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn active_low_bits_decode_to_levels() {
        let leds = sam_iot_leds();
        // Blue (21) and red (25) low: lit; green and yellow high: dark.
        let word = (1 << 20) | (1 << 11);
        let levels = decode_leds(&BTreeMap::from([(0x4100_4410, word)]), &leds);
        assert!(levels["blue"]);
        assert!(levels["red"]);
        assert!(!levels["green"]);
        assert!(!levels["yellow"]);
        let active_high = BTreeMap::from([(
            "x".to_owned(),
            LedBit {
                register: 4,
                bit: 0,
                active_low: false,
            },
        )]);
        assert!(decode_leds(&BTreeMap::from([(4, 1)]), &active_high)["x"]);
        assert!(
            decode_leds(&BTreeMap::new(), &active_high).is_empty(),
            "unread registers decode nothing"
        );
    }

    #[test]
    fn the_fake_probe_attaches_and_its_registers_read_as_led_levels() {
        let mut session = fake_session();
        let words = read_led_registers(&mut session, &sam_iot_leds()).unwrap();
        assert_eq!(words.len(), 1, "one register read for four LEDs");
        // The mocked core reads zeros: every active-low LED is lit.
        assert!(decode_leds(&words, &sam_iot_leds()).values().all(|on| *on));
    }

    #[test]
    fn the_led_poller_feeds_the_observer() {
        let session = Arc::new(Mutex::new(fake_session()));
        let observer =
            LedObserver::new("dut", Timeline::new(), &["blue", "green", "yellow", "red"]);
        let poller = LedPoller::start(
            session,
            sam_iot_leds(),
            Duration::from_millis(5),
            observer.clone(),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !observer.is_on("red") {
            assert!(std::time::Instant::now() < deadline, "no LED level arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(poller);
        assert!(observer.is_on("blue"));
    }
}
