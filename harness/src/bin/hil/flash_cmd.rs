//! `hil flash BOARD [ELF]`: writes firmware to a rig's board, with progress bars.
//!
//! A probe-rs board gets the rig's firmware ELF, or the one given, written with
//! verification and then reset. An emulated board runs the host build of the reference
//! firmware, so there is no image to write: flashing power-cycles it, and `--erase` wipes
//! its provisioning like a chip erase would (its flash lives only while `hil` runs it, so
//! on its own this checks that the board comes up).

use crate::bring_up::BroughtUp;
use harness::board::probe::BarProgress;
use harness::rig::{BoardSpec, Rig};
use miette::{Context, IntoDiagnostic};
use std::path::PathBuf;

/// Flashes `board`, with `elf` instead of the rig's firmware when given.
pub async fn flash(
    rig: &Rig,
    board: &str,
    elf: Option<PathBuf>,
    erase: bool,
) -> miette::Result<()> {
    let mut rig = rig.clone();
    let image = match (rig.boards.get_mut(board), elf) {
        (None, _) => {
            let known: Vec<&String> = rig.boards.keys().collect();
            miette::bail!("the rig has no board {board:?} (it has {known:?})");
        }
        (Some(BoardSpec::Emulated { .. }), Some(elf)) => miette::bail!(
            help = format!(
                "run `hil flash {board}` without an ELF (add --erase to wipe its provisioning)"
            ),
            "board {board} is emulated: it runs the host build of the reference firmware, so {} cannot be written to it",
            elf.display()
        ),
        (Some(BoardSpec::Emulated { .. }), None) => None,
        (Some(BoardSpec::ProbeRs { firmware, .. } | BoardSpec::Qemu { firmware, .. }), elf) => {
            if let Some(elf) = elf {
                *firmware = elf;
            }
            std::fs::metadata(&*firmware)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot read firmware {}", firmware.display()))?;
            Some(firmware.clone())
        }
        (Some(other), _) => miette::bail!("hil flash does not know boards like {other:?} yet"),
    };
    let mut up = BroughtUp::start(&rig, board).await?;
    let result = up.board.flash(erase, &BarProgress::default()).await;
    up.shut_down().await;
    result
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot flash {board}"))?;
    match image {
        Some(elf) if matches!(rig.boards.get(board), Some(BoardSpec::Qemu { .. })) => println!(
            "checked {} and booted it on {board} under QEMU; a QEMU board's flash lasts only while hil runs it",
            elf.display()
        ),
        Some(elf) => println!("flashed {board} with {} (verified), reset", elf.display()),
        None => println!(
            "{board} (emulated) power-cycled{}; an emulated board's flash lasts only while hil runs it",
            if erase { " and erased" } else { "" }
        ),
    }
    Ok(())
}
