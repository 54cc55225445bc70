//! Flashing: writing an ELF with verification, dry-run planning, and progress reporting
//! (probe-rs's events turned into [`FlashProgress`] calls; indicatif bars for the CLI).

use crate::board::FlashProgress;
use probe_rs::Session;
use probe_rs::flashing::{
    DownloadOptions, ElfLoader, ElfOptions, ProgressEvent, ProgressOperation,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

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
    use crate::board::probe::test_helpers::fake_session;

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
