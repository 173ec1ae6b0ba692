//! A run's time series on disk, written as it happens (`docs/metrics.md`, "Intervals"):
//!
//! - `intervals.hlog`: an HdrHistogram interval log, one histogram per latency metric per
//!   interval (tagged with the metric's name), which HdrHistogram's own tools read
//!   (`HistogramLogProcessor`, the Python `hdrh` package);
//! - `intervals.jsonl`: a header line (the run: scenario, seed, clock, interval, targets), then
//!   one line per interval: its counts, errors, turn breakdown, tool cache, agents alive,
//!   requests in flight, breakers.
//!
//! Each interval's histograms are written and flushed before its JSON line, so a complete
//! JSON line means a complete interval: a run killed while writing loses only the interval
//! it was writing. [`read`] takes the intervals both files hold, and [`rebuild`] makes a
//! report of them: what `fleetbench report DIR` does when the run left no report.json.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use metrics::{
    AgentSummary, Breakdown, BreakerSummary, Clock, Counters, Errors, Interval, MemoryMethod,
    MetricKind, ProcessStats, Recorder, RunSnapshot, SnapshotInput, StatedTarget, StopReason,
    TargetId, ToolCacheRecord,
};

/// The interval log's histograms.
pub const HLOG: &str = "intervals.hlog";
/// The interval log's counts, one JSON line per interval after a header line.
pub const JSONL: &str = "intervals.jsonl";
/// The version of `intervals.jsonl`'s lines.
const FORMAT: u32 = 1;

/// What the log says of its run: `intervals.jsonl`'s first line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogHeader {
    /// [`FORMAT`]: which lines follow.
    pub fleetbench_intervals: u32,
    /// The version that wrote it.
    pub fleetbench_version: String,
    /// The scenario's name.
    pub scenario: String,
    /// The run seed.
    pub seed: u64,
    /// The clock it ran on.
    pub clock: Clock,
    /// The parts the fleet ran as.
    pub shards: u32,
    /// The interval, ms.
    pub interval_ms: u64,
    /// The live clock: the run's start, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_ms: Option<u64>,
    /// The targets to judge a rebuilt report by.
    pub targets: scenario::Targets,
}

impl LogHeader {
    /// The header of `scenario`'s run on `clock`, cut every `interval`.
    pub fn new(scenario: &scenario::Scenario, interval: Duration) -> Self {
        let clock = scenario.clock;
        let started_unix_ms = (clock == Clock::Live).then(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        });
        Self {
            fleetbench_intervals: FORMAT,
            fleetbench_version: env!("CARGO_PKG_VERSION").to_owned(),
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            clock,
            shards: match clock {
                Clock::Live => 1,
                Clock::Virtual => scenario.fleet.shards.max(1),
            },
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            started_unix_ms,
            targets: scenario.targets.clone(),
        }
    }
}

/// One interval's line in `intervals.jsonl`: everything but the latency histograms (those
/// are in `intervals.hlog`). Borrowed from the interval when written (no copy of its
/// histograms per interval), owned when read.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    interval: u64,
    start_us: u64,
    end_us: u64,
    alive: u64,
    alive_peak: u64,
    in_flight: u64,
    counters: Cow<'a, Counters>,
    errors: Cow<'a, Errors>,
    breakdown: Cow<'a, Breakdown>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tool_cache: Cow<'a, BTreeMap<String, ToolCacheRecord>>,
    /// Values above an hour, per metric (the `.hlog` holds them as an hour).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    outliers: BTreeMap<MetricKind, u64>,
    breakers: Cow<'a, [BreakerSummary]>,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Writes a run's interval log as its intervals end.
#[derive(Debug)]
pub struct IntervalLog {
    hlog: File,
    jsonl: File,
    jsonl_path: PathBuf,
}

impl IntervalLog {
    /// Creates (or truncates) the log's files in `dir` and writes their headers.
    pub fn create(dir: &Path, header: &LogHeader) -> io::Result<Self> {
        let mut hlog = File::create(dir.join(HLOG))?;
        let jsonl_path = dir.join(JSONL);
        let mut jsonl = File::create(&jsonl_path)?;
        let started = header.started_unix_ms.map(|ms| ms as f64 / 1000.0);
        hlog.write_all(metrics::hlog_header(started).as_bytes())?;
        let mut first = serde_json::to_string(header).map_err(io::Error::other)?;
        first.push('\n');
        jsonl.write_all(first.as_bytes())?;
        Ok(Self {
            hlog,
            jsonl,
            jsonl_path,
        })
    }

    /// Appends `interval`: its histograms, then its line (each with one write, unbuffered, so
    /// a killed process leaves whole lines but the last).
    pub fn append(&mut self, interval: &Interval) -> io::Result<()> {
        self.hlog.write_all(interval.hlog_lines().as_bytes())?;
        let r = &interval.recorder;
        let line = Line {
            interval: interval.index,
            start_us: micros(interval.start),
            end_us: micros(interval.end),
            alive: interval.alive,
            alive_peak: interval.alive_peak,
            in_flight: interval.in_flight,
            counters: Cow::Borrowed(&r.counters),
            errors: Cow::Borrowed(&r.errors),
            breakdown: Cow::Borrowed(&r.breakdown),
            tool_cache: Cow::Borrowed(&r.tool_cache),
            outliers: r
                .latency
                .iter()
                .filter(|(_, h)| h.outliers() > 0)
                .map(|(k, h)| (*k, h.outliers()))
                .collect(),
            breakers: Cow::Borrowed(&interval.breakers),
        };
        let mut text = serde_json::to_string(&line).map_err(io::Error::other)?;
        text.push('\n');
        self.jsonl.write_all(text.as_bytes())
    }

    /// `intervals.jsonl`'s path (for messages).
    pub fn path(&self) -> &Path {
        &self.jsonl_path
    }
}

/// Why an interval log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file of the log is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A line is not what fleetbench writes.
    #[error("{}:{line}: {message}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The intervals a log holds whole (in both files), in time order.
#[derive(Debug)]
pub struct ReadLog {
    /// Its run.
    pub header: LogHeader,
    /// The intervals.
    pub intervals: Vec<Interval>,
    /// Whether a last line cut off (the run was killed while writing it) was left out.
    pub cut_off: bool,
}

/// Reads the interval log in `dir`.
pub fn read(dir: &Path) -> Result<ReadLog, LogError> {
    read_only(dir, None)
}

/// Reads the interval log in `dir`, decoding the histograms of `only`'s metrics (every one
/// when `None`). It holds every interval decoded, about 190 KB a histogram: a long log is
/// read with [`for_each`].
pub fn read_only(dir: &Path, only: Option<&[MetricKind]>) -> Result<ReadLog, LogError> {
    let mut intervals = Vec::new();
    let read = for_each(dir, only, |interval| intervals.push(interval))?;
    Ok(ReadLog {
        header: read.header,
        intervals,
        cut_off: read.cut_off,
    })
}

/// What [`for_each`] read besides the intervals.
#[derive(Debug)]
pub struct LogRead {
    /// Its run.
    pub header: LogHeader,
    /// The intervals handed on.
    pub intervals: u64,
    /// Whether a last line cut off (the run was killed while writing it) was left out.
    pub cut_off: bool,
}

/// Hands each interval the log in `dir` holds whole to `f`, in time order, decoding the
/// histograms of `only`'s metrics (every one when `None`) as it reaches them: one interval
/// is held at a time, whatever the length of the run.
pub fn for_each(
    dir: &Path,
    only: Option<&[MetricKind]>,
    mut f: impl FnMut(Interval),
) -> Result<LogRead, LogError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| LogError::Read { path, source })
    };
    let jsonl_path = dir.join(JSONL);
    let text = read(JSONL)?;
    let hlog_path = dir.join(HLOG);
    let hlog = read(HLOG)?;
    let mut histograms = metrics::hlog_entries(&hlog, only).peekable();
    let bad = |line: usize, message: String| LogError::Bad {
        path: jsonl_path.clone(),
        line,
        message,
    };
    let text = String::from_utf8_lossy(&text);
    let cut_off = !text.is_empty() && !text.ends_with('\n');
    let mut lines = text.split_inclusive('\n').filter(|l| l.ends_with('\n'));
    let header: LogHeader = match lines.next() {
        Some(first) => serde_json::from_str(first).map_err(|e| {
            bad(
                1,
                format!("not the header of a fleetbench interval log ({e})"),
            )
        })?,
        None => return Err(bad(1, "empty: the run wrote no header".to_owned())),
    };
    if header.fleetbench_intervals != FORMAT {
        return Err(bad(
            1,
            format!(
                "format {} (this fleetbench reads {FORMAT}); use the fleetbench version that wrote it ({})",
                header.fleetbench_intervals, header.fleetbench_version
            ),
        ));
    }
    let mut count = 0;
    for (i, text) in lines.enumerate() {
        let line: Line<'_> = serde_json::from_str(text)
            .map_err(|e| bad(i + 2, format!("not an interval line ({e})")))?;
        let start = Duration::from_micros(line.start_us);
        let start_ms = u64::try_from(start.as_millis()).unwrap_or(u64::MAX);
        // The interval's histograms come before its line, in time order; any earlier ones
        // belong to no line (an interval whose line was never written) and are passed over.
        let mut latency: BTreeMap<MetricKind, metrics::LatencyHistogram> = BTreeMap::new();
        while let Some(entry) = histograms.next_if(|e| e.as_ref().map_or(true, |e| e.0 <= start_ms))
        {
            let (at, kind, histogram) = entry.map_err(|message| LogError::Bad {
                path: hlog_path.clone(),
                line: 0,
                message,
            })?;
            if at == start_ms {
                latency.entry(kind).or_default().merge(&histogram);
            }
        }
        for (kind, outliers) in &line.outliers {
            if let Some(h) = latency.get_mut(kind) {
                h.set_outliers(*outliers);
            }
        }
        f(Interval {
            index: line.interval,
            start,
            end: Duration::from_micros(line.end_us),
            recorder: Recorder {
                latency,
                counters: line.counters.into_owned(),
                errors: line.errors.into_owned(),
                breakdown: line.breakdown.into_owned(),
                harness: None,
                tool_cache: line.tool_cache.into_owned(),
            },
            alive: line.alive,
            alive_peak: line.alive_peak,
            in_flight: line.in_flight,
            breakers: line.breakers.into_owned(),
        });
        count += 1;
    }
    Ok(LogRead {
        header,
        intervals: count,
        cut_off,
    })
}

/// The report of the run whose interval log is in `dir`, when it left only that: its
/// intervals summed as they are read (one held at a time), judged by its targets, stopped as
/// `killed`; and what was read ([`LogRead`]) with the end of the last interval. What only the
/// end of a run writes is missing: per-agent figures (so the per-agent memory target fails,
/// noted), the process's figures and the mock's; the breakers are as the last interval saw
/// them.
pub fn rebuild(dir: &Path) -> Result<(RunSnapshot, LogRead, Duration), LogError> {
    let mut sum = Recorder::default();
    let mut last: Option<Interval> = None;
    let read = for_each(dir, None, |interval| {
        sum.merge(&interval.recorder);
        last = Some(Interval {
            recorder: Recorder::default(),
            ..interval
        });
    })?;
    let header = &read.header;
    let end = last.as_ref().map_or(Duration::ZERO, |i| i.end);
    let mut snapshot = RunSnapshot::build(SnapshotInput {
        scenario: header.scenario.clone(),
        seed: header.seed,
        clock: header.clock,
        shards: header.shards,
        stop: StopReason::Killed,
        simulated: end,
        recorder: sum,
        agents: Vec::<AgentSummary>::new(),
        targets: &header.targets,
        breakers: last
            .as_ref()
            .map(|i| i.breakers.clone())
            .unwrap_or_default(),
        process: ProcessStats {
            agents_alive_peak: last.as_ref().map_or(0, |i| i.alive_peak),
            ..ProcessStats::default()
        },
        memory_method: MemoryMethod::Structural,
    });
    let memory: TargetId = StatedTarget::AgentMemory.into();
    for verdict in &mut snapshot.targets {
        if verdict.target == memory {
            verdict.measured = None;
            verdict.passed = false;
            verdict.note = Some(
                "not measured: per-agent figures are written at the end of a run, and this one did not end"
                    .to_owned(),
            );
        }
    }
    snapshot.passed = false;
    Ok((snapshot, read, end))
}
