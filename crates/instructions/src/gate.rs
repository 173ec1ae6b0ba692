//! Each count against the baseline, classed by the size of its change with
//! `fleetbench compare`'s classes (`report::compare::Thresholds`, 5, 10, 20 %): below 5 % ok,
//! from 5 % minor, from 10 % warning up to and including 20 %, critical above. Only a critical
//! regression, or a benchmark of the baseline that did not run, fails.

use std::collections::{BTreeMap, BTreeSet};

use report::compare::{Class, Thresholds};
use report::{Align, Table};

/// What became of one benchmark's count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Changed by less than the minor threshold, either way (`fleetbench compare`'s noise).
    Ok,
    /// More instructions, by this class (minor, warning or critical).
    Regressed(Class),
    /// Fewer instructions, by this class (minor, warning or critical). Never fails.
    Improved(Class),
    /// Ran, but the baseline has no count for it: nothing to compare until `--update`.
    New,
    /// In the baseline, but did not run (removed, renamed or broken): the gate no longer
    /// guards it, so it fails until the baseline is updated.
    Missing,
}

impl Outcome {
    /// Whether this outcome fails the gate.
    pub fn fails(self) -> bool {
        matches!(self, Outcome::Regressed(Class::Critical) | Outcome::Missing)
    }

    /// The class column: `ok`, `minor`, `warning`, `critical (fails)`, `improved (minor)`,
    /// `new (not in the baseline)`, `missing (fails)`.
    pub fn label(self) -> String {
        match self {
            Outcome::Ok => "ok".to_owned(),
            Outcome::Regressed(Class::Critical) => "critical (fails)".to_owned(),
            Outcome::Regressed(class) => class.as_str().to_owned(),
            Outcome::Improved(class) => format!("improved ({class})"),
            Outcome::New => "new (not in the baseline)".to_owned(),
            Outcome::Missing => "missing (fails)".to_owned(),
        }
    }
}

/// One benchmark compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The benchmark (`function/id`).
    pub name: String,
    /// Its count in the baseline.
    pub base: Option<u64>,
    /// Its count now.
    pub now: Option<u64>,
    /// `(now - base) / base` in percent; `None` unless both counts are there and the base is
    /// above 0.
    pub change_pct: Option<f64>,
    /// What the change amounts to.
    pub outcome: Outcome,
}

/// Every benchmark of the baseline and of the run, by name.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// One row a benchmark, sorted by name.
    pub rows: Vec<Row>,
    /// The class boundaries used.
    pub thresholds: Thresholds,
}

/// Compares the counts of a run with the baseline's.
pub fn compare(
    base: &BTreeMap<String, u64>,
    now: &BTreeMap<String, u64>,
    thresholds: Thresholds,
) -> Comparison {
    let names: BTreeSet<&String> = base.keys().chain(now.keys()).collect();
    let rows = names
        .into_iter()
        .map(|name| {
            row(
                name,
                base.get(name).copied(),
                now.get(name).copied(),
                thresholds,
            )
        })
        .collect();
    Comparison { rows, thresholds }
}

fn row(name: &str, base: Option<u64>, now: Option<u64>, thresholds: Thresholds) -> Row {
    let (change_pct, outcome) = match (base, now) {
        (None, _) => (None, Outcome::New),
        (Some(_), None) => (None, Outcome::Missing),
        (Some(b), Some(n)) if b == n => (Some(0.0), Outcome::Ok),
        // A count of 0 is no benchmark at all; one that appears or vanishes is critical.
        (Some(0), Some(_)) => (None, Outcome::Regressed(Class::Critical)),
        (Some(b), Some(n)) => {
            let pct = (n as f64 - b as f64) / b as f64 * 100.0;
            let outcome = match thresholds.classify(pct) {
                Class::Noise => Outcome::Ok,
                class if n > b => Outcome::Regressed(class),
                class => Outcome::Improved(class),
            };
            (Some(pct), outcome)
        }
    };
    Row {
        name: name.to_owned(),
        base,
        now,
        change_pct,
        outcome,
    }
}

impl Comparison {
    /// Whether any row fails the gate.
    pub fn fails(&self) -> bool {
        self.rows.iter().any(|r| r.outcome.fails())
    }

    /// The table: name, baseline, now, change, class.
    pub fn table(&self) -> String {
        let mut table = Table::new(&[
            ("benchmark", Align::Left),
            ("baseline", Align::Right),
            ("now", Align::Right),
            ("change", Align::Right),
            ("class", Align::Left),
        ]);
        for r in &self.rows {
            table.row(vec![
                r.name.clone(),
                r.base.map_or_else(|| "-".to_owned(), report::count),
                r.now.map_or_else(|| "-".to_owned(), report::count),
                r.change_pct.map_or_else(|| "-".to_owned(), percent),
                r.outcome.label(),
            ]);
        }
        table.plain("  ", true)
    }

    /// The last line: `ok` or `FAIL`, with what failed and how many of each outcome.
    pub fn verdict(&self) -> String {
        let count = |f: fn(&Outcome) -> bool| self.rows.iter().filter(|r| f(&r.outcome)).count();
        let tally = format!(
            "{} benchmarks: {} ok, {} regressed, {} improved, {} new, {} missing",
            self.rows.len(),
            count(|o| *o == Outcome::Ok),
            count(|o| matches!(o, Outcome::Regressed(_))),
            count(|o| matches!(o, Outcome::Improved(_))),
            count(|o| *o == Outcome::New),
            count(|o| *o == Outcome::Missing),
        );
        let failed: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.outcome.fails())
            .map(|r| match r.change_pct {
                Some(p) => format!("{} ({})", r.name, percent(p)),
                None if r.outcome == Outcome::Missing => format!("{} (did not run)", r.name),
                None => format!("{} (from a count of 0)", r.name),
            })
            .collect();
        if failed.is_empty() {
            format!("ok: no critical regression ({tally})")
        } else {
            format!(
                "FAIL: {} ({tally}); fix the regression, or accept it with `--update` and commit the baseline",
                failed.join(", ")
            )
        }
    }
}

/// `+1.23 %`, `-0.50 %`, `0 %`; a change below 0.01 % with four decimals (`+0.0012 %`), so
/// that a count that moved never reads as unchanged.
fn percent(p: f64) -> String {
    if p == 0.0 {
        "0 %".to_owned()
    } else if p.abs() < 0.01 {
        format!("{p:+.4} %")
    } else {
        format!("{p:+.2} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(base: u64, now: u64) -> Row {
        let b = BTreeMap::from([("x".to_owned(), base)]);
        let n = BTreeMap::from([("x".to_owned(), now)]);
        compare(&b, &n, Thresholds::default()).rows.remove(0)
    }

    #[test]
    fn classes_at_exactly_the_thresholds() {
        // From 5 % minor, from 10 % warning, up to and including 20 % warning, above critical:
        // `fleetbench compare`'s classes (docs/ci.md).
        assert_eq!(one(1_000, 1_000).outcome, Outcome::Ok);
        assert_eq!(one(1_000, 1_049).outcome, Outcome::Ok);
        assert_eq!(one(1_000, 1_050).outcome, Outcome::Regressed(Class::Minor));
        assert_eq!(one(1_000, 1_099).outcome, Outcome::Regressed(Class::Minor));
        assert_eq!(
            one(1_000, 1_100).outcome,
            Outcome::Regressed(Class::Warning)
        );
        assert_eq!(
            one(1_000, 1_200).outcome,
            Outcome::Regressed(Class::Warning)
        );
        assert_eq!(
            one(1_000, 1_201).outcome,
            Outcome::Regressed(Class::Critical)
        );
        assert_eq!(one(1_000, 1_050).change_pct, Some(5.0));
        assert!(!one(1_000, 1_200).outcome.fails());
        assert!(one(1_000, 1_201).outcome.fails());
    }

    #[test]
    fn improvements_are_classed_and_never_fail() {
        assert_eq!(one(1_000, 951).outcome, Outcome::Ok);
        assert_eq!(one(1_000, 950).outcome, Outcome::Improved(Class::Minor));
        assert_eq!(one(1_000, 900).outcome, Outcome::Improved(Class::Warning));
        assert_eq!(one(1_000, 500).outcome, Outcome::Improved(Class::Critical));
        assert!(!one(1_000, 500).outcome.fails());
        assert_eq!(one(1_000, 500).change_pct, Some(-50.0));
    }

    #[test]
    fn benchmarks_on_one_side_only() {
        let base = BTreeMap::from([("gone".to_owned(), 10), ("kept".to_owned(), 10)]);
        let now = BTreeMap::from([("kept".to_owned(), 10), ("added".to_owned(), 7)]);
        let c = compare(&base, &now, Thresholds::default());
        let outcome = |name: &str| c.rows.iter().find(|r| r.name == name).unwrap().outcome;
        // Not in the baseline: reported, passes (nothing to compare until `--update`).
        assert_eq!(outcome("added"), Outcome::New);
        assert!(!Outcome::New.fails());
        // In the baseline but not run: the gate lost it, so it fails.
        assert_eq!(outcome("gone"), Outcome::Missing);
        assert!(c.fails());
        assert!(
            c.verdict().starts_with("FAIL: gone (did not run)"),
            "{}",
            c.verdict()
        );
        let names: Vec<&str> = c.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["added", "gone", "kept"]);
    }

    #[test]
    fn a_base_of_zero_is_critical_once_it_moves() {
        assert_eq!(one(0, 0).outcome, Outcome::Ok);
        assert_eq!(one(0, 5).outcome, Outcome::Regressed(Class::Critical));
        assert_eq!(one(0, 5).change_pct, None);
    }

    #[test]
    fn table_and_verdict() {
        let base = BTreeMap::from([("a/x".to_owned(), 1_000_000), ("b/y".to_owned(), 2_000)]);
        let now = BTreeMap::from([("a/x".to_owned(), 1_250_000), ("b/y".to_owned(), 2_000)]);
        let c = compare(&base, &now, Thresholds::default());
        let table = c.table();
        assert!(table.contains("1,250,000"), "{table}");
        assert!(table.contains("+25.00 %"), "{table}");
        assert!(table.contains("critical (fails)"), "{table}");
        assert!(c.fails());
        assert!(
            c.verdict().starts_with("FAIL: a/x (+25.00 %)"),
            "{}",
            c.verdict()
        );
        let same = compare(&base, &base, Thresholds::default());
        assert!(!same.fails());
        assert!(same.verdict().starts_with("ok:"), "{}", same.verdict());
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(25.0), "+25.00 %");
        assert_eq!(percent(-0.5), "-0.50 %");
        assert_eq!(percent(0.0012), "+0.0012 %");
    }
}
