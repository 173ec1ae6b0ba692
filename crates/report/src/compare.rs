//! Comparing runs for CI gates (`fleetbench compare`, `docs/ci.md`): reports of a base and a
//! new build, figure by figure, each change classified by its size and its direction.
//!
//! A change's size is its relative change against the base: under the first threshold it is
//! noise, then minor, warning, critical ([`Thresholds`]). A change in the better direction is
//! an improvement and never fails; a regression fails the comparison when its class reaches
//! [`Options::fail_on`]. With several runs a side, each side's median is compared, and a new
//! median within the base runs' own range (min..max) is noise. A base of 0 that stays 0 is
//! noise; a base of 0 that becomes anything else has no relative change and counts as
//! critical.
//!
//! # Layout
//! - `classes`: [`Class`] and the [`Thresholds`] that give a change its class.
//! - `extract`: the compared figures of one report, with their directions: the lists of
//!   `metrics::figures` read from a report's JSON.
//! - `checked`: one JSON value read as the type its figure needs, or a [`BadFigure`].
//! - `row`: one figure compared, a [`Row`] with its [`Trend`].
//! - `render`: a comparison as a terminal table, Markdown or JSON.

mod checked;
mod classes;
mod extract;
mod render;
mod row;

use metrics::Clock;
use serde_json::Value;

pub use checked::BadFigure;
pub use classes::{Class, ParseThresholdsError, Thresholds};
pub use extract::{Better, Metric, Quantity, metrics};
pub use render::{json, markdown, table};
pub use row::{Row, Trend, median};

/// Why reports could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A file is not JSON.
    #[error("{origin}: not JSON; give a report.json written by `fleetbench run --out DIR`")]
    Json {
        /// The file.
        origin: String,
        /// The parse error, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A file is JSON but not a report.
    #[error(
        "{origin}: not a fleetbench report: {problem}; give a report.json written by `fleetbench run --out DIR`"
    )]
    NotAReport {
        /// The file.
        origin: String,
        /// What is missing or wrong.
        problem: String,
    },
    /// A known figure of a report has the wrong type or range.
    #[error(
        "{origin}: `{path}` is {value}, expected {expected}; the report was edited or damaged: \
         write it again with `fleetbench run --out DIR`, or correct or remove that field"
    )]
    BadFigure {
        /// The file.
        origin: String,
        /// The figure's JSON path, like `counters.turns`.
        path: String,
        /// The value found, as JSON.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A side has no report.
    #[error("no {side} report given; give one or more files with --{side}")]
    NoReports {
        /// `base` or `new`.
        side: &'static str,
    },
    /// Two reports come from different scenarios, clocks or numbers of shards.
    #[error(
        "{first} is a run of {field} `{first_value}` but {other} of {field} `{other_value}`: \
         compare runs of the same {field}, or pass --force to compare anyway"
    )]
    Mismatch {
        /// `scenario`, `clock` or `shards`.
        field: &'static str,
        /// The first base report.
        first: String,
        /// Its value.
        first_value: String,
        /// The report that differs.
        other: String,
        /// Its value.
        other_value: String,
    },
}

/// One parsed `report.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    origin: String,
    scenario: String,
    clock: String,
    /// `shards` as text (`1` for reports from before the field).
    shards: String,
    schema_version: u64,
    value: Value,
    /// Every compared figure, `process` included, checked when the report was read.
    figures: Vec<Metric>,
}

impl Report {
    /// Parses a report; `origin` names it in errors (its path). Any report.json version that
    /// has `schema_version`, `scenario`, `clock` and `latency` is accepted; the figures it
    /// lacks (or has as `null`) are left out of the comparison, and a figure of the wrong type
    /// or range is an error naming its JSON path.
    pub fn from_json(text: &str, origin: &str) -> Result<Report, CompareError> {
        let value: Value = serde_json::from_str(text).map_err(|source| CompareError::Json {
            origin: origin.to_owned(),
            source,
        })?;
        let not_a_report = |problem: String| CompareError::NotAReport {
            origin: origin.to_owned(),
            problem,
        };
        if !value.is_object() {
            return Err(not_a_report("the top level is not an object".to_owned()));
        }
        let bad_figure = |bad: BadFigure| CompareError::BadFigure {
            origin: origin.to_owned(),
            path: bad.path,
            value: bad.value,
            expected: bad.expected,
        };
        let text_field = |key: &str| {
            checked::string(value.get(key), key)
                .map_err(bad_figure)?
                .map(str::to_owned)
                .ok_or_else(|| not_a_report(format!("no `{key}` string")))
        };
        let scenario = text_field("scenario")?;
        let clock = text_field("clock")?;
        let schema_version = match value.get("schema_version") {
            None | Some(Value::Null) => {
                return Err(not_a_report("no `schema_version` number".to_owned()));
            }
            Some(v) => v.as_u64().ok_or_else(|| {
                bad_figure(checked::bad("schema_version", v, "a whole number like 1"))
            })?,
        };
        if !value.get("latency").is_some_and(Value::is_object) {
            return Err(not_a_report("no `latency` object".to_owned()));
        }
        let shards = match value.get("shards") {
            None | Some(Value::Null) => 1,
            Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                bad_figure(checked::bad("shards", v, "a whole number of at least 1"))
            })?,
        }
        .to_string();
        let figures = metrics(&value, true).map_err(bad_figure)?;
        Ok(Report {
            origin: origin.to_owned(),
            scenario,
            clock,
            shards,
            schema_version,
            value,
            figures,
        })
    }

    /// The figures compared, the machine's (`process`, the harness's own) only when
    /// `include_process` is set.
    fn figures(&self, include_process: bool) -> Vec<Metric> {
        self.figures
            .iter()
            .filter(|m| include_process || !m.of_the_machine)
            .cloned()
            .collect()
    }

    /// Where the report came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The scenario's name.
    pub fn scenario(&self) -> &str {
        &self.scenario
    }

    /// `live` or `virtual`.
    pub fn clock(&self) -> &str {
        &self.clock
    }

    /// The parts the fleet ran as (`1` for one fleet).
    pub fn shards(&self) -> &str {
        &self.shards
    }

    /// The whole report.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// How to compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// The class boundaries.
    pub thresholds: Thresholds,
    /// A regression of this class or above fails the comparison.
    pub fail_on: Class,
    /// Compare the machine-dependent `process` section too.
    pub include_process: bool,
    /// Compare reports of different scenarios or clocks.
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::default(),
            fail_on: Class::Critical,
            include_process: false,
            force: false,
        }
    }
}

/// The result of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The base reports' files.
    pub base: Vec<String>,
    /// The new reports' files.
    pub new: Vec<String>,
    /// The scenario (of the first base report).
    pub scenario: String,
    /// The clock (of the first base report).
    pub clock: String,
    /// How it was compared.
    pub options: Options,
    /// Every figure both sides have, in report order.
    pub rows: Vec<Row>,
    /// Figures every base report has and some new report lacks (a field gone, or `null`).
    pub only_in_base: Vec<String>,
    /// Figures some base report lacks (a field added, or `null` there).
    pub only_in_new: Vec<String>,
    /// What a reader should know: live clocks, forced or mixed comparisons.
    pub notes: Vec<String>,
}

impl Comparison {
    /// The regressions at or above [`Options::fail_on`].
    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.is_regression() && r.class >= self.options.fail_on)
    }

    /// Whether a regression reached [`Options::fail_on`].
    pub fn failed(&self) -> bool {
        self.failures().next().is_some()
    }
}

/// Compares the `new` reports against the `base` reports.
pub fn compare(
    base: &[Report],
    new: &[Report],
    options: &Options,
) -> Result<Comparison, CompareError> {
    let first = base
        .first()
        .ok_or(CompareError::NoReports { side: "base" })?;
    if new.is_empty() {
        return Err(CompareError::NoReports { side: "new" });
    }
    let mut notes = alike(first, base, new, options.force)?;
    notes.extend(live_note(base, new));
    let figures = |side: &[Report]| -> Vec<Vec<Metric>> {
        side.iter()
            .map(|r| r.figures(options.include_process))
            .collect()
    };
    let (rows, only_in_base, only_in_new) =
        rows(&figures(base), &figures(new), &options.thresholds);
    Ok(Comparison {
        base: base.iter().map(|r| r.origin.clone()).collect(),
        new: new.iter().map(|r| r.origin.clone()).collect(),
        scenario: first.scenario.clone(),
        clock: first.clock.clone(),
        options: *options,
        rows,
        only_in_base,
        only_in_new,
        notes,
    })
}

/// Checks that every report is a run of the same scenario, clock and shards as `first`: an
/// error naming the first difference, or with `force` a note for each. Reports of another
/// schema version are noted (only the figures both have are compared).
fn alike(
    first: &Report,
    base: &[Report],
    new: &[Report],
    force: bool,
) -> Result<Vec<String>, CompareError> {
    let mut notes = Vec::new();
    for other in base.iter().chain(new).skip(1) {
        for (field, a, b) in [
            ("scenario", first.scenario(), other.scenario()),
            ("clock", first.clock(), other.clock()),
            ("shards", first.shards(), other.shards()),
        ] {
            if a == b {
                continue;
            }
            if !force {
                return Err(CompareError::Mismatch {
                    field,
                    first: first.origin.clone(),
                    first_value: a.to_owned(),
                    other: other.origin.clone(),
                    other_value: b.to_owned(),
                });
            }
            notes.push(format!(
                "--force: {} is a run of {field} `{b}`, {} of `{a}`",
                other.origin, first.origin
            ));
        }
        if other.schema_version != first.schema_version {
            notes.push(format!(
                "{} has report schema version {}, {} has {}: only the figures both have are compared",
                other.origin, other.schema_version, first.origin, first.schema_version
            ));
        }
    }
    Ok(notes)
}

/// The advice for live-clock runs compared with fewer than three runs a side.
fn live_note(base: &[Report], new: &[Report]) -> Option<String> {
    let live = base
        .iter()
        .chain(new)
        .any(|r| r.clock == Clock::Live.as_str());
    (live && base.len().min(new.len()) < 3).then(|| {
        "live-clock runs are noisy (the machine's load is in them): give several runs a side, \
         like --base A1.json --base A2.json --base A3.json --new B1.json --new B2.json --new B3.json; \
         medians are compared and a change within the base runs' range is noise"
            .to_owned()
    })
}

/// One row per figure every report of both sides has, in the order figures first appear
/// (base reports first); the names of figures only the base reports all have, and of those
/// some base report lacks.
fn rows(
    base: &[Vec<Metric>],
    new: &[Vec<Metric>],
    thresholds: &Thresholds,
) -> (Vec<Row>, Vec<String>, Vec<String>) {
    let values = |side: &[Vec<Metric>], name: &str| -> Option<Vec<f64>> {
        side.iter()
            .map(|ms| ms.iter().find(|m| m.name == name).map(|m| m.value))
            .collect()
    };
    let mut rows = Vec::new();
    let mut only_in_base = Vec::new();
    let mut only_in_new = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for metric in base.iter().chain(new).flatten() {
        if !seen.insert(metric.name.as_str()) {
            continue;
        }
        match (values(base, &metric.name), values(new, &metric.name)) {
            (Some(b), Some(n)) => rows.push(Row::new(
                &metric.name,
                metric.better,
                metric.quantity,
                &b,
                &n,
                thresholds,
            )),
            (Some(_), None) => only_in_base.push(metric.name.clone()),
            (None, _) => only_in_new.push(metric.name.clone()),
        }
    }
    (rows, only_in_base, only_in_new)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
