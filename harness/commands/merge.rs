//! `fleetbench merge PART...`: the parts of a run (`run --part I/N`, in processes or on
//! machines of their own) as one run: the parts checked to belong together, their figures
//! merged exactly in part order as `--shards N` merges its threads', the targets judged once on
//! the whole, every report written (docs/distributed.md). Exits 0 when every target was met,
//! 1 when one was missed, 2 on bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use serde_json::value::RawValue;

use metrics::{PartProcess, ProcessStats};
use scenario::Scenario;

use crate::commands::part::{self, PartReport};
use crate::output::{note, note_line, out};

/// `fleetbench merge`.
#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// Part reports (`part-I-of-N.json`, written by `run --part I/N --out DIR`), or
    /// directories holding them.
    #[arg(required = true, value_name = "PART")]
    pub(crate) parts: Vec<PathBuf>,
    /// Write the merged run's reports into this directory (created if missing): report.json,
    /// the interval log, and the formats of --format.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Further report formats for --out: json, md, junit, csv, html (as `run --format`).
    #[arg(long, value_name = "FORMAT", value_delimiter = ',', requires = "out")]
    pub(crate) format: Vec<report::Format>,
    /// Print report.json to stdout instead of the summary (which goes to stderr).
    #[arg(long)]
    pub(crate) json: bool,
    /// Merge the parts that are there when some are missing (a pod that failed), and list
    /// the missing ones in the report (`missing_parts`); without it a missing part is an
    /// error.
    #[arg(long)]
    pub(crate) allow_missing: bool,
    /// Judge the merged run by these targets instead (a TOML file with a [targets] table,
    /// as `run --budget`; docs/ci.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) budget: Option<PathBuf>,
}

pub(crate) fn run(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let files = part_files(&args.parts)?;
    let mut parts = Vec::with_capacity(files.len());
    for file in files {
        let report = part::read(&file)?;
        parts.push((file, report));
    }
    let missing = check(&parts, args.allow_missing)?;
    parts.sort_by_key(|(_, p)| p.index);
    let (first_file, first) = &parts[0];
    let mut scenario = Scenario::from_toml(&first.scenario, &first_file.display().to_string())
        .with_context(|| {
            format!(
                "{}: its scenario does not load in this fleetbench; merge with the version that ran the parts ({})",
                first_file.display(),
                first.fleetbench_version
            )
        })?;
    if let Some(budget) = &args.budget {
        crate::commands::run::apply_budget(&mut scenario, budget)?;
    }
    let (of, interval_ms, memory_method) = (first.of, first.interval_ms, first.memory_method);
    if !missing.is_empty() {
        note_line(&format!(
            "warning: merging {} of {of} parts; missing: {} (the report lists them in `missing_parts`, and its figures are those of the others alone)",
            parts.len(),
            list(&missing)
        ));
    }
    let process = processes(&parts);
    let (outcomes, series): (Vec<_>, Vec<_>) = parts
        .into_iter()
        .map(|(file, p)| (p.outcome, (file, p.intervals)))
        .unzip();
    let started = outcomes.iter().filter_map(|o| o.started_unix_ms).min();
    let mut outcome = fleet::merge_parts(&scenario, outcomes, process, memory_method);
    let snapshot = &mut outcome.snapshot;
    snapshot.shards = of;
    snapshot.missing_parts = missing;
    if let Some(dir) = &args.out {
        write_interval_log(dir, &scenario, of, interval_ms, started, series)?;
        for path in report::write(dir, snapshot, &args.format)? {
            note_line(&format!("wrote {}", path.display()));
        }
    }
    if args.json {
        note(&report::terminal(snapshot));
        out(&report::json(snapshot)).context("cannot print report.json to stdout")?;
    } else {
        out(&report::terminal(snapshot)).context("cannot print the summary to stdout")?;
    }
    Ok(if snapshot.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The part reports `given` names: files as given, and in a directory every
/// `part-I-of-N.json`.
fn part_files(given: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in given {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("{}: cannot list the directory", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("part-") && n.ends_with(".json"))
            })
            .collect();
        if found.is_empty() {
            anyhow::bail!(
                "{}: holds no part report (part-I-of-N.json); give the --out directory of `run --part`, or the files",
                path.display()
            );
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Checks that `parts` are parts of one run, each once; returns the indices missing (an
/// error unless `allow_missing`).
fn check(parts: &[(PathBuf, PartReport)], allow_missing: bool) -> anyhow::Result<Vec<u32>> {
    let (first_file, first) = &parts[0];
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for (file, p) in parts {
        let differs = |field: &str, theirs: String, ours: String| {
            anyhow::anyhow!(
                "{}: part {} is not of the same run as {}: its `{field}` is {theirs}, not {ours}; merge the parts of one run (the same scenario file, flags and seed, run as --part I/{})",
                file.display(),
                p.index,
                first_file.display(),
                first.of
            )
        };
        if p.of != first.of {
            return Err(differs("of", p.of.to_string(), first.of.to_string()));
        }
        if p.seed != first.seed {
            return Err(differs("seed", p.seed.to_string(), first.seed.to_string()));
        }
        if p.scenario_hash != first.scenario_hash {
            return Err(differs(
                "scenario_hash",
                p.scenario_hash.clone(),
                format!("{} (the scenario differs)", first.scenario_hash),
            ));
        }
        if p.interval_ms != first.interval_ms {
            return Err(differs(
                "interval_ms",
                p.interval_ms.to_string(),
                format!(
                    "{} (give every part the same --interval)",
                    first.interval_ms
                ),
            ));
        }
        if p.of == 0 || p.of > part::MAX_PARTS {
            anyhow::bail!(
                "{}: `of` is {}, not a number of parts fleetbench writes (1 to {}); the file is damaged: run that part again",
                file.display(),
                p.of,
                part::MAX_PARTS
            );
        }
        if p.index >= p.of {
            anyhow::bail!(
                "{}: part index {} is out of range for {} parts (0 to {}); the file is damaged: run that part again",
                file.display(),
                p.index,
                p.of,
                p.of - 1
            );
        }
        if let Some(other) = seen.insert(p.index, file) {
            anyhow::bail!(
                "part {} of {} is given twice: {} and {}; give each part once",
                p.index,
                p.of,
                other.display(),
                file.display()
            );
        }
    }
    let missing: Vec<u32> = (0..first.of).filter(|i| !seen.contains_key(i)).collect();
    if !missing.is_empty() && !allow_missing {
        anyhow::bail!(
            "part{} {} of {} missing (given: {}); give every part's report, or --allow-missing to merge what is there",
            if missing.len() == 1 { "" } else { "s" },
            list(&missing),
            first.of,
            seen.iter()
                .map(|(i, f)| format!("{i} in {}", f.display()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(missing)
}

fn list(indices: &[u32]) -> String {
    indices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The merged run's process figures: the parts' added (each part's own peaks summed), the
/// longest wall time, each part's own, and the spread of the live parts' starts.
fn processes(parts: &[(PathBuf, PartReport)]) -> ProcessStats {
    let mut merged = ProcessStats::default();
    for (_, p) in parts {
        let q = &p.process;
        merged.peak_rss_bytes += q.peak_rss_bytes;
        merged.cpu_time_ms += q.cpu_time_ms;
        merged.open_files += q.open_files;
        merged.wall_time_ms = merged.wall_time_ms.max(q.wall_time_ms);
        merged.shared_heap_peak_bytes += q.shared_heap_peak_bytes;
        merged.shared_heap_final_bytes += q.shared_heap_final_bytes;
        merged.parts.push(PartProcess {
            index: p.index,
            host: p.host.clone(),
            started_unix_ms: p.outcome.started_unix_ms,
            peak_rss_bytes: q.peak_rss_bytes,
            cpu_time_ms: q.cpu_time_ms,
            wall_time_ms: q.wall_time_ms,
        });
    }
    let starts: Vec<u64> = parts
        .iter()
        .filter_map(|(_, p)| p.outcome.started_unix_ms)
        .collect();
    if let (Some(first), Some(last)) = (starts.iter().min(), starts.iter().max()) {
        merged.start_spread_ms = Some(last - first);
    }
    merged
}

/// The merged run's time series into `dir`, as a run of `of` parts writes it: the parts'
/// encoded intervals decoded one index at a time ([`fleet::merge_intervals`]).
fn write_interval_log(
    dir: &Path,
    scenario: &Scenario,
    of: u32,
    interval_ms: u64,
    started_unix_ms: Option<u64>,
    series: Vec<(PathBuf, Vec<Box<RawValue>>)>,
) -> anyhow::Result<()> {
    let mut header = report::interval_log::LogHeader::new(
        scenario,
        std::time::Duration::from_millis(interval_ms),
    );
    header.shards = of;
    header.started_unix_ms = started_unix_ms;
    let cannot = format!(
        "--out {}: cannot write the interval log; give a directory you can write to",
        dir.display()
    );
    std::fs::create_dir_all(dir).with_context(|| cannot.clone())?;
    let log =
        report::interval_log::IntervalLog::create(dir, &header).with_context(|| cannot.clone())?;
    // The first failure, of a write or of a part's interval: the merge stops with it.
    let failed: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();
    let writer = Mutex::new(log);
    let write_failed = failed.clone();
    let on_interval: fleet::IntervalFn = Arc::new(move |interval: &metrics::Interval| {
        let mut failed = write_failed.lock().unwrap_or_else(PoisonError::into_inner);
        if failed.is_some() {
            return;
        }
        let mut log = writer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = log.append(interval) {
            *failed = Some(anyhow::Error::new(err).context(cannot.clone()));
        }
    });
    let parts: Vec<_> = series
        .into_iter()
        .map(|(file, intervals)| {
            let failed = failed.clone();
            intervals.into_iter().enumerate().map_while(move |(n, raw)| {
                match serde_json::from_str::<metrics::Interval>(raw.get()) {
                    Ok(interval) => Some(interval),
                    Err(e) => {
                        let mut failed = failed.lock().unwrap_or_else(PoisonError::into_inner);
                        failed.get_or_insert_with(|| {
                            anyhow::anyhow!(
                                "{}: interval {n} of its time series is damaged ({e}); run that part again",
                                file.display()
                            )
                        });
                        None
                    }
                }
            })
        })
        .collect();
    fleet::merge_intervals(parts, on_interval);
    let failed = failed.lock().unwrap_or_else(PoisonError::into_inner).take();
    failed.map_or(Ok(()), Err)
}
