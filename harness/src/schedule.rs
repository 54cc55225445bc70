//! Which scenarios a run takes, and how many of them may run at once.
//!
//! [`Partition`] is one slice `M/N` of a suite, for one machine of a CI matrix. The
//! assignment is nextest's `count:` scheme: the items (scenario files, after any tag
//! filter) are sorted by a key (the file name), and the i-th (from 0) goes to slice
//! `i mod N + 1`. It depends only on the set of keys, not on the order they were given
//! in, so every machine of the matrix computes the same slices, the slices cover every item
//! exactly once, and their sizes differ by at most one. Adding or removing an item can move
//! others to another slice, as with nextest's counted partitions.
//!
//! [`one_at_a_time`] says why a rig cannot run two scenarios at once: a probe-rs board is
//! one physical board, and a broker on a fixed port cannot be started twice. Every other
//! part of a scenario run is its own (broker on a free port, board processes, state
//! directories, timeline), so an emulated rig runs scenarios in parallel.
//!
//! This module only decides; running scenarios is the runner's ([`crate::runner`]) and
//! the CLI's business.

use crate::errors::{PartitionError, PartitionErrorKind};
use crate::rig::{BoardSpec, BrokerSpec, Rig};
use std::str::FromStr;

/// Slice `M` of `N` (`1 ≤ M ≤ N`), written `M/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    slice: usize,
    count: usize,
}

impl Partition {
    /// Slice `slice` (from 1) of `count`; an error unless `1 ≤ slice ≤ count`.
    pub fn new(slice: usize, count: usize) -> Result<Self, PartitionError> {
        Self::check(slice, count).map_err(|kind| PartitionError {
            given: format!("{slice}/{count}"),
            kind,
        })
    }

    fn check(slice: usize, count: usize) -> Result<Self, PartitionErrorKind> {
        if count == 0 {
            return Err(PartitionErrorKind::NoSlices);
        }
        if slice == 0 || slice > count {
            return Err(PartitionErrorKind::NoSuchSlice { slice, count });
        }
        Ok(Partition { slice, count })
    }

    /// `M`: which slice (from 1).
    pub fn slice(&self) -> usize {
        self.slice
    }

    /// `N`: how many slices.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The slice (from 1) that the item at `position` (from 0) in key order goes to.
    pub fn slice_of(&self, position: usize) -> usize {
        position % self.count + 1
    }

    /// The items of this slice, in the order they were given. The items are ranked by
    /// `key` (give every item its own key: items with equal keys are ranked in the order
    /// given, which makes the assignment depend on that order).
    pub fn select<T, K: Ord>(&self, items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
        let mut ranked: Vec<usize> = (0..items.len()).collect();
        ranked.sort_by_key(|&i| key(&items[i]));
        let mut mine = vec![false; items.len()];
        for (position, &index) in ranked.iter().enumerate() {
            mine[index] = self.slice_of(position) == self.slice;
        }
        items
            .into_iter()
            .zip(mine)
            .filter_map(|(item, mine)| mine.then_some(item))
            .collect()
    }
}

impl std::fmt::Display for Partition {
    /// `M/N`, as parsed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.slice, self.count)
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    /// `M/N` with whole numbers (digits only), `1 ≤ M ≤ N`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = || {
            let (slice, count) = text.split_once('/').ok_or(PartitionErrorKind::Form)?;
            let number = |part: &str| {
                // usize::from_str takes a leading `+`; M/N is digits only.
                let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
                digits
                    .then(|| part.parse::<usize>().ok())
                    .flatten()
                    .ok_or_else(|| PartitionErrorKind::Number(part.to_owned()))
            };
            Self::check(number(slice)?, number(count)?)
        };
        parse().map_err(|kind| PartitionError {
            given: text.to_owned(),
            kind,
        })
    }
}

/// Why `rig` runs one scenario at a time whatever the number of jobs asked for, or `None`
/// when its scenarios can run in parallel: a probe-rs board is one physical board, and an
/// embedded broker that listens on a fixed port can be started only once.
pub fn one_at_a_time(rig: &Rig) -> Option<String> {
    if let Some((name, _)) = rig
        .boards
        .iter()
        .find(|(_, spec)| matches!(spec, BoardSpec::ProbeRs { .. }))
    {
        return Some(format!(
            "board {name} is a probe-rs board (one physical board)"
        ));
    }
    match &rig.broker {
        BrokerSpec::Embedded { listen, .. } if listen.port() != 0 => Some(format!(
            "the embedded broker listens on the fixed address {listen}"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files() -> Vec<&'static str> {
        vec![
            "unknown-ca.toml",
            "broker-restart.toml",
            "wifi-loss.toml",
            "jitr-first-connection.toml",
            "console-reset.toml",
            "shadow-toggle.toml",
            "deactivated-ca.toml",
        ]
    }

    fn slice(text: &str, items: Vec<&'static str>) -> Vec<&'static str> {
        text.parse::<Partition>()
            .unwrap()
            .select(items, |name| *name)
    }

    #[test]
    fn the_ith_file_by_name_goes_to_slice_i_mod_n_plus_1_in_the_order_given() {
        // By name: broker-restart, console-reset, deactivated-ca, jitr-first-connection,
        // shadow-toggle, unknown-ca, wifi-loss.
        assert_eq!(
            slice("1/3", files()),
            [
                "broker-restart.toml",
                "wifi-loss.toml",
                "jitr-first-connection.toml"
            ]
        );
        assert_eq!(
            slice("2/3", files()),
            ["console-reset.toml", "shadow-toggle.toml"]
        );
        assert_eq!(
            slice("3/3", files()),
            ["unknown-ca.toml", "deactivated-ca.toml"]
        );
        assert_eq!(slice("1/1", files()), files());
    }

    #[test]
    fn the_assignment_does_not_depend_on_the_order_given() {
        let mut reversed = files();
        reversed.reverse();
        let mut rotated = files();
        rotated.rotate_left(3);
        for text in ["1/2", "2/2", "1/3", "2/3", "3/3", "4/7", "7/7"] {
            let sorted = |mut v: Vec<&'static str>| {
                v.sort_unstable();
                v
            };
            let expected = sorted(slice(text, files()));
            assert_eq!(sorted(slice(text, reversed.clone())), expected, "{text}");
            assert_eq!(sorted(slice(text, rotated.clone())), expected, "{text}");
        }
    }

    #[test]
    fn the_slices_cover_every_file_exactly_once_and_differ_by_at_most_one() {
        for count in 1..=9 {
            let mut seen: Vec<&str> = Vec::new();
            let mut sizes = Vec::new();
            for m in 1..=count {
                let mine = Partition::new(m, count)
                    .unwrap()
                    .select(files(), |name| *name);
                sizes.push(mine.len());
                seen.extend(mine);
            }
            seen.sort_unstable();
            let mut all = files();
            all.sort_unstable();
            assert_eq!(seen, all, "{count} slices");
            let (min, max) = (sizes.iter().min(), sizes.iter().max());
            assert!(max.unwrap() - min.unwrap() <= 1, "{count}: {sizes:?}");
        }
        // More slices than files: the last ones are empty.
        assert_eq!(slice("8/9", files()), Vec::<&str>::new());
        assert_eq!(slice("1/2", Vec::new()), Vec::<&str>::new());
    }

    #[test]
    fn m_over_n_is_parsed_and_printed_back() {
        let partition: Partition = "2/5".parse().unwrap();
        assert_eq!((partition.slice(), partition.count()), (2, 5));
        assert_eq!(partition.to_string(), "2/5");
        assert_eq!(partition.slice_of(0), 1);
        assert_eq!(partition.slice_of(6), 2);
    }

    #[test]
    fn a_bad_partition_names_the_value_and_what_is_wrong() {
        let error = |text: &str| {
            let error = text.parse::<Partition>().unwrap_err();
            assert_eq!(error.to_string(), format!("invalid partition {text:?}"));
            assert_eq!(error.given, text);
            error.kind.to_string()
        };
        assert_eq!(error("3"), "expected M/N, slice M of N slices (e.g. 1/3)");
        assert_eq!(error(""), "expected M/N, slice M of N slices (e.g. 1/3)");
        assert_eq!(error("a/3"), "\"a\" is not a whole number");
        assert_eq!(error("1/3/4"), "\"3/4\" is not a whole number");
        assert_eq!(error("+1/3"), "\"+1\" is not a whole number");
        assert_eq!(error("1/"), "\"\" is not a whole number");
        assert_eq!(error(" 1/3"), "\" 1\" is not a whole number");
        assert_eq!(
            error("1/99999999999999999999999"),
            "\"99999999999999999999999\" is not a whole number"
        );
        assert_eq!(error("1/0"), "there must be at least one slice (N ≥ 1)");
        assert_eq!(error("0/3"), "there is no slice 0; slices are 1 to 3");
        assert_eq!(error("4/3"), "there is no slice 4; slices are 1 to 3");
        assert_eq!(
            Partition::new(5, 2).unwrap_err(),
            PartitionError {
                given: "5/2".into(),
                kind: PartitionErrorKind::NoSuchSlice { slice: 5, count: 2 }
            }
        );
    }

    fn rig(text: &str) -> Rig {
        Rig::parse(Path::new("/rigs/test.toml"), text).unwrap()
    }

    #[test]
    fn an_emulated_rig_on_a_free_port_runs_scenarios_at_once() {
        let emulated =
            rig("[boards.dut]\nkind = \"emulated\"\n[boards.dut2]\nkind = \"emulated\"\n");
        assert_eq!(one_at_a_time(&emulated), None);
        let mosquitto = rig("[broker]\nkind = \"mosquitto\"\n[boards.dut]\nkind = \"emulated\"\n");
        assert_eq!(one_at_a_time(&mosquitto), None);
        let any_port = rig(
            "[broker]\nkind = \"embedded\"\nlisten = \"127.0.0.1:0\"\n[boards.dut]\nkind = \"emulated\"\n",
        );
        assert_eq!(one_at_a_time(&any_port), None);
    }

    #[test]
    fn a_lab_board_or_a_fixed_broker_port_means_one_scenario_at_a_time() {
        let lab = Rig::load(&crate::rig::workspace_root().join("scenarios/rigs/sam-iot-wg.toml"))
            .unwrap();
        assert_eq!(
            one_at_a_time(&lab).as_deref(),
            Some("board dut is a probe-rs board (one physical board)")
        );
        let fixed = rig(
            "[broker]\nkind = \"embedded\"\nlisten = \"0.0.0.0:8883\"\n[boards.dut]\nkind = \"emulated\"\n",
        );
        assert_eq!(
            one_at_a_time(&fixed).as_deref(),
            Some("the embedded broker listens on the fixed address 0.0.0.0:8883")
        );
    }
}
