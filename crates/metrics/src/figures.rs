//! The figures a run is compared by, listed once: each one's key in `report.json`, how to read
//! it from a [`RunSnapshot`], which way is better and what it measures ([`Quantity`]).
//!
//! `report`'s `compare` walks `report.json` files of any version by these lists (a figure an
//! older report lacks is left out, one it has beyond them is read generically); the writers
//! take the latency percentiles from here, and an exporter takes every figure of a snapshot
//! from [`figures()`]. A figure added to a section is added to its list, and `compare` and the
//! exporters follow; `figures_match_what_compare_reads` (in `report`) holds the two together.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::counters::{CallClass, Counters, Errors};
use crate::histogram::LatencyHistogram;
use crate::snapshot::{AgentsSection, ProcessStats, RunSnapshot};
use crate::targets::Unit;
use crate::vocabulary::{StatedTarget, TargetId};
use crate::{MetricKind, ms};

/// Which way a figure gets better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Better {
    /// Latency, memory, errors, error rate, failed counts.
    Lower,
    /// Goodput, turns, successes, agents meeting the targets.
    Higher,
}

impl Better {
    /// `lower` or `higher`.
    pub fn as_str(self) -> &'static str {
        match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
        }
    }
}

/// What a figure measures, for printing it. A verdict's [`Unit`] is one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// Milliseconds.
    Ms,
    /// Bytes.
    Bytes,
    /// A fraction in [0, 1].
    Ratio,
    /// A count.
    Count,
    /// Anything else (turns per second, ...).
    Number,
}

impl From<Unit> for Quantity {
    fn from(unit: Unit) -> Self {
        match unit {
            Unit::Ms => Quantity::Ms,
            Unit::Bytes => Quantity::Bytes,
            Unit::Ratio => Quantity::Ratio,
            Unit::Agents | Unit::Count => Quantity::Count,
            Unit::PerS => Quantity::Number,
        }
    }
}

/// One comparable figure of a section of the report (`T`): its key there, which way is
/// better, what it measures, and how to read it (`None`: the section has no value for it).
#[derive(Debug)]
pub struct Field<T> {
    /// The key in the section, like `turns` in `counters`.
    pub key: &'static str,
    /// Which way is better.
    pub better: Better,
    /// What it measures.
    pub quantity: Quantity,
    /// Its value in a section.
    pub read: fn(&T) -> Option<f64>,
}

const fn field<T>(
    key: &'static str,
    better: Better,
    quantity: Quantity,
    read: fn(&T) -> Option<f64>,
) -> Field<T> {
    Field {
        key,
        better,
        quantity,
        read,
    }
}

use Better::{Higher, Lower};

/// `error_rate`: failed logical calls over logical calls (`null` with no calls).
pub const ERROR_RATE: Field<RunSnapshot> =
    field("error_rate", Lower, Quantity::Ratio, |s| s.error_rate);

/// `goodput_turns_per_s`: turns per second that succeeded within the response target.
pub const GOODPUT: Field<RunSnapshot> =
    field("goodput_turns_per_s", Higher, Quantity::Number, |s| {
        Some(s.goodput_turns_per_s)
    });

/// The figures at the top level of a report, in report order.
pub const HEADLINE: [Field<RunSnapshot>; 2] = [ERROR_RATE, GOODPUT];

/// The counters compared. Calls count as work done: in a run of fixed duration, a faster
/// fleet makes more of them. The others (tokens, cache, compressions) follow from the
/// scenario's settings more than from the build, and are not compared.
pub const COUNTERS: [Field<Counters>; 14] = [
    field("turns", Higher, Quantity::Count, |c| n(c.turns)),
    field(
        "turns_failed",
        Lower,
        Quantity::Count,
        |c| n(c.turns_failed),
    ),
    field("turns_cancelled", Lower, Quantity::Count, |c| {
        n(c.turns_cancelled)
    }),
    field("turns_on_target", Higher, Quantity::Count, |c| {
        n(c.turns_on_target)
    }),
    field("llm_calls", Higher, Quantity::Count, |c| n(c.llm_calls)),
    field("llm_succeeded", Higher, Quantity::Count, |c| {
        n(c.llm_succeeded)
    }),
    field("tool_calls", Higher, Quantity::Count, |c| n(c.tool_calls)),
    field("tool_succeeded", Higher, Quantity::Count, |c| {
        n(c.tool_succeeded)
    }),
    field("tool_timeouts", Lower, Quantity::Count, |c| {
        n(c.tool_timeouts)
    }),
    field("retries", Lower, Quantity::Count, |c| n(c.retries)),
    field("breaker_rejections", Lower, Quantity::Count, |c| {
        n(c.breaker_rejections)
    }),
    field("sessions_completed", Higher, Quantity::Count, |c| {
        n(c.sessions_completed)
    }),
    field("late_starts", Lower, Quantity::Count, |c| n(c.late_starts)),
    field("dropped_starts", Lower, Quantity::Count, |c| {
        n(c.dropped_starts)
    }),
];

/// A side errors are counted on: `errors.calls` or `errors.attempts`.
#[derive(Debug)]
pub struct ErrorSide {
    /// The key in `errors`.
    pub key: &'static str,
    /// Its counts in a snapshot.
    pub read: fn(&Errors) -> &ErrorCounts,
}

/// Errors of one side: class, then kind, then count.
pub type ErrorCounts = BTreeMap<CallClass, BTreeMap<crate::ErrorKind, u64>>;

/// The sides errors are counted on; each is compared per [`CallClass`], summed over the
/// kinds, lower is better, every class even when a report has none of it (absent means 0:
/// errors appearing are a change, not a missing figure).
pub const ERROR_SIDES: [ErrorSide; 2] = [
    ErrorSide {
        key: "calls",
        read: |e| &e.calls,
    },
    ErrorSide {
        key: "attempts",
        read: |e| &e.attempts,
    },
];

/// The per-agent summary's figures (`agents`), in report order; the per-agent list is not
/// compared.
pub const AGENTS: [Field<AgentsSection>; 9] = [
    field("count", Higher, Quantity::Count, |a| n(a.count)),
    field("with_turns", Higher, Quantity::Count, |a| n(a.with_turns)),
    field("meeting_all_targets", Higher, Quantity::Ratio, |a| {
        Some(a.meeting_all_targets)
    }),
    field("response_p95_median_ms", Lower, Quantity::Ms, |a| {
        Some(a.response_p95_median_ms)
    }),
    field("response_p95_max_ms", Lower, Quantity::Ms, |a| {
        Some(a.response_p95_max_ms)
    }),
    field("peak_memory_p50_bytes", Lower, Quantity::Bytes, |a| {
        n(a.peak_memory_p50_bytes)
    }),
    field("peak_memory_p95_bytes", Lower, Quantity::Bytes, |a| {
        n(a.peak_memory_p95_bytes)
    }),
    field("peak_memory_max_bytes", Lower, Quantity::Bytes, |a| {
        n(a.peak_memory_max_bytes)
    }),
    field("final_memory_total_bytes", Lower, Quantity::Bytes, |a| {
        n(a.final_memory_total_bytes)
    }),
];

/// The process's figures (`process`), in report order: the machine's, compared only when
/// asked.
pub const PROCESS: [Field<ProcessStats>; 7] = [
    field("peak_rss_bytes", Lower, Quantity::Bytes, |p| {
        n(p.peak_rss_bytes)
    }),
    field("cpu_time_ms", Lower, Quantity::Ms, |p| n(p.cpu_time_ms)),
    field("open_files", Lower, Quantity::Count, |p| n(p.open_files)),
    field("agents_alive_peak", Higher, Quantity::Count, |p| {
        n(p.agents_alive_peak)
    }),
    field("wall_time_ms", Lower, Quantity::Ms, |p| n(p.wall_time_ms)),
    field("shared_heap_peak_bytes", Lower, Quantity::Bytes, |p| {
        n(p.shared_heap_peak_bytes)
    }),
    field("shared_heap_final_bytes", Lower, Quantity::Bytes, |p| {
        n(p.shared_heap_final_bytes)
    }),
];

fn n(count: u64) -> Option<f64> {
    Some(count as f64)
}

/// One compared point of a latency histogram: lower is better, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentile {
    /// The key in a histogram's summary, like `p95_ms`.
    pub key: &'static str,
    /// The column heading of the writers' latency tables, like `p95`.
    pub label: &'static str,
    /// The quantile; `None` for the largest value.
    pub quantile: Option<f64>,
}

impl Percentile {
    /// The point of `h`.
    pub fn of(&self, h: &LatencyHistogram) -> Duration {
        self.quantile.map_or_else(|| h.max(), |q| h.quantile(q))
    }
}

/// The points of each latency histogram that are compared and printed (`p999_ms` is in the
/// report, but too few samples stand behind it to compare runs by it).
pub const PERCENTILES: [Percentile; 5] = [
    Percentile {
        key: "p50_ms",
        label: "p50",
        quantile: Some(0.5),
    },
    Percentile {
        key: "p90_ms",
        label: "p90",
        quantile: Some(0.9),
    },
    Percentile {
        key: "p95_ms",
        label: "p95",
        quantile: Some(0.95),
    },
    Percentile {
        key: "p99_ms",
        label: "p99",
        quantile: Some(0.99),
    },
    Percentile {
        key: "max_ms",
        label: "max",
        quantile: None,
    },
];

/// Whether a latency metric measures the machine the harness ran on rather than the system
/// under test (the harness's own scheduling lag): compared, like `process`, only when asked.
pub fn latency_of_the_machine(metric: MetricKind) -> bool {
    metric == MetricKind::SchedulerLag
}

/// Whether a target judges the machine the harness ran on (the one judged on its own
/// scheduling lag and CPU): compared, like `process`, only when asked.
pub fn target_of_the_machine(target: &TargetId) -> bool {
    *target == StatedTarget::HarnessNotSaturated
}

/// One figure of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Its path in the report, like `latency.agent_response.p95_ms` or `targets.error_rate`.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Which way is better.
    pub better: Better,
    /// What it measures.
    pub quantity: Quantity,
    /// Whether it measures the machine the harness ran on (`process`, the harness's own
    /// figures) rather than the system under test.
    pub of_the_machine: bool,
}

/// Every comparable figure of `s`, in report order, the machine's included (flagged);
/// values that are not finite, and verdicts with nothing measured, are left out.
pub fn figures(s: &RunSnapshot) -> Vec<Figure> {
    let mut out = Vec::new();
    let mut push = |name: String, value: Option<f64>, better, quantity, machine| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            out.push(Figure {
                name,
                value,
                better,
                quantity,
                of_the_machine: machine,
            });
        }
    };
    for (metric, h) in &s.latency {
        for p in PERCENTILES {
            let name = format!("latency.{metric}.{}", p.key);
            let machine = latency_of_the_machine(*metric);
            push(name, Some(ms(p.of(h))), Lower, Quantity::Ms, machine);
        }
    }
    for f in &HEADLINE {
        push(f.key.to_owned(), (f.read)(s), f.better, f.quantity, false);
    }
    for f in &COUNTERS {
        let name = format!("counters.{}", f.key);
        push(name, (f.read)(&s.counters), f.better, f.quantity, false);
    }
    for side in ERROR_SIDES {
        let counts = (side.read)(&s.errors);
        for class in CallClass::ALL {
            let total: u64 = counts
                .get(&class)
                .into_iter()
                .flat_map(|k| k.values())
                .sum();
            let name = format!("errors.{}.{}", side.key, class.as_str());
            push(name, n(total), Lower, Quantity::Count, false);
        }
    }
    for v in &s.targets {
        // Better in the direction of its comparison: below a limit is lower, `>=` higher.
        let (better, quantity) = (v.op.better(), Quantity::from(v.unit));
        let machine = target_of_the_machine(&v.target);
        push(
            format!("targets.{}", v.target),
            v.measured,
            better,
            quantity,
            machine,
        );
    }
    for f in &AGENTS {
        let name = format!("agents.{}", f.key);
        push(name, (f.read)(&s.agents), f.better, f.quantity, false);
    }
    for f in &PROCESS {
        let name = format!("process.{}", f.key);
        push(name, (f.read)(&s.process), f.better, f.quantity, true);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The numeric keys of `section` serialized, sorted.
    fn numeric_keys(section: &impl serde::Serialize) -> Vec<String> {
        let Value::Object(fields) = serde_json::to_value(section).unwrap() else {
            panic!("a section is an object");
        };
        fields
            .into_iter()
            .filter(|(_, v)| v.is_number())
            .map(|(k, _)| k)
            .collect()
    }

    fn keys<T>(list: &[Field<T>]) -> Vec<String> {
        let mut keys: Vec<String> = list.iter().map(|f| f.key.to_owned()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_lists_name_the_report_keys() {
        // Every numeric figure of `agents` and `process`: a field added to either is
        // compared once it is listed here.
        assert_eq!(keys(&AGENTS), numeric_keys(&AgentsSection::default()));
        assert_eq!(keys(&PROCESS), numeric_keys(&ProcessStats::default()));
        let counters = numeric_keys(&Counters::default());
        assert!(keys(&COUNTERS).iter().all(|k| counters.contains(k)));
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_millis(3));
        let summary = serde_json::to_value(&h).unwrap();
        for p in PERCENTILES {
            let wire = summary[p.key].as_f64().unwrap();
            assert_eq!(wire, ms(p.of(&h)), "{}", p.key);
        }
    }

    #[test]
    fn units_are_quantities() {
        assert_eq!(Quantity::from(Unit::Agents), Quantity::Count);
        for u in Unit::ALL {
            assert_eq!(Unit::parse(u.as_str()), Some(u));
            assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
        }
    }
}
