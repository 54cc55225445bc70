//! The probe-rs backend: a real board on a debug probe (probe-rs 0.32).
//!
//! - The probe is chosen by `VID:PID[:serial]`; when it is not attached, the error lists
//!   the probes that are.
//! - The chip is attached by name; an unknown name gets an error listing close matches.
//! - Flashing loads an ELF, writes it with verification, reports progress (an indicatif
//!   bar on a terminal), and resets the core. [`plan_flash`] runs the same path as a dry
//!   run, which works without hardware.
//! - LEDs: the output registers named in the rig are read through the probe every poll
//!   period (5 ms by default) and decoded ([`decode_leds`]) into levels; changes become
//!   edges on the timeline.
//! - The console is the board's USB serial port ([`Console`], which reopens it when the
//!   port re-enumerates around a reset).
//!
//! - With `rtt = true`, RTT up-channels are captured into the timeline ([`super::rtt`]).
//!
//! Power cycling needs rig hardware the rig file cannot describe yet, so it is refused.
//! What runs here without hardware is tested against probe-rs's `FakeProbe`; the rest has
//! not run on a board in this project's CI.

use super::{Board, Capabilities, Environment, FlashProgress, LedObserver};
use crate::console::Console;
use crate::errors::BoardError;
use crate::rig::{LedBit, ProbeSelector};
use crate::timeline::Timeline;
use probe_rs::config::Registry;
use probe_rs::flashing::{
    DownloadOptions, ElfLoader, ElfOptions, ProgressEvent, ProgressOperation,
};
use probe_rs::probe::Probe;
use probe_rs::probe::list::Lister;
use probe_rs::{MemoryInterface, Permissions, Session};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to reach a board on a probe.
#[derive(Debug, Clone)]
pub struct ProbeRsOptions {
    /// Chip name.
    pub chip: String,
    /// Which probe.
    pub probe: ProbeSelector,
    /// Firmware ELF.
    pub firmware: PathBuf,
    /// Console port.
    pub serial_port: String,
    /// Console baud rate.
    pub baud: u32,
    /// LED registers.
    pub leds: BTreeMap<String, LedBit>,
    /// LED polling period.
    pub poll: Duration,
    /// Capture RTT up-channels into the timeline.
    pub rtt: bool,
}

/// Opens the probe matching `selector`; the error lists the attached probes.
pub fn select_probe(selector: &ProbeSelector) -> Result<Probe, String> {
    let lister = Lister::new();
    let probes = lister.list_all();
    let wanted = probes.iter().find(|p| {
        p.vendor_id == selector.vid
            && p.product_id == selector.pid
            && selector
                .serial
                .as_ref()
                .is_none_or(|s| p.serial_number.as_deref() == Some(s.as_str()))
    });
    match wanted {
        Some(info) => info
            .open()
            .map_err(|e| format!("cannot open probe {}: {e}", info.identifier)),
        None => {
            let attached: Vec<String> = probes
                .iter()
                .map(|p| {
                    format!(
                        "{:04x}:{:04x}{} ({})",
                        p.vendor_id,
                        p.product_id,
                        p.serial_number
                            .as_deref()
                            .map(|s| format!(":{s}"))
                            .unwrap_or_default(),
                        p.identifier
                    )
                })
                .collect();
            let serial = selector
                .serial
                .as_deref()
                .map(|s| format!(":{s}"))
                .unwrap_or_default();
            Err(format!(
                "no probe {:04x}:{:04x}{serial} is attached; attached: {}",
                selector.vid,
                selector.pid,
                if attached.is_empty() {
                    "none".to_owned()
                } else {
                    attached.join(", ")
                }
            ))
        }
    }
}

/// Chip names close to `name`, best first.
pub fn close_matches(name: &str, candidates: impl IntoIterator<Item = String>) -> Vec<String> {
    let wanted = name.to_ascii_lowercase();
    let mut scored: Vec<(f64, String)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&wanted, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(5).map(|(_, c)| c).collect()
}

/// Checks that probe-rs knows `chip`; the error lists close matches.
pub fn check_chip(chip: &str) -> Result<(), String> {
    let registry = Registry::from_builtin_families();
    if registry.get_target_by_name(chip).is_ok() {
        return Ok(());
    }
    let names = registry
        .families()
        .iter()
        .flat_map(|f| f.variants.iter().map(|v| v.name.to_string()))
        .collect::<Vec<_>>();
    let close = close_matches(chip, names);
    Err(if close.is_empty() {
        format!("probe-rs does not know the chip {chip:?}")
    } else {
        format!(
            "probe-rs does not know the chip {chip:?}; did you mean {}?",
            close.join(", ")
        )
    })
}

/// Attaches `probe` to `chip`.
pub fn attach(probe: Probe, chip: &str) -> Result<Session, String> {
    check_chip(chip)?;
    probe
        .attach(chip, Permissions::default())
        .map_err(|e| format!("cannot attach to {chip}: {e}"))
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

fn operation_name(operation: ProgressOperation) -> &'static str {
    match operation {
        ProgressOperation::Fill => "fill",
        ProgressOperation::Erase => "erase",
        ProgressOperation::Program => "program",
        ProgressOperation::Verify => "verify",
    }
}

/// Turns probe-rs progress events into [`FlashProgress`] calls.
fn progress_adapter<'a>(progress: &'a dyn FlashProgress) -> probe_rs::flashing::FlashProgress<'a> {
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut done: BTreeMap<&'static str, u64> = BTreeMap::new();
    probe_rs::flashing::FlashProgress::new(move |event| match event {
        ProgressEvent::AddProgressBar { operation, total } => {
            totals.insert(operation_name(operation), total.unwrap_or(0));
        }
        ProgressEvent::Progress {
            operation, size, ..
        } => {
            let name = operation_name(operation);
            let sum = done.entry(name).or_default();
            *sum += size;
            progress.progress(name, *sum, totals.get(name).copied().unwrap_or(*sum));
        }
        ProgressEvent::Finished(operation) => {
            let name = operation_name(operation);
            let total = totals.get(name).copied().unwrap_or_default();
            progress.progress(name, total, total);
        }
        // A phase that did not complete (in a dry run: every phase, which is skipped).
        ProgressEvent::Failed(operation) => {
            progress.progress(&format!("{} stopped", operation_name(operation)), 0, 0);
        }
        _ => {}
    })
}

/// Plans writing `blocks` (address, bytes) to flash without touching it (a dry run): the
/// flash algorithm, sectors and pages are worked out, and an address outside the chip's
/// flash is refused. probe-rs reports each skipped phase as stopped.
pub fn plan_flash(
    session: &mut Session,
    blocks: &[(u64, Vec<u8>)],
    progress: &dyn FlashProgress,
) -> Result<(), String> {
    let mut loader = session.target().flash_loader();
    for (address, data) in blocks {
        loader
            .add_data(*address, data)
            .map_err(|e| format!("{address:#x}: {e}"))?;
    }
    let mut options = DownloadOptions::default();
    options.dry_run = true;
    options.progress = progress_adapter(progress);
    loader.commit(session, options).map_err(|e| e.to_string())
}

/// Plans flashing an ELF without touching the chip (a dry run): the image's loadable
/// sections are extracted and placed with the chip's flash algorithm.
pub fn plan_flash_elf(
    session: &mut Session,
    elf: &Path,
    progress: &dyn FlashProgress,
) -> Result<(), String> {
    let loader =
        probe_rs::flashing::build_loader(session, elf, ElfLoader(ElfOptions::default()), None)
            .map_err(|e| format!("loading {}: {e}", elf.display()))?;
    let mut options = DownloadOptions::default();
    options.dry_run = true;
    options.progress = progress_adapter(progress);
    loader.commit(session, options).map_err(|e| e.to_string())
}

/// Writes an ELF to flash with verification, then resets the core.
pub fn flash_elf(
    session: &mut Session,
    elf: &Path,
    erase: bool,
    progress: &dyn FlashProgress,
) -> Result<(), String> {
    let mut options = DownloadOptions::default();
    options.verify = true;
    options.do_chip_erase = erase;
    options.progress = progress_adapter(progress);
    probe_rs::flashing::download_file_with_options(
        session,
        elf,
        ElfLoader(ElfOptions::default()),
        options,
    )
    .map_err(|e| format!("flashing {}: {e}", elf.display()))?;
    session
        .core(0)
        .and_then(|mut core| core.reset())
        .map_err(|e| format!("reset after flashing: {e}"))
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

/// A board on a debug probe.
pub struct ProbeRsBoard {
    name: String,
    options: ProbeRsOptions,
    session: Arc<Mutex<Session>>,
    console: Console,
    leds: LedObserver,
    _poller: LedPoller,
    _rtt: Option<super::rtt::RttCapture>,
}

impl std::fmt::Debug for ProbeRsBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeRsBoard")
            .field("name", &self.name)
            .field("chip", &self.options.chip)
            .finish_non_exhaustive()
    }
}

impl ProbeRsBoard {
    /// Opens the probe, attaches to the chip, opens the console and starts LED polling.
    pub fn attach(
        name: &str,
        options: ProbeRsOptions,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BoardError> {
        let fail = |reason: String| BoardError::Start {
            board: name.to_owned(),
            reason,
        };
        let probe = select_probe(&options.probe).map_err(fail)?;
        let session = Arc::new(Mutex::new(attach(probe, &options.chip).map_err(fail)?));
        let console = Console::open(name, &options.serial_port, options.baud, timeline.clone())
            .map_err(|source| BoardError::Console {
                board: name.to_owned(),
                source,
            })?;
        let names: Vec<&str> = options.leds.keys().map(String::as_str).collect();
        let leds = LedObserver::new(name, timeline.clone(), &names);
        let poller = LedPoller::start(
            session.clone(),
            options.leds.clone(),
            options.poll,
            leds.clone(),
        );
        let rtt = if options.rtt {
            let period = Duration::from_millis(10);
            match super::rtt::RttCapture::start(name, session.clone(), period, timeline.clone()) {
                Ok(capture) => Some(capture),
                Err(reason) => {
                    timeline.record(crate::timeline::What::Action {
                        text: format!("{name}: RTT capture off: {reason}"),
                    });
                    None
                }
            }
        } else {
            None
        };
        Ok(ProbeRsBoard {
            name: name.to_owned(),
            options,
            session,
            console,
            leds,
            _poller: poller,
            _rtt: rtt,
        })
    }

    fn with_session<R>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<R, String>,
    ) -> Result<R, BoardError> {
        let mut session = self.session.lock().map_err(|_| BoardError::Control {
            board: self.name.clone(),
            reason: "the probe session is poisoned".into(),
        })?;
        f(&mut session).map_err(|reason| BoardError::Control {
            board: self.name.clone(),
            reason,
        })
    }
}

#[async_trait::async_trait]
impl Board for ProbeRsBoard {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            power_cycle: false,
            environment: false,
        }
    }

    fn console(&mut self) -> &mut Console {
        &mut self.console
    }

    fn leds(&self) -> &LedObserver {
        &self.leds
    }

    fn environment(&mut self) -> Option<&mut dyn Environment> {
        None
    }

    async fn flash(&mut self, erase: bool, progress: &dyn FlashProgress) -> Result<(), BoardError> {
        let firmware = self.options.firmware.clone();
        // Flashing blocks for seconds; the runtime has other threads for the rest.
        tokio::task::block_in_place(|| {
            self.with_session(|s| flash_elf(s, &firmware, erase, progress))
        })
    }

    async fn erase(&mut self) -> Result<(), BoardError> {
        tokio::task::block_in_place(|| {
            self.with_session(|s| {
                let mut progress = probe_rs::flashing::FlashProgress::empty();
                probe_rs::flashing::erase_all(s, &mut progress, false)
                    .map_err(|e| format!("erase: {e}"))
            })
        })
    }

    async fn reset(&mut self) -> Result<(), BoardError> {
        self.with_session(|s| {
            s.core(0)
                .and_then(|mut core| core.reset())
                .map_err(|e| format!("reset: {e}"))
        })
    }

    async fn power_cycle(&mut self) -> Result<(), BoardError> {
        Err(BoardError::Unsupported {
            board: self.name.clone(),
            operation: "power-cycle (no power control on this rig)",
        })
    }

    async fn shutdown(self: Box<Self>) -> Result<(), BoardError> {
        Ok(())
    }
}

/// Flash progress as indicatif bars, for the command line.
#[derive(Debug, Default)]
pub struct BarProgress {
    bars: Mutex<BTreeMap<String, indicatif::ProgressBar>>,
}

impl FlashProgress for BarProgress {
    fn progress(&self, phase: &str, done: u64, total: u64) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(phase.to_owned()).or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total.max(1));
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix:>8} [{bar:40}] {bytes}/{total_bytes}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(phase.to_owned());
            bar
        });
        bar.set_length(total.max(1));
        bar.set_position(done);
        if done >= total {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_rs::probe::fake_probe::FakeProbe;

    fn fake_session() -> Session {
        let probe = Probe::from_specific_probe(Box::new(FakeProbe::with_mocked_core()));
        attach(probe, "STM32F411RETx").expect("the fake probe attaches")
    }

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
    fn unknown_chips_get_close_matches() {
        let error = check_chip("ATSAMD21G18").unwrap_err();
        assert!(error.contains("ATSAMD21G18A"), "{error}");
        assert!(check_chip("ATSAMD21G18A").is_ok());
        assert!(check_chip("STM32F411RETx").is_ok());
        assert!(
            check_chip("definitely-not-a-chip-zz")
                .unwrap_err()
                .contains("does not know")
        );
    }

    #[test]
    fn a_missing_probe_is_named_with_the_attached_ones() {
        let Err(error) = select_probe(&ProbeSelector {
            vid: 0x03eb,
            pid: 0x2175,
            serial: Some("XYZ".into()),
        }) else {
            panic!("no such probe here")
        };
        assert!(
            error.contains("no probe 03eb:2175:XYZ is attached"),
            "{error}"
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

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, u64, u64)>>);

    impl FlashProgress for Recorder {
        fn progress(&self, phase: &str, done: u64, total: u64) {
            self.0.lock().unwrap().push((phase.to_owned(), done, total));
        }
    }

    #[test]
    fn a_dry_run_plans_the_flash_and_reports_progress() {
        let mut session = fake_session();
        let recorder = Recorder::default();
        let image = vec![0xA5u8; 4096];
        plan_flash(&mut session, &[(0x0800_0000, image)], &recorder).unwrap();
        let phases: Vec<String> = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _, _)| p.clone())
            .collect();
        assert!(phases.contains(&"program stopped".to_owned()), "{phases:?}");
    }

    /// A minimal ARM ELF32 executable: one `.text` section in one loadable segment.
    fn elf32_arm(address: u32, text: &[u8]) -> Vec<u8> {
        let u16le = |v: u16| v.to_le_bytes().to_vec();
        let u32le = |v: u32| v.to_le_bytes().to_vec();
        let text_offset = 52 + 32;
        let len = u32::try_from(text.len()).unwrap();
        let names = b"\0.text\0.shstrtab\0";
        let names_offset = text_offset + len;
        let sections_offset = (names_offset + names.len() as u32).next_multiple_of(4);
        let mut elf = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for part in [
            u16le(2),
            u16le(40),
            u32le(1),
            u32le(address | 1),
            u32le(52),
            u32le(sections_offset),
            u32le(0x0500_0200),
        ] {
            elf.extend(part);
        }
        for part in [
            u16le(52),
            u16le(32),
            u16le(1),
            u16le(40),
            u16le(3),
            u16le(2),
        ] {
            elf.extend(part);
        }
        // PT_LOAD, R+X.
        for v in [1, text_offset, address, address, len, len, 5, 4] {
            elf.extend(u32le(v));
        }
        elf.extend_from_slice(text);
        elf.extend_from_slice(names);
        elf.resize(sections_offset as usize, 0);
        let section = |name, kind, flags, addr, offset, size, align| -> Vec<u8> {
            [name, kind, flags, addr, offset, size, 0, 0, align, 0]
                .iter()
                .flat_map(|v: &u32| v.to_le_bytes())
                .collect()
        };
        elf.extend(section(0, 0, 0, 0, 0, 0, 0));
        elf.extend(section(1, 1, 6, address, text_offset, len, 4));
        elf.extend(section(7, 3, 0, 0, names_offset, names.len() as u32, 1));
        elf
    }

    #[test]
    fn an_elf_image_is_planned_for_the_chips_flash() {
        let dir = tempfile::tempdir().unwrap();
        let elf = dir.path().join("firmware.elf");
        std::fs::write(&elf, elf32_arm(0x0800_0000, &[0x5A; 1024])).unwrap();
        let mut session = fake_session();
        plan_flash_elf(&mut session, &elf, &Recorder::default()).unwrap();
        // An image linked outside the chip's flash is refused.
        let nowhere = dir.path().join("nowhere.elf");
        std::fs::write(&nowhere, elf32_arm(0xE000_0000, &[0x5A; 16])).unwrap();
        assert!(plan_flash_elf(&mut session, &nowhere, &Recorder::default()).is_err());
        let garbage = dir.path().join("garbage.elf");
        std::fs::write(&garbage, b"not an elf").unwrap();
        let error = plan_flash_elf(&mut session, &garbage, &Recorder::default()).unwrap_err();
        assert!(error.contains("garbage.elf"), "{error}");
    }

    #[test]
    fn data_outside_flash_is_refused() {
        let mut session = fake_session();
        let error = plan_flash(
            &mut session,
            &[(0xE000_0000, vec![0; 16])],
            &Recorder::default(),
        )
        .unwrap_err();
        assert!(!error.is_empty());
    }
}
