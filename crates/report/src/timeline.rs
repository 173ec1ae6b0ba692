//! The run over time, for the HTML report's "Over time" section: the intervals of its log
//! ([`crate::interval_log`]) grouped into at most [`MAX_POINTS`] points (consecutive intervals
//! added, so a long run draws as fast as a short one), with what the charts read of each.

use std::collections::BTreeMap;

use metrics::{BreakerState, CallClass, ErrorKind, Interval, MetricKind};

use crate::interval_log::ReadLog;

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
    /// The points of `log`'s intervals.
    pub fn of(log: &ReadLog) -> Self {
        let intervals = &log.intervals;
        let per_point = intervals.len().div_ceil(MAX_POINTS).max(1);
        let mut breakers: Vec<String> = Vec::new();
        for interval in intervals {
            for b in &interval.breakers {
                if !breakers.contains(&b.target) {
                    breakers.push(b.target.clone());
                }
            }
        }
        let points = intervals
            .chunks(per_point)
            .map(|group| point(group, &breakers))
            .collect();
        Self {
            points,
            breakers,
            per_point,
            interval_ms: log.header.interval_ms,
        }
    }
}

fn point(group: &[Interval], breakers: &[String]) -> Point {
    let (Some(first), Some(last)) = (group.first(), group.last()) else {
        return Point::default();
    };
    let sum = Interval::sum(group);
    let (start, end) = (first.start.as_secs_f64(), last.end.as_secs_f64());
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
    let worst = |target: &String| {
        group
            .iter()
            .flat_map(|i| i.breakers.iter().filter(|b| &b.target == target))
            .map(|b| b.state)
            .max()
            .unwrap_or_default()
    };
    Point {
        start,
        end,
        alive: last.alive,
        turns: per_s(sum.counters.turns),
        llm_calls: per_s(sum.counters.llm_calls),
        tool_calls: per_s(sum.counters.tool_calls),
        errors,
        latency,
        breakers: breakers.iter().map(worst).collect(),
    }
}
