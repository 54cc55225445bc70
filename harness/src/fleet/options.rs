//! What a fleet run is asked to do ([`FleetOptions`], with the reconnect storm's
//! [`StormOptions`]), the boards it provisioned ([`FleetBoard`]), and how far it got
//! ([`FleetProgress`], [`Stage`]). Plain data; the run is [`Fleet`](super::Fleet)'s.

use crate::provision::ProvisionMode;
use std::path::PathBuf;
use std::time::Duration;

/// How a fleet runs. Durations are board time unless said otherwise.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// How many boards.
    pub boards: usize,
    /// How their certificates get registered (`Jitr`, `Jitp` or `Preregistered`).
    pub mode: ProvisionMode,
    /// The clock's speed; `None`: the rig's.
    pub speed: Option<f64>,
    /// A board without telemetry this long after the power-on command (plus `ramp`) has
    /// failed; the run ends then at the latest.
    pub within: Duration,
    /// Keep the fleet running at least this long after power-on, even once every board
    /// sent telemetry.
    pub run_for: Option<Duration>,
    /// Power-ons spread evenly over this span (0: all at once).
    pub ramp: Duration,
    /// How long a board's Wi-Fi join takes.
    pub join: Duration,
    /// Telemetry period.
    pub telemetry: Duration,
    /// Worker threads of the fleet process's runtime.
    pub threads: u16,
    /// The `fleet-board` program; found (or built) when `None`.
    pub program: Option<PathBuf>,
    /// Flaws every board runs with (`fleet-board --flaw`), e.g. `no-jitter`.
    pub flaws: Vec<String>,
    /// A reconnect storm once every board sent telemetry, if wanted.
    pub storm: Option<StormOptions>,
    /// This run is one slice of a larger fleet against an external endpoint; `boards` is
    /// then the slice's size ([`Partition::slice`]).
    pub partition: Option<Partition>,
}

/// Slice `index` of `count` of a fleet of `fleet_boards` boards (`--partition M/N`): the
/// boards from `first_board` on, numbered in the whole fleet. Each slice runs on its own
/// machine against one external endpoint; together they are the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Partition {
    /// M, from 0.
    pub index: usize,
    /// N.
    pub count: usize,
    /// The whole fleet's size.
    pub fleet_boards: usize,
    /// The slice's first board, in the whole fleet.
    pub first_board: usize,
}

impl Partition {
    /// Slice `M/N` (`text`, e.g. `2/4`) of `fleet_boards`: the boards
    /// `fleet_boards * M / N .. fleet_boards * (M + 1) / N`, so the slices differ by one
    /// board at most. Errors for text that is not `M/N` with `M < N`.
    pub fn parse(text: &str, fleet_boards: usize) -> Result<Partition, String> {
        let wrong = || format!("--partition {text:?}: M/N with 0 <= M < N, e.g. 0/4");
        let (m, n) = text.split_once('/').ok_or_else(wrong)?;
        let index: usize = m.trim().parse().map_err(|_| wrong())?;
        let count: usize = n.trim().parse().map_err(|_| wrong())?;
        if count == 0 || index >= count {
            return Err(wrong());
        }
        if fleet_boards < count {
            return Err(format!(
                "--partition {text:?}: {count} slices of {fleet_boards} board(s) leave a slice \
                 empty; --boards is the whole fleet"
            ));
        }
        Ok(Partition {
            index,
            count,
            fleet_boards,
            first_board: share(fleet_boards, index, count),
        })
    }

    /// How many boards the slice has.
    pub fn slice(&self) -> usize {
        share(self.fleet_boards, self.index + 1, self.count) - self.first_board
    }
}

/// `boards · m / n`, without overflow.
fn share(boards: usize, m: usize, n: usize) -> usize {
    let exact = boards as u128 * m as u128 / n.max(1) as u128;
    usize::try_from(exact).unwrap_or(usize::MAX)
}

/// The reconnect storm: once every board has sent telemetry and has stayed connected
/// `after` (long enough for its backoff to start again from its first delay: the
/// firmware resets it after 30 s), the broker drops every board's connection at once, and
/// each board's way back is measured ([`StormReport`](super::StormReport)). Board time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormOptions {
    /// How long every board stays connected before the drop.
    pub after: Duration,
    /// How long after the drop a board may take to be connected again.
    pub within: Duration,
}

impl Default for StormOptions {
    /// 35 s connected (the firmware's 30 s to reset its backoff, and a margin), 120 s to
    /// come back.
    fn default() -> Self {
        StormOptions {
            after: Duration::from_secs(35),
            within: Duration::from_secs(120),
        }
    }
}

impl FleetOptions {
    /// `boards` boards through JITR at the rig's speed, all powered on at once, the
    /// emulated board's join (1.5 s) and telemetry period (1 s), two minutes to get there,
    /// on two threads.
    pub fn new(boards: usize) -> Self {
        FleetOptions {
            boards,
            mode: ProvisionMode::Jitr,
            speed: None,
            within: Duration::from_secs(120),
            run_for: None,
            ramp: Duration::ZERO,
            join: Duration::from_millis(1500),
            telemetry: Duration::from_secs(1),
            threads: 2,
            program: None,
            flaws: Vec::new(),
            storm: None,
            partition: None,
        }
    }
}

/// Where a run is; see [`FleetProgress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// Starting the broker and the boards.
    #[default]
    Starting,
    /// Signing and delivering certificates.
    Provisioning,
    /// Powered on, waiting for telemetry.
    Running,
    /// Every board's connection dropped at once, waiting for them to be back.
    Storm,
    /// Over.
    Done,
}

/// Counts so far, for a progress display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetProgress {
    /// The stage.
    pub stage: Stage,
    /// Boards in the fleet.
    pub boards: usize,
    /// Boards provisioned (or refused).
    pub provisioned: usize,
    /// Boards with an accepted CONNACK.
    pub connected: usize,
    /// Boards that sent telemetry.
    pub reached_telemetry: usize,
    /// Failed connection attempts so far.
    pub failed_attempts: u64,
    /// Boards back after the storm's drop.
    pub reconnected: usize,
}

/// One provisioned board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetBoard {
    /// Index in the fleet (0..N).
    pub index: usize,
    /// Thing name (client id).
    pub thing: String,
    /// Its certificate's id.
    pub certificate_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_a_slice_of_the_fleet_and_the_slices_cover_it() {
        let slices: Vec<(usize, usize)> = (0..3)
            .map(|m| {
                let p = Partition::parse(&format!("{m}/3"), 1000).unwrap();
                (p.first_board, p.slice())
            })
            .collect();
        assert_eq!(slices, [(0, 333), (333, 333), (666, 334)]);
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            let error = Partition::parse(bad, 10).unwrap_err();
            assert!(error.contains("M/N with 0 <= M < N"), "{bad}: {error}");
        }
        let empty = Partition::parse("1/2", 1).unwrap_err();
        assert!(empty.contains("leave a slice empty"), "{empty}");
        let huge = Partition::parse("2/3", usize::MAX).unwrap();
        assert_eq!(huge.first_board, usize::MAX / 3 * 2);
    }
}
