//! Which qualification cases `hil qualify` runs: the scenarios tagged `qualification`
//! under the cases directory, each with a `device_advisor` name, or the one `--case` names.
//! Loading and checking the files is `run_cmd::select`'s; this module only checks that
//! every case has a Device Advisor name, one name per case, and finds `--case`.

use crate::run_cmd::select;
use harness::scenario::Scenario;
use std::path::{Path, PathBuf};

/// The tag every qualification case carries.
pub const TAG: &str = "qualification";

/// The cases under `dir`, sorted by Device Advisor name; with `case`, only the one with
/// that name (compared without regard to case). Invalid input is an error (exit 2): a
/// scenario tagged `qualification` without `device_advisor`, two files for one case, or
/// a `case` that names none of them (the error lists them, with the nearest name).
pub fn cases(dir: &Path, case: Option<&str>, output: &Path) -> miette::Result<Vec<Scenario>> {
    let mut found = select(&[dir.to_owned()], &[TAG.to_owned()], None, output)?.scenarios;
    for scenario in &found {
        if scenario.device_advisor.is_none() {
            miette::bail!(
                help = "add `device_advisor = \"<Device Advisor test case name>\"` to it",
                "{} is tagged {TAG} but names no Device Advisor case",
                scenario.path.display()
            );
        }
    }
    found.sort_by_key(|s| name(s).to_owned());
    if let Some(pair) = found.windows(2).find(|w| name(&w[0]) == name(&w[1])) {
        miette::bail!(
            "{} and {} are both the Device Advisor case {:?}",
            pair[0].path.display(),
            pair[1].path.display(),
            name(&pair[0])
        );
    }
    let Some(wanted) = case else {
        return Ok(found);
    };
    if let Some(index) = found
        .iter()
        .position(|s| name(s).eq_ignore_ascii_case(wanted.trim()))
    {
        return Ok(vec![found.swap_remove(index)]);
    }
    let names: Vec<&str> = found.iter().map(name).collect();
    let nearest = names
        .iter()
        .map(|n| {
            (
                strsim::jaro_winkler(&wanted.to_lowercase(), &n.to_lowercase()),
                *n,
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.7)
        .map_or_else(String::new, |(_, n)| format!("did you mean {n:?}? "));
    miette::bail!(
        help = format!("{nearest}the cases: {}", names.join(", ")),
        "no qualification case is named {wanted:?}"
    )
}

/// A case's Device Advisor name (checked by [`cases`]).
pub fn name(scenario: &Scenario) -> &str {
    scenario.device_advisor.as_deref().unwrap_or_default()
}

/// The default cases directory: `scenarios/qualification/` in the workspace.
pub fn default_dir() -> PathBuf {
    harness::rig::workspace_root()
        .join("scenarios")
        .join("qualification")
}

/// Sets the stretch of every `long_duration` step of `cases` to `duration`: `hil qualify
/// --long-duration`.
pub fn with_long_duration(cases: &mut [Scenario], duration: &str) -> miette::Result<()> {
    for case in cases {
        *case = case.with_long_duration(duration)?;
    }
    Ok(())
}
