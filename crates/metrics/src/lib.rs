//! fleetbench metrics: what a run measures, and how it is judged. Pure: no clock, no I/O.
//!
//! # Layout
//! - [`ErrorKind`] (`error`): why a call failed, counted per kind.
//! - `histogram`: [`LatencyHistogram`] (HdrHistogram, µs, exact merge, serialized whole) and
//!   [`AgentLatency`] (a small per-agent sketch).
//! - `counters`: [`Counters`], [`Errors`] per [`CallClass`] and kind.
//! - `cache`: the tool cache per tool: [`CacheOutcome`], [`ToolCacheRecord`] (recorded) and
//!   [`ToolCacheSummary`] (reported).
//! - `breakdown`: [`TurnParts`], [`Breakdown`] and the [`TailBreakdown`] of turns at or above p95.
//! - `recorder`: [`Recorder`] (one worker's metrics) and [`Registry`] (one recorder per thread).
//! - `agent`: [`AgentSummary`] and [`AgentReport`].
//! - `interval`: [`Interval`], what one interval of the run's clock recorded (the time series).
//! - `harness`: [`HarnessSection`], whether the harness itself saturated (live clock), from
//!   the probe's [`HarnessFigures`] and the `scheduler_lag` histogram.
//! - `runtime`: [`RuntimeSection`], the runtime under test of an HTTP-agent run: attribution,
//!   framework overhead, its failures apart from injected faults, its memory.
//! - `rates`: [`Rates`], LLM calls, tool calls and tokens per second of the run.
//! - `targets`: [`Verdict`]s from the scenario's targets.
//! - `snapshot`: [`RunSnapshot`], the run's result and `report.json`'s content.
//! - `vocabulary`: the report's closed sets, one spelling each: [`StopReason`],
//!   [`BreakerState`], [`Clock`], [`TargetId`] (the scenario's, with [`StatedTarget`]) and
//!   [`Op`].
//! - [`figures`]: the figures a run is compared by, listed once (key, reading, [`Better`],
//!   [`Quantity`]), and [`figures()`](figures::figures) of a snapshot.
//!
//! `docs/metrics.md` defines when each timer starts and stops.

mod agent;
mod breakdown;
mod cache;
mod counters;
mod error;
pub mod figures;
mod harness;
mod histogram;
mod interval;
mod rates;
mod recorder;
mod runtime;
mod snapshot;
mod targets;
mod vocabulary;

pub use agent::{AgentReport, AgentSummary, HeapFigures, MemoryMethod};
pub use breakdown::{Breakdown, PARTS, TailBreakdown, TailPart, TurnParts};
pub use cache::{CacheOutcome, ToolCacheRecord, ToolCacheSummary};
pub use counters::{CallClass, Counters, Errors};
pub use error::ErrorKind;
pub use figures::{Better, Figure, Quantity};
pub use harness::{
    CPU_UTILISATION_LIMIT, HarnessFigures, HarnessSection, HarnessThresholds,
    SCHEDULER_LAG_P99_LIMIT, SaturationReason,
};
pub use histogram::{AgentLatency, LatencyHistogram};
pub use interval::{Interval, hlog_entries, hlog_header, read_hlog};
pub use rates::Rates;
pub use recorder::{Recorder, Registry};
pub use runtime::{RuntimeFailures, RuntimeMemory, RuntimeSection, TurnSplit};
pub use snapshot::{
    AgentMemory, AgentsSection, BreakerSummary, PartProcess, ProcessStats, RunSnapshot,
    SCHEMA_VERSION, SnapshotInput, WORST_MEMORY_AGENTS,
};
pub use targets::{Unit, Verdict, agent_met, error_rate, evaluate};
pub use vocabulary::{BreakerState, Clock, Op, StatedTarget, StopReason, TargetId, UnknownTarget};

/// A duration in milliseconds at microsecond resolution, as reports print them.
pub(crate) fn ms(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// The latency metrics, as the scenario names them.
pub use scenario::LatencyMetric as MetricKind;
