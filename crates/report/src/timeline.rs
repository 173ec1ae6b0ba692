//! The run over time, for the HTML report's "Over time" section: the intervals of its log
//! ([`crate::interval_log`]) grouped into at most [`MAX_POINTS`] points (consecutive intervals
//! added, so a long run draws as fast as a short one), with what the charts read of each.

use std::collections::BTreeMap;

use std::path::Path;

use metrics::{BreakerState, CallClass, ErrorKind, Interval, MetricKind, Recorder};

use crate::interval_log::{self, LogError, ReadLog};

/// Points drawn at most: an hour at 1 s is 3,600 intervals, 15 to a point.
pub(crate) const MAX_POINTS: usize = 240;

/// The latency metrics drawn over time (and so the only ones the log is decoded for).
pub(crate) const CHARTED: [MetricKind; 3] = [
    MetricKind::AgentResponse,
    MetricKind::LlmCall,
    MetricKind::ToolCall,
];

/// The run as points in time.
#[derive(Debug, Default)]
pub struct Timeline {
    pub(crate) points: Vec<Point>,
    /// The breakers, in the order of each point's `breakers`.
    pub(crate) breakers: Vec<String>,
    /// Intervals per point.
    pub(crate) per_point: usize,
    /// The log's interval, ms.
    pub(crate) interval_ms: u64,
}

/// One point: one or more consecutive intervals.
#[derive(Debug, Default)]
pub(crate) struct Point {
    /// Start and end, seconds from the run's start.
    pub(crate) start: f64,
    pub(crate) end: f64,
    /// Agents (open loop: sessions) alive at its end.
    pub(crate) alive: u64,
    /// Per second over the point: turns, LLM calls and tool calls finished.
    pub(crate) turns: f64,
    pub(crate) llm_calls: f64,
    pub(crate) tool_calls: f64,
    /// Failed logical calls per second over the point, per error kind (every class).
    pub(crate) errors: BTreeMap<ErrorKind, f64>,
    /// p50, p95 and p99 (ms) of each charted metric that saw a value in the point.
    pub(crate) latency: BTreeMap<MetricKind, [f64; 3]>,
    /// Each breaker's worst state in the point (open over half-open over closed).
    pub(crate) breakers: Vec<BreakerState>,
}

impl Timeline {
    /// The timeline of `log`'s intervals.
    pub fn of(log: &ReadLog) -> Self {
        let intervals = &log.intervals;
        let mut breakers: Vec<String> = Vec::new();
        for interval in intervals {
            note_breakers(&mut breakers, interval);
        }
        let per_point = intervals.len().div_ceil(MAX_POINTS).max(1);
        let mut points = Points::new(per_point);
        for interval in intervals {
            points.add(interval, &breakers);
        }
        Self {
            points: points.finish(),
            breakers,
            per_point,
            interval_ms: log.header.interval_ms,
        }
    }

    /// The timeline of the interval log in `dir`, read twice without holding it: once for
    /// the number of intervals and the breakers (no histogram decoded), once for the points,
    /// an interval and a point's sum at a time. (Decoded, a histogram takes about 190 KB: an
    /// hour at 1 s held whole took gigabytes.)
    pub fn read(dir: &Path) -> Result<Self, LogError> {
        let mut breakers: Vec<String> = Vec::new();
        let counted = interval_log::for_each(dir, Some(&[]), |interval| {
            note_breakers(&mut breakers, &interval);
        })?;
        let per_point = usize::try_from(counted.intervals)
            .unwrap_or(usize::MAX)
            .div_ceil(MAX_POINTS)
            .max(1);
        let mut points = Points::new(per_point);
        interval_log::for_each(dir, Some(&CHARTED), |interval| {
            points.add(&interval, &breakers);
        })?;
        Ok(Self {
            points: points.finish(),
            breakers,
            per_point,
            interval_ms: counted.header.interval_ms,
        })
    }
}

/// Adds the breakers `interval` names that `breakers` lacks, in order of appearance.
fn note_breakers(breakers: &mut Vec<String>, interval: &Interval) {
    for b in &interval.breakers {
        if !breakers.contains(&b.target) {
            breakers.push(b.target.clone());
        }
    }
}

/// The points as intervals arrive: `per_point` consecutive intervals added into each.
struct Points {
    per_point: usize,
    done: Vec<Point>,
    /// The point being added up: its intervals so far, their sum, each breaker's worst state.
    open: Option<Open>,
}

struct Open {
    intervals: usize,
    start: std::time::Duration,
    end: std::time::Duration,
    alive: u64,
    sum: Recorder,
    worst: Vec<BreakerState>,
}

impl Points {
    fn new(per_point: usize) -> Self {
        Self {
            per_point,
            done: Vec::new(),
            open: None,
        }
    }

    fn add(&mut self, interval: &Interval, breakers: &[String]) {
        let open = self.open.get_or_insert_with(|| Open {
            intervals: 0,
            start: interval.start,
            end: interval.end,
            alive: interval.alive,
            sum: Recorder::default(),
            worst: vec![BreakerState::default(); breakers.len()],
        });
        open.intervals += 1;
        open.end = interval.end;
        open.alive = interval.alive;
        open.sum.merge(&interval.recorder);
        for b in &interval.breakers {
            if let Some(k) = breakers.iter().position(|t| t == &b.target)
                && let Some(w) = open.worst.get_mut(k)
            {
                *w = (*w).max(b.state);
            }
        }
        if open.intervals == self.per_point
            && let Some(full) = self.open.take()
        {
            self.done.push(point(full));
        }
    }

    fn finish(mut self) -> Vec<Point> {
        if let Some(open) = self.open.take() {
            self.done.push(point(open));
        }
        self.done
    }
}

fn point(open: Open) -> Point {
    let Open {
        start,
        end,
        alive,
        sum,
        worst,
        ..
    } = open;
    let (start, end) = (start.as_secs_f64(), end.as_secs_f64());
    // A last interval cut at the very instant the one before ended has no length.
    let per_s = |n: u64| {
        if end > start {
            n as f64 / (end - start)
        } else {
            0.0
        }
    };
    let mut errors = BTreeMap::new();
    for class in CallClass::ALL {
        if class == CallClass::Turn {
            continue;
        }
        for (kind, n) in sum.errors.calls.get(&class).into_iter().flatten() {
            *errors.entry(*kind).or_insert(0.0) += per_s(*n);
        }
    }
    let latency = CHARTED
        .iter()
        .filter_map(|kind| {
            let h = sum.latency.get(kind).filter(|h| h.count() > 0)?;
            let ms = |q: f64| h.quantile(q).as_micros() as f64 / 1000.0;
            Some((*kind, [ms(0.5), ms(0.95), ms(0.99)]))
        })
        .collect();
    Point {
        start,
        end,
        alive,
        turns: per_s(sum.counters.turns),
        llm_calls: per_s(sum.counters.llm_calls),
        tool_calls: per_s(sum.counters.tool_calls),
        errors,
        latency,
        breakers: worst,
    }
}
