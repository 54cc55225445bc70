//! One path for an LED read from a register: [`RegisterReader`] (a debug probe, QEMU's QMP
//! monitor) reads words of the board's memory; [`read_led_registers`] reads each register
//! the rig's LED map names once, [`decode_leds`] turns the words into levels (bit, inverted
//! when active-low), and [`LedPoller`] does both every poll period on a thread, feeding the
//! [`LedObserver`], which turns level changes into edges on the timeline. The poller is
//! the observer's barrier ([`EdgeSync`]): a query waits for a poll that began after it,
//! so a level the board set just before (a shadow toggle's yellow LED) is seen.
//!
//! The backends only say how a word is read: the probe-rs backend through the probe's core
//! (`probe::registers`), the QEMU backend through QMP's `xp` (`qemu::qmp`). Sampling is
//! all a register allows: a level shorter than the poll period may be missed.

use crate::board::{EdgeSync, LedObserver};
use crate::rig::LedBit;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Reads 32-bit words of a board's memory (its LED output registers).
pub trait RegisterReader: Send + 'static {
    /// The word at `address`, or why it could not be read.
    fn read_word(&mut self, address: u32) -> Result<u32, String>;
}

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

/// Reads every register the LEDs live in, each once.
pub fn read_led_registers(
    reader: &mut dyn RegisterReader,
    leds: &BTreeMap<String, LedBit>,
) -> Result<BTreeMap<u32, u32>, String> {
    let mut words = BTreeMap::new();
    for register in leds.values().map(|l| l.register) {
        if let std::collections::btree_map::Entry::Vacant(slot) = words.entry(register) {
            let word = reader
                .read_word(register)
                .map_err(|e| format!("reading {register:#010x}: {e}"))?;
            slot.insert(word);
        }
    }
    Ok(words)
}

/// How long a query waits for the next poll before it decides on what it has.
const POLL_BARRIER_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads every register the LEDs live in, each once, going on past one that fails: the
/// words that were read, and the first failure.
fn read_what_reads(
    reader: &mut dyn RegisterReader,
    leds: &BTreeMap<String, LedBit>,
) -> (BTreeMap<u32, u32>, Option<String>) {
    let mut words = BTreeMap::new();
    let mut error = None;
    let registers: std::collections::BTreeSet<u32> = leds.values().map(|l| l.register).collect();
    for register in registers {
        match reader.read_word(register) {
            Ok(word) => {
                words.insert(register, word);
            }
            Err(e) => {
                error.get_or_insert_with(|| format!("reading {register:#010x}: {e}"));
            }
        }
    }
    (words, error)
}

/// Polls the LED registers on a thread until dropped.
pub struct LedPoller {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    barrier: Arc<PollBarrier>,
}

/// The poller's barrier: how many polls have begun, and (watched) how many have recorded
/// their levels.
#[derive(Debug)]
struct PollBarrier {
    begun: std::sync::atomic::AtomicU64,
    done: tokio::sync::watch::Sender<u64>,
}

#[async_trait::async_trait]
impl EdgeSync for PollBarrier {
    /// Returns once a poll that began after the call has recorded its levels.
    async fn sync(&self) -> Result<(), String> {
        let begun = self.begun.load(Ordering::SeqCst);
        let mut done = self.done.subscribe();
        match tokio::time::timeout(POLL_BARRIER_TIMEOUT, done.wait_for(|d| *d > begun)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err("the LED poller stopped".into()),
            Err(_) => Err(format!("no LED poll within {POLL_BARRIER_TIMEOUT:?}")),
        }
    }
}

impl std::fmt::Debug for LedPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedPoller").finish_non_exhaustive()
    }
}

impl LedPoller {
    /// Starts reading `leds` through `reader` every `period`, feeding `observer`, and makes
    /// itself the observer's barrier. A read that fails keeps the levels as they were (the
    /// board may be resetting).
    pub fn start(
        mut reader: impl RegisterReader,
        leds: BTreeMap<String, LedBit>,
        period: Duration,
        observer: LedObserver,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let barrier = Arc::new(PollBarrier {
            begun: std::sync::atomic::AtomicU64::new(0),
            done: tokio::sync::watch::Sender::new(0),
        });
        observer.set_sync(barrier.clone());
        let polls = barrier.clone();
        let thread = std::thread::Builder::new()
            .name("led-poller".into())
            .spawn(move || {
                let mut failing: Option<String> = None;
                while !flag.load(Ordering::Relaxed) {
                    let poll = polls.begun.fetch_add(1, Ordering::SeqCst) + 1;
                    let (words, error) = read_what_reads(&mut reader, &leds);
                    for (led, on) in decode_leds(&words, &leds) {
                        observer.record(&led, on);
                    }
                    // On the timeline when reads start failing (the LEDs in that register
                    // keep their last level) and when they work again.
                    match (&failing, error) {
                        (None, Some(error)) => {
                            observer.note(format!("{error}; those LEDs keep their last level"));
                            failing = Some(error);
                        }
                        (Some(_), None) => {
                            observer.note("registers read again".to_owned());
                            failing = None;
                        }
                        _ => {}
                    }
                    polls.done.send_replace(poll);
                    // The poll period: a register can only be sampled. Parked, so a drop
                    // wakes the thread at once.
                    std::thread::park_timeout(period);
                }
            })
            .ok();
        LedPoller {
            stop,
            thread,
            barrier,
        }
    }
}

impl Drop for LedPoller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        // No poll will come: a query waiting for one decides on what it has, at once.
        self.barrier.done.send_replace(u64::MAX);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::timeline::{Timeline, What};
    use std::sync::Mutex;

    /// A SAM-IoT WG's four LEDs: PORT A OUT, active low.
    pub(crate) fn sam_iot_leds() -> BTreeMap<String, LedBit> {
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

    /// Memory whose words a test sets, counting reads.
    #[derive(Clone, Default)]
    struct FakeMemory(Arc<Mutex<(BTreeMap<u32, u32>, usize)>>);

    impl RegisterReader for FakeMemory {
        fn read_word(&mut self, address: u32) -> Result<u32, String> {
            let mut memory = self.0.lock().map_err(|e| e.to_string())?;
            memory.1 += 1;
            memory
                .0
                .get(&address)
                .copied()
                .ok_or_else(|| "bus fault".to_owned())
        }
    }

    #[test]
    fn each_register_is_read_once_and_a_failed_read_says_where() {
        let memory = FakeMemory::default();
        memory.0.lock().unwrap().0.insert(0x4100_4410, 0);
        let words = read_led_registers(&mut memory.clone(), &sam_iot_leds()).unwrap();
        assert_eq!(words.len(), 1);
        assert_eq!(memory.0.lock().unwrap().1, 1, "one read for four LEDs");
        let elsewhere = BTreeMap::from([(
            "red".to_owned(),
            LedBit {
                register: 0x4002_f004,
                bit: 3,
                active_low: false,
            },
        )]);
        assert_eq!(
            read_led_registers(&mut memory.clone(), &elsewhere),
            Err("reading 0x4002f004: bus fault".to_owned())
        );
    }

    #[test]
    fn level_changes_become_edges() {
        let memory = FakeMemory::default();
        memory.0.lock().unwrap().0.insert(0x4002_f004, 1 << 3);
        let leds: BTreeMap<String, LedBit> = [("blue", 0), ("red", 3)]
            .into_iter()
            .map(|(name, bit)| {
                let register = 0x4002_f004;
                let led = LedBit {
                    register,
                    bit,
                    active_low: false,
                };
                (name.to_owned(), led)
            })
            .collect();
        let timeline = Timeline::new();
        let observer = LedObserver::new("dut", timeline, &["blue", "red"]);
        let poller = LedPoller::start(
            memory.clone(),
            leds,
            Duration::from_millis(1),
            observer.clone(),
        );
        let wait = |led: &str, on: bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while observer.is_on(led) != on {
                assert!(std::time::Instant::now() < deadline, "{led} never {on}");
                std::thread::yield_now();
            }
        };
        wait("red", true);
        memory.0.lock().unwrap().0.insert(0x4002_f004, 1);
        wait("blue", true);
        wait("red", false);
        drop(poller);
        let red = observer.track("red").unwrap();
        assert_eq!(
            red.edges_in(Duration::ZERO, Duration::MAX).count(),
            2,
            "on, then off: {red:?}"
        );
    }

    #[tokio::test]
    async fn a_query_sees_a_level_set_just_before_it() {
        // Polled every 300 ms: without the barrier the hold would start on the old level
        // (yellow dark) and fail at once, as the shadow toggle's did on QEMU.
        let memory = FakeMemory::default();
        memory.0.lock().unwrap().0.insert(0x4002_f004, 0);
        let leds = BTreeMap::from([(
            "yellow".to_owned(),
            LedBit {
                register: 0x4002_f004,
                bit: 2,
                active_low: false,
            },
        )]);
        let observer = LedObserver::new("dut", Timeline::new(), &["yellow"]);
        let _poller = LedPoller::start(
            memory.clone(),
            leds,
            Duration::from_millis(300),
            observer.clone(),
        );
        observer
            .wait_held("yellow", false, Duration::from_millis(10))
            .await
            .expect("the first poll: yellow dark");
        memory.0.lock().unwrap().0.insert(0x4002_f004, 1 << 2);
        observer
            .wait_held("yellow", true, Duration::from_millis(50))
            .await
            .expect("the query waited for a poll after the level was set");
    }

    #[test]
    fn a_register_that_fails_blanks_only_its_own_leds_and_says_so() {
        let memory = FakeMemory::default();
        memory.0.lock().unwrap().0.insert(0x4002_f004, 1 << 3);
        let leds = BTreeMap::from([
            (
                "red".to_owned(),
                LedBit {
                    register: 0x4002_f004,
                    bit: 3,
                    active_low: false,
                },
            ),
            (
                "yellow".to_owned(),
                LedBit {
                    register: 0x5f00_0000,
                    bit: 0,
                    active_low: false,
                },
            ),
        ]);
        let timeline = Timeline::new();
        let observer = LedObserver::new("dut", timeline.clone(), &["red", "yellow"]);
        let poller = LedPoller::start(
            memory.clone(),
            leds,
            Duration::from_millis(1),
            observer.clone(),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !observer.is_on("red") {
            assert!(std::time::Instant::now() < deadline, "red never read");
            std::thread::yield_now();
        }
        drop(poller);
        let notes: Vec<String> = timeline
            .entries()
            .into_iter()
            .filter_map(|e| match e.what {
                What::Action { text } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(
            notes,
            ["dut leds: reading 0x5f000000: bus fault; those LEDs keep their last level"],
            "said once, not at every poll"
        );
    }
}
