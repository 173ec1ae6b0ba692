//! The run as a time series: what each interval of the run's clock recorded, and the fleet's
//! state at its end. Intervals are cut from the recorders while the run goes
//! ([`crate::Registry::take_interval`]), so the run's recorder is exactly the sum of its
//! intervals: a log of them is enough to rebuild the run's counts, up to the last interval
//! written.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::MetricKind;
use crate::histogram::LatencyHistogram;
use crate::recorder::Recorder;
use crate::snapshot::BreakerSummary;

/// One interval of a run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// 0, 1, 2, … in time order.
    pub index: u64,
    /// Where it starts, from the run's start (the run's clock).
    pub start: Duration,
    /// Where it ends: `start` + the interval, or the run's end for the last one.
    pub end: Duration,
    /// What was recorded from `start` to `end`.
    pub recorder: Recorder,
    /// Agents (open loop: sessions) alive at `end`.
    pub alive: u64,
    /// The most alive at once from the run's start to `end`.
    pub alive_peak: u64,
    /// Requests the clients had in flight at `end`.
    pub in_flight: u64,
    /// Every breaker at `end`: its state, and its counts since the run's start.
    pub breakers: Vec<BreakerSummary>,
}

impl Interval {
    /// The recorders of `intervals` summed: what the run recorded over them.
    pub fn sum<'a>(intervals: impl IntoIterator<Item = &'a Interval>) -> Recorder {
        let mut all = Recorder::default();
        for interval in intervals {
            all.merge(&interval.recorder);
        }
        all
    }
}

/// The first lines of an interval log (`intervals.hlog`): what it holds, then the headers
/// HdrHistogram's readers know. `started_unix` is the run's start as seconds since the epoch
/// (the live clock), `None` under the virtual clock, whose log starts at 0 so that a seed
/// always writes the same file. Timestamps are then seconds from the run's start, values
/// microseconds, and the max column milliseconds.
pub fn hlog_header(started_unix: Option<f64>) -> String {
    let start = started_unix.unwrap_or(0.0);
    format!(
        "#fleetbench interval log: one histogram per latency metric (its Tag) per interval, in microseconds\n\
         #[StartTime: {start:.3} (seconds since epoch)]\n\
         #[BaseTime: {start:.3} (seconds since epoch)]\n\
         #[MaxValueDivisor: 1000.000]\n\
         \"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
    )
}

impl Interval {
    /// The interval's histograms as interval-log lines: one per metric that saw a value,
    /// tagged with the metric's name, in V2 compressed format (what HdrHistogram's Java
    /// `HistogramLogWriter` writes).
    pub fn hlog_lines(&self) -> String {
        let mut out = String::new();
        for (kind, h) in &self.recorder.latency {
            if h.count() == 0 {
                continue;
            }
            out.push_str(&format!(
                "Tag={},{:.3},{:.3},{:.3},{}\n",
                kind.as_str(),
                self.start.as_secs_f64(),
                self.end.saturating_sub(self.start).as_secs_f64(),
                h.max().as_secs_f64() * 1000.0,
                h.encode(),
            ));
        }
        out
    }
}

/// The histograms of an interval log, by interval start (milliseconds from the run's start)
/// and metric: every metric, or those of `only` (the others are not decoded). Lines with a
/// tag that is no metric are skipped; a line cut off by the end of the file (a run killed
/// while writing it) ends the reading. Every histogram is decoded at once: for a long log,
/// [`hlog_entries`] reads one at a time.
pub fn read_hlog(
    text: &[u8],
    only: Option<&[MetricKind]>,
) -> Result<BTreeMap<u64, BTreeMap<MetricKind, LatencyHistogram>>, String> {
    let mut by_start: BTreeMap<u64, BTreeMap<MetricKind, LatencyHistogram>> = BTreeMap::new();
    for entry in hlog_entries(text, only) {
        let (start_ms, kind, histogram) = entry?;
        by_start
            .entry(start_ms)
            .or_default()
            .entry(kind)
            .or_default()
            .merge(&histogram);
    }
    Ok(by_start)
}

/// The histograms of an interval log in the order it holds them, each decoded only when it
/// is reached: (interval start in ms from the run's start, metric, histogram), for every
/// metric or those of `only`. A decoded histogram takes about 190 KB whatever it holds, so a
/// long log is read this way, an interval at a time. Lines with a tag that is no metric are
/// skipped; a line cut off by the end of the file ends the reading.
pub fn hlog_entries<'a>(
    text: &'a [u8],
    only: Option<&'a [MetricKind]>,
) -> impl Iterator<Item = Result<(u64, MetricKind, LatencyHistogram), String>> + 'a {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    // Only whole lines: the last one may be cut off.
    let whole = text
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&text[..0], |end| &text[..=end]);
    IntervalLogIterator::new(whole).filter_map(move |entry| {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Some(Err(format!("not an HdrHistogram interval log: {e:?}"))),
        };
        let LogEntry::Interval(h) = entry else {
            return None;
        };
        let kind = h.tag().and_then(|t| MetricKind::parse(t.as_str()))?;
        if only.is_some_and(|only| !only.contains(&kind)) {
            return None;
        }
        let start_ms = (h.start_timestamp().as_secs_f64() * 1000.0).round() as u64;
        Some(
            LatencyHistogram::decode(h.encoded_histogram(), 0)
                .map(|histogram| (start_ms, kind, histogram))
                .map_err(|e| format!("the {} histogram at {start_ms} ms: {e}", kind.as_str())),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_log_reads_back_the_histograms_it_was_written_with() {
        let mut intervals = Vec::new();
        for index in 0..3_u64 {
            let mut interval = Interval {
                index,
                start: Duration::from_secs(index),
                end: Duration::from_secs(index + 1),
                ..Interval::default()
            };
            for v in 0..100 * (index + 1) {
                interval
                    .recorder
                    .record(MetricKind::AgentResponse, Duration::from_micros(v * 997));
                interval
                    .recorder
                    .record(MetricKind::ToolCall, Duration::from_millis(v));
            }
            intervals.push(interval);
        }
        let mut log = hlog_header(None);
        for interval in &intervals {
            log.push_str(&interval.hlog_lines());
        }
        // A line cut off halfway, as a SIGKILL leaves it.
        let cut = intervals[2].hlog_lines();
        log.push_str(&cut[..cut.len() / 2]);
        let read = read_hlog(log.as_bytes(), None).expect("the log reads");
        assert_eq!(read.len(), 3, "{:?}", read.keys());
        for interval in &intervals {
            let start = u64::try_from(interval.start.as_millis()).unwrap();
            assert_eq!(read[&start], interval.recorder.latency, "interval {start}");
        }
        let some = read_hlog(log.as_bytes(), Some(&[MetricKind::ToolCall])).expect("it reads");
        assert!(some.values().all(|m| m.keys().eq([&MetricKind::ToolCall])));
    }
}
