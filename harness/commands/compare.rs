//! `fleetbench compare BASE NEW` (or `--base A1 --base A2 --new B1 --new B2`): compares the
//! report.json of runs figure by figure and exits 1 when a regression reaches `--fail-on`,
//! 2 on bad input (docs/ci.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use report::compare::{self, Class, Options, Report};

use crate::args::{CompareArgs, EvalFormat, FailOn};
use crate::output::out;

pub(crate) fn run(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let (base, new) = sides(args);
    let base = read_all(&base)?;
    let new = read_all(&new)?;
    let options = Options {
        thresholds: args.thresholds,
        fail_on: match args.fail_on {
            FailOn::Minor => Class::Minor,
            FailOn::Warning => Class::Warning,
            FailOn::Critical => Class::Critical,
        },
        include_process: args.include_process,
        force: args.force,
    };
    let comparison = compare::compare(&base, &new, &options)?;
    out(&match args.format {
        EvalFormat::Table => compare::table(&comparison),
        EvalFormat::Md => compare::markdown(&comparison),
        EvalFormat::Json => compare::json(&comparison),
    })
    .context("cannot print the comparison to stdout")?;
    Ok(if comparison.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The base and new files: `BASE NEW`, or every `--base` and `--new` (clap makes sure one form
/// is given, whole).
fn sides(args: &CompareArgs) -> (Vec<PathBuf>, Vec<PathBuf>) {
    match (&args.base_file, &args.new_file) {
        (Some(base), Some(new)) => (vec![base.clone()], vec![new.clone()]),
        _ => (args.base.clone(), args.new.clone()),
    }
}

fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Report>> {
    paths.iter().map(|p| read(p)).collect()
}

fn read(path: &Path) -> anyhow::Result<Report> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "{}: cannot read the report; give the path of a report.json written by `fleetbench run --out DIR`",
            path.display()
        )
    })?;
    Ok(Report::from_json(&text, &path.display().to_string())?)
}
