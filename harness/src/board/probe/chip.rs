//! Chips: checking a chip name against probe-rs's targets and attaching a probe to it.

use probe_rs::config::Registry;
use probe_rs::probe::Probe;
use probe_rs::{Permissions, Session};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
