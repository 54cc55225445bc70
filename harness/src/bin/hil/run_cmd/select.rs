//! Which scenarios `hil run` takes: the files named, and every `*.toml` directly in the
//! directories named (by file name), each file once. Every file is loaded and checked
//! before anything starts, whatever slice it falls in, so an invalid scenario fails every
//! machine of a CI matrix alike. Then the tag filter, then the partition: the slices are cut
//! from what the tags selected (as nextest partitions after its filters), ranked by file
//! name, so every machine that runs the same command with another `M` gets its own share.

use harness::rig::workspace_root;
use harness::scenario::Scenario;
use harness::schedule::Partition;
use miette::{Context, IntoDiagnostic};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The scenarios of a run.
pub struct Selection {
    /// The scenarios to run, in the order given (a directory's in file-name order).
    pub scenarios: Vec<Scenario>,
    /// How many the paths and tags selected, before the partition took its slice.
    pub selected: usize,
}

/// Scenario files under `paths` (default: the workspace's `scenarios/`), each once.
fn scenario_files(paths: &[PathBuf]) -> miette::Result<Vec<PathBuf>> {
    let paths = if paths.is_empty() {
        vec![workspace_root().join("scenarios")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&path)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot list {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path);
        } else {
            miette::bail!(
                "{} is neither a scenario file nor a directory",
                path.display()
            );
        }
    }
    // A file named and also found in a directory named runs once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|file| seen.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.clone())));
    Ok(files)
}

/// Loads the scenarios under `paths`, keeps those with one of `tags` (all when none), and
/// of those, the slice `partition` names. Invalid input is an error (exit 2): a path that
/// is not there, an invalid scenario, two scenarios with one id (their timelines would
/// share `output/<id>`), or nothing selected. An empty slice of a non-empty selection is
/// not an error (a CI matrix may have more machines than scenarios).
pub fn select(
    paths: &[PathBuf],
    tags: &[String],
    partition: Option<Partition>,
    output: &Path,
) -> miette::Result<Selection> {
    let mut scenarios = Vec::new();
    for file in scenario_files(paths)? {
        let scenario = Scenario::load(&file)?;
        if tags.is_empty() || scenario.tags.iter().any(|t| tags.contains(t)) {
            scenarios.push(scenario);
        }
    }
    if scenarios.is_empty() {
        miette::bail!("no scenario to run (check the paths and --tag)");
    }
    let mut ids: BTreeMap<String, &Path> = BTreeMap::new();
    for scenario in &scenarios {
        if let Some(first) = ids.insert(scenario.id(), &scenario.path) {
            miette::bail!(
                help = "rename one of the files (a scenario's id is its file name without .toml)",
                "{} and {} are both scenario {}: their timelines would both go to {}",
                first.display(),
                scenario.path.display(),
                scenario.id(),
                output.join(scenario.id()).display()
            );
        }
    }
    let selected = scenarios.len();
    let scenarios = match partition {
        Some(partition) => partition.select(scenarios, |s| {
            (s.path.file_name().map(ToOwned::to_owned), s.path.clone())
        }),
        None => scenarios,
    };
    Ok(Selection {
        scenarios,
        selected,
    })
}
