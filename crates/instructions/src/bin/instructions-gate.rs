//! `instructions-gate`: runs the hot-path instruction benchmarks (`benches/hot_paths.rs`,
//! under valgrind through gungraun), compares each count with the committed baseline and
//! prints the table. Exit 0 when no count regressed critically, 1 when one did (or a
//! benchmark of the baseline did not run), 2 when the counts or the baseline could not be had.
//! `--update` (or `INSTRUCTIONS_UPDATE=1`) writes this run's counts as the baseline instead.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};
use clap::Parser;

use fleetbench_instructions::baseline::{Baseline, Note};
use fleetbench_instructions::summary::{self, Summaries};
use fleetbench_instructions::{Comparison, compare};
use report::compare::Thresholds;

/// The command that counts, run from the workspace root. `--parallel=auto`: one valgrind
/// process a core (each benchmark is its own process, so counts are the same either way).
const BENCH: [&str; 8] = [
    "bench",
    "-p",
    "fleetbench-instructions",
    "--bench",
    "hot_paths",
    "--",
    "--output-format=json",
    "--parallel=auto",
];

/// Compare the hot paths' instruction counts with the committed baseline.
#[derive(Debug, Parser)]
#[command(name = "instructions-gate")]
struct Args {
    /// Write this run's counts to the baseline instead of gating (review the diff and commit
    /// it). Also set by INSTRUCTIONS_UPDATE=1.
    #[arg(long, env = "INSTRUCTIONS_UPDATE", value_parser = clap::builder::FalseyValueParser::new())]
    update: bool,
    /// The baseline file [default: crates/instructions/baseline.json].
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Read gungraun's JSON summaries (one benchmark a line) from FILE instead of running the
    /// benchmarks, like the copy each run leaves in <target>/instructions/summaries.jsonl.
    #[arg(long, value_name = "FILE")]
    summaries: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = workspace_root();
    let baseline_path = args
        .baseline
        .clone()
        .unwrap_or_else(|| root.join("crates/instructions/baseline.json"));
    // Before a run of minutes: a gate without a baseline has nothing to compare with.
    let base = match Baseline::read(&baseline_path) {
        Ok(base) => Some(base),
        Err(_) if args.update => None,
        Err(err) => return Err(err.into()),
    };
    let summaries = match &args.summaries {
        Some(path) => read_summaries(path)?,
        None => run_benchmarks(&root)?,
    };
    let note = Note::current(&locked_gungraun(&root));
    if let Some(base) = &base {
        let comparison = compare(&base.instructions, &summaries.counts, Thresholds::default());
        print_comparison(&baseline_path, base, &note, &comparison);
        if !args.update {
            return Ok(if comparison.fails() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
    }
    let updated = Baseline {
        note,
        instructions: summaries.counts,
    };
    updated.write(&baseline_path)?;
    println!(
        "wrote {} ({} benchmarks): review the diff and commit it",
        baseline_path.display(),
        updated.instructions.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The gungraun version in Cargo.lock (what the benchmarks were built with), or `unknown`.
fn locked_gungraun(root: &Path) -> String {
    std::fs::read_to_string(root.join("Cargo.lock"))
        .ok()
        .and_then(|lock| {
            let mut lines = lock.lines();
            lines.find(|l| *l == "name = \"gungraun\"")?;
            let version = lines.next()?.strip_prefix("version = ")?;
            Some(version.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The workspace root: two levels above this crate.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits at crates/instructions in the workspace")
        .to_owned()
}

fn read_summaries(path: &Path) -> anyhow::Result<Summaries> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the summaries {}: give a file of gungraun's `--output-format=json` lines",
            path.display()
        )
    })?;
    parse_summaries(&text, &path.display().to_string())
}

fn parse_summaries(text: &str, source: &str) -> anyhow::Result<Summaries> {
    let summaries = summary::parse(text).with_context(|| format!("in {source}"))?;
    if summaries.counts.is_empty() {
        bail!(
            "{source} has no benchmark summary: expected gungraun's `--output-format=json` lines"
        );
    }
    Ok(summaries)
}

/// Runs the benchmarks (cargo's and gungraun's progress on stderr) and keeps a copy of their
/// summaries in <target>/instructions/summaries.jsonl.
fn run_benchmarks(root: &Path) -> anyhow::Result<Summaries> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let command = format!("cargo {}", BENCH.join(" "));
    eprintln!("== {command}");
    let output = Command::new(&cargo)
        .args(BENCH)
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start `{command}`: is cargo on PATH?"))?;
    if !output.status.success() {
        bail!(
            "`{command}` failed ({}): see its output above; valgrind and gungraun-runner (the version \
             of gungraun in Cargo.lock) must be installed: run benches/setup.sh",
            output.status
        );
    }
    let text = String::from_utf8(output.stdout)
        .with_context(|| format!("the output of `{command}` is not UTF-8"))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let copy = target.join("instructions").join("summaries.jsonl");
    std::fs::create_dir_all(copy.parent().expect("the copy has a directory"))
        .and_then(|()| std::fs::write(&copy, &text))
        .with_context(|| format!("cannot write {}", copy.display()))?;
    eprintln!("== summaries: {}", copy.display());
    parse_summaries(&text, &format!("the output of `{command}`"))
}

fn print_comparison(path: &Path, base: &Baseline, now: &Note, comparison: &Comparison) {
    println!(
        "instructions: {} against {}",
        now.describe(),
        path.display()
    );
    for difference in base.note.differences(now) {
        println!("note: {difference}: counts can differ by that alone");
    }
    println!(
        "classes: ok < {} %, minor < {} %, warning <= {} %, critical above; fails on a critical regression",
        comparison.thresholds.minor, comparison.thresholds.warning, comparison.thresholds.critical
    );
    println!();
    print!("{}", comparison.table());
    println!();
    println!("{}", comparison.verdict());
}
