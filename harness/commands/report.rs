//! `fleetbench report DIR`: the reports of a run rebuilt from what it left on disk: its
//! report.json when it ended, or its interval log when it did not (killed, crashed); in a
//! sweep's directory, sweep.html from sweep.json.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use metrics::RunSnapshot;
use report::interval_log;

use crate::output::{note_line, out};

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The --out directory of a run.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// The formats to write besides report.json: json, md, junit, csv, html (repeat or
    /// separate with commas); every format when absent.
    #[arg(long, value_name = "FORMAT", value_delimiter = ',')]
    pub(crate) format: Vec<report::Format>,
    /// Print report.json to stdout instead of the summary (which goes to stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    if !dir.is_dir() {
        bail!(
            "report {}: no such directory; give the --out directory of a run",
            dir.display()
        );
    }
    if !dir.join("report.json").is_file() && dir.join("sweep.json").is_file() {
        return sweep(dir);
    }
    let snapshot = if dir.join("report.json").is_file() && !report_is_stale(dir) {
        from_report(dir)?
    } else if dir.join(interval_log::JSONL).is_file() {
        from_intervals(dir)?
    } else {
        bail!(
            "report {}: no run here (neither report.json nor {}); give the --out directory of a run",
            dir.display(),
            interval_log::JSONL
        );
    };
    let formats = if args.format.is_empty() {
        report::Format::ALL.to_vec()
    } else {
        args.format.clone()
    };
    let paths = report::write(dir, &snapshot, &formats)
        .with_context(|| format!("report {}: cannot write the reports", dir.display()))?;
    for path in paths {
        note_line(&format!("wrote {}", path.display()));
    }
    if args.json {
        out(&report::json(&snapshot)).context("cannot print report.json to stdout")?;
    } else {
        out(&report::terminal(&snapshot)).context("cannot print the summary to stdout")?;
    }
    Ok(if snapshot.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A sweep's directory (`sweep --out`): sweep.html redrawn from sweep.json.
fn sweep(dir: &Path) -> anyhow::Result<ExitCode> {
    let path = dir.join("sweep.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("report {}: cannot read it", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "report {}:{}: not JSON ({e}); give the --out directory of a sweep",
            path.display(),
            e.line()
        )
    })?;
    let page = report::sweep_html(&doc).map_err(|e| {
        anyhow::anyhow!(
            "report {}: not a sweep's JSON: {e}; give the --out directory of a sweep",
            path.display()
        )
    })?;
    let html = dir.join("sweep.html");
    std::fs::write(&html, page)
        .with_context(|| format!("report {}: cannot write it", html.display()))?;
    note_line(&format!("wrote {}", html.display()));
    Ok(ExitCode::SUCCESS)
}

/// Whether report.json is an earlier run's: the interval log was written after it (a run
/// writes its report after its last interval, so a run that ended leaves a newer report).
fn report_is_stale(dir: &Path) -> bool {
    let modified = |name: &str| std::fs::metadata(dir.join(name)).and_then(|m| m.modified());
    match (modified("report.json"), modified(interval_log::JSONL)) {
        (Ok(report), Ok(log)) if log > report => {
            note_line(&format!(
                "report {}: report.json is older than the interval log, so it is an earlier run's; using the log",
                dir.display()
            ));
            true
        }
        _ => false,
    }
}

/// The run's own report.json.
fn from_report(dir: &Path) -> anyhow::Result<RunSnapshot> {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("report {}: cannot read it", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "report {}:{}: not a report.json this fleetbench reads ({e}); give the --out directory of a run made by this version",
            path.display(),
            e.line()
        )
    })
}

/// A run that left no report.json: its interval log, summed.
fn from_intervals(dir: &Path) -> anyhow::Result<RunSnapshot> {
    let (snapshot, read, end) = interval_log::rebuild(dir)
        .with_context(|| format!("report {}: the interval log cannot be read", dir.display()))?;
    note_line(&format!(
        "report {}: the run ended without its report; rebuilt from its interval log: {} intervals, 0 to {:.3} s{}",
        dir.display(),
        read.intervals,
        end.as_secs_f64(),
        if read.cut_off {
            " (a last one, cut off mid-line, left out)"
        } else {
            ""
        }
    ));
    Ok(snapshot)
}
