//! The verdicts of `hil qualify`, as its reports say them: [`Verdict`] of one case (from
//! the runner's [`Report`], or none for a case not run), and [`Tally`], the counts of a run
//! and its overall verdict. A case passes with warnings when every step passed and a step
//! noted a warning on its timeline ([`Report::passed_with_warnings`]); it is a pass (exit 0)
//! all the same. Rendering them is `markdown`'s and `html`'s.

use harness::runner::{Outcome, Report};

/// What became of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Every step passed, and none warned.
    Pass,
    /// Every step passed; a step noted a warning.
    PassWithWarnings,
    /// A step failed (or the rig could not be set up).
    Fail,
    /// The rig lacks what the case needs: not qualified.
    Skipped,
    /// The run was stopped during the case.
    Interrupted,
    /// The run was stopped before the case started.
    NotRun,
}

impl Verdict {
    /// Every verdict, in the order the reports list them.
    pub const ALL: [Verdict; 6] = [
        Verdict::Pass,
        Verdict::PassWithWarnings,
        Verdict::Fail,
        Verdict::Skipped,
        Verdict::Interrupted,
        Verdict::NotRun,
    ];

    /// The verdict of a case whose report is `report` (`None`: not run).
    pub fn of(report: Option<&Report>) -> Self {
        let Some(report) = report else {
            return Verdict::NotRun;
        };
        match &report.outcome {
            Outcome::Passed if report.passed_with_warnings() => Verdict::PassWithWarnings,
            Outcome::Passed => Verdict::Pass,
            Outcome::Failed(_) => Verdict::Fail,
            Outcome::Skipped(_) => Verdict::Skipped,
            Outcome::Interrupted(_) => Verdict::Interrupted,
        }
    }

    /// The verdict as the reports write it ("Pass with warnings").
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "Pass",
            Verdict::PassWithWarnings => "Pass with warnings",
            Verdict::Fail => "Fail",
            Verdict::Skipped => "Skipped",
            Verdict::Interrupted => "Interrupted",
            Verdict::NotRun => "Not run",
        }
    }

    /// A pass, with warnings or without.
    pub fn passed(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::PassWithWarnings)
    }
}

/// The verdicts of a run's cases, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    counts: [usize; Verdict::ALL.len()],
}

impl Tally {
    /// The tally of `cases` cases whose reports are `reports` (in the same order; the cases
    /// past the reports were not run).
    pub fn of(cases: usize, reports: &[Report]) -> Self {
        let mut tally = Tally::default();
        for index in 0..cases {
            let verdict = Verdict::of(reports.get(index));
            tally.counts[verdict as usize] += 1;
        }
        tally
    }

    /// How many cases got `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.counts[verdict as usize]
    }

    /// The verdicts some case got, with their counts, in [`Verdict::ALL`]'s order.
    pub fn nonzero(&self) -> impl Iterator<Item = (Verdict, usize)> + '_ {
        Verdict::ALL
            .into_iter()
            .map(|verdict| (verdict, self.count(verdict)))
            .filter(|(_, count)| *count > 0)
    }

    /// How many cases there are.
    pub fn cases(&self) -> usize {
        self.counts.iter().sum()
    }

    /// How many passed, with warnings or without.
    pub fn passed(&self) -> usize {
        self.count(Verdict::Pass) + self.count(Verdict::PassWithWarnings)
    }

    /// The run's verdict: [`Verdict::Pass`] when every case passed without warnings,
    /// [`Verdict::PassWithWarnings`] when every case passed and one warned, else the first
    /// other verdict in [`Verdict::ALL`]'s order that a case got (a failure before a skip).
    /// A run of no case passes.
    pub fn overall(&self) -> Verdict {
        let not_passed = Verdict::ALL
            .into_iter()
            .find(|verdict| !verdict.passed() && self.count(*verdict) > 0);
        match not_passed {
            Some(verdict) => verdict,
            None if self.count(Verdict::PassWithWarnings) > 0 => Verdict::PassWithWarnings,
            None => Verdict::Pass,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use harness::clock::RigClock;
    use harness::runner::{Failure, Note};
    use harness::scenario::Scenario;
    use std::path::PathBuf;
    use std::time::Duration;

    /// A report of scenario `id` with `outcome` and `notes` (`(text, warning)`), its
    /// timeline under `output`.
    pub(crate) fn report(id: &str, outcome: Outcome, notes: &[(&str, bool)]) -> Report {
        Report {
            id: id.into(),
            name: id.into(),
            outcome,
            duration: Duration::from_secs(1),
            board_time: Duration::from_secs(100),
            clock: RigClock::default(),
            steps: Vec::new(),
            output: PathBuf::from("/nonexistent").join(id),
            notes: notes
                .iter()
                .map(|(text, warning)| Note {
                    text: (*text).into(),
                    warning: *warning,
                    context: Vec::new(),
                })
                .collect(),
        }
    }

    /// A case: scenario `id` (its file `/cases/<id>.toml`) of Device Advisor case `advisor`,
    /// described as `description` (any text without three single quotes in a row).
    pub(crate) fn case(id: &str, advisor: &str, description: &str) -> Scenario {
        let text = format!(
            "name = \"{id}\"\ndescription = '''{description}'''\ndevice_advisor = '''{advisor}'''\n\
             [[step]]\nwait = {{ for = \"1ms\" }}\n"
        );
        let path = PathBuf::from(format!("/cases/{id}.toml"));
        Scenario::parse(&path, &text).expect("a valid case")
    }

    /// A failed outcome: step 2 expected `expected`, saw `seen`.
    pub(crate) fn failed(expected: &str, seen: &str) -> Outcome {
        Outcome::Failed(Box::new(Failure {
            step: 2,
            kind: "expect_message".into(),
            expected: expected.into(),
            seen: seen.into(),
            context: Vec::new(),
        }))
    }

    #[test]
    fn a_warning_makes_a_pass_a_pass_with_warnings_and_nothing_else() {
        let warned = report("a", Outcome::Passed, &[("x: fine", false), ("x: hm", true)]);
        assert_eq!(Verdict::of(Some(&warned)), Verdict::PassWithWarnings);
        let noted = report("b", Outcome::Passed, &[("x: fine", false)]);
        assert_eq!(Verdict::of(Some(&noted)), Verdict::Pass);
        // A failure stays a failure, warnings or not.
        let failed = report("c", failed("e", "s"), &[("x: hm", true)]);
        assert_eq!(Verdict::of(Some(&failed)), Verdict::Fail);
        assert_eq!(Verdict::of(None), Verdict::NotRun);
        assert!(Verdict::PassWithWarnings.passed() && !Verdict::Skipped.passed());
        assert_eq!(Verdict::PassWithWarnings.label(), "Pass with warnings");
    }

    #[test]
    fn the_overall_verdict_is_the_worst_case() {
        let pass = report("a", Outcome::Passed, &[]);
        let warned = report("b", Outcome::Passed, &[("x: hm", true)]);
        let skipped = report("c", Outcome::Skipped("no Wi-Fi".into()), &[]);
        let failed = report("d", failed("e", "s"), &[]);
        assert_eq!(Tally::of(0, &[]).overall(), Verdict::Pass);
        assert_eq!(
            Tally::of(1, std::slice::from_ref(&pass)).overall(),
            Verdict::Pass
        );
        let tally = Tally::of(2, &[pass.clone(), warned.clone()]);
        assert_eq!(tally.overall(), Verdict::PassWithWarnings);
        assert_eq!((tally.passed(), tally.cases()), (2, 2));
        let tally = Tally::of(4, &[pass.clone(), warned, skipped.clone(), failed]);
        assert_eq!(tally.overall(), Verdict::Fail);
        assert_eq!(
            tally.nonzero().collect::<Vec<_>>(),
            vec![
                (Verdict::Pass, 1),
                (Verdict::PassWithWarnings, 1),
                (Verdict::Fail, 1),
                (Verdict::Skipped, 1)
            ]
        );
        assert_eq!(
            Tally::of(2, &[pass.clone(), skipped]).overall(),
            Verdict::Skipped
        );
        // A case past the reports was not run: not qualified.
        assert_eq!(Tally::of(2, &[pass]).overall(), Verdict::NotRun);
    }
}
