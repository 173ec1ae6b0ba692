//! Targets evaluated into verdicts: each target's measured value, its limit and pass/fail,
//! plus the per-agent test behind "agents meeting every target".

use std::time::Duration;

use serde::{Deserialize, Serialize};

use scenario::Targets;
use scenario::schema::targets::figures::{Bound, FigureName, FigureTarget, FigureUnit, Side};

use crate::agent::AgentSummary;
use crate::cache::{ToolCacheRecord, all_tools};
use crate::counters::CallClass;
use crate::harness::{HarnessSection, SCHEDULER_LAG_P99_LIMIT};
use crate::recorder::Recorder;
use crate::vocabulary::{Op, StatedTarget, TargetId};
use crate::{MetricKind, ms};

/// The unit of a verdict's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// A count of agents.
    Agents,
    /// Bytes.
    Bytes,
    /// A fraction in [0, 1], or a quotient of two counts (`retries_per_call`).
    Ratio,
    /// Per second of fleet time.
    PerS,
    /// A count.
    Count,
}

impl Unit {
    /// Every unit.
    pub const ALL: [Unit; 6] = [
        Unit::Ms,
        Unit::Agents,
        Unit::Bytes,
        Unit::Ratio,
        Unit::PerS,
        Unit::Count,
    ];

    /// The unit as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Agents => "agents",
            Unit::Bytes => "bytes",
            Unit::Ratio => "ratio",
            Unit::PerS => "per_s",
            Unit::Count => "count",
        }
    }

    /// The unit spelled `text`.
    pub fn parse(text: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.as_str() == text)
    }
}

/// One target's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// The target's key in `[targets]` (`agent_response_p95`, …; extra targets read
    /// `<metric>_p<percentile>`).
    pub target: TargetId,
    /// What was measured, in `unit`; `None` when there was nothing to measure.
    pub measured: Option<f64>,
    /// The comparison: `<` (measured must stay below the limit) or `>=`.
    pub op: Op,
    /// The limit, in `unit`.
    pub limit: f64,
    /// The unit of `measured` and `limit`.
    pub unit: Unit,
    /// Whether the target was met.
    pub passed: bool,
    /// Why, when the numbers alone do not say (nothing measured, no failures).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

fn below(
    target: impl Into<TargetId>,
    measured: Option<f64>,
    limit: f64,
    unit: Unit,
    empty: EmptyIs,
) -> Verdict {
    let (passed, note) = match (measured, empty) {
        (Some(m), _) => (Op::Below.holds(m, limit), None),
        (None, EmptyIs::Pass(why)) => (true, Some(why.to_owned())),
        (None, EmptyIs::Fail(why)) => (false, Some(why.to_owned())),
    };
    Verdict {
        target: target.into(),
        measured,
        op: Op::Below,
        limit,
        unit,
        passed,
        note,
    }
}

/// What a target with nothing measured means.
#[derive(Clone, Copy)]
enum EmptyIs {
    Pass(&'static str),
    Fail(&'static str),
}

fn latency(r: &Recorder, kind: MetricKind, q: f64) -> Option<f64> {
    r.latency
        .get(&kind)
        .filter(|h| h.count() > 0)
        .map(|h| ms(h.quantile(q)))
}

/// Failed logical LLM and tool calls over all logical LLM and tool calls (`docs/metrics.md`).
pub fn error_rate(r: &Recorder) -> Option<f64> {
    let calls = r.counters.llm_calls + r.counters.tool_calls;
    let failed = r.errors.calls_failed(CallClass::Llm) + r.errors.calls_failed(CallClass::Tool);
    (calls > 0).then(|| failed as f64 / calls as f64)
}

/// Evaluates every target; `simulated` is the fleet time the per-second figures divide by.
pub fn evaluate(
    t: &Targets,
    r: &Recorder,
    agents: &[AgentSummary],
    agents_alive_peak: u64,
    simulated: Duration,
) -> Vec<Verdict> {
    let latency_targets = [
        (
            StatedTarget::AgentResponseP95,
            MetricKind::AgentResponse,
            0.95,
            t.agent_response_p95,
            EmptyIs::Fail("no turn finished"),
        ),
        (
            StatedTarget::ToolCallP90,
            MetricKind::ToolCall,
            0.90,
            t.tool_call_p90,
            EmptyIs::Pass("no tool calls"),
        ),
        (
            StatedTarget::ContextBuildP99,
            MetricKind::ContextBuild,
            0.99,
            t.context_build_p99,
            EmptyIs::Fail("no prompt was built"),
        ),
    ];
    let mut v: Vec<Verdict> = latency_targets
        .into_iter()
        .map(|(name, kind, q, limit, empty)| {
            below(name, latency(r, kind, q), ms(limit.0), Unit::Ms, empty)
        })
        .collect();
    let peak = agents_alive_peak as f64;
    let limit = f64::from(t.min_concurrent_agents);
    v.push(Verdict {
        target: StatedTarget::MinConcurrentAgents.into(),
        measured: Some(peak),
        op: Op::AtLeast,
        limit,
        unit: Unit::Agents,
        passed: Op::AtLeast.holds(peak, limit),
        note: None,
    });
    let memory = agents
        .iter()
        .map(AgentSummary::peak_memory_bytes)
        .max()
        .map(|b| b as f64);
    v.push(below(
        StatedTarget::AgentMemory,
        memory,
        t.agent_memory.0 as f64,
        Unit::Bytes,
        EmptyIs::Pass("no agent ran"),
    ));
    let rate = error_rate(r);
    let mut errors = below(
        StatedTarget::ErrorRate,
        rate,
        t.error_rate.0,
        Unit::Ratio,
        EmptyIs::Fail("no call was made"),
    );
    // A limit of 0 means "no failures at all": a rate of 0 meets it.
    if rate == Some(0.0) {
        errors.passed = true;
    }
    v.push(errors);
    if t.harness_not_saturated {
        v.push(harness_verdict(HarnessSection::of(r).as_ref()));
    }
    for extra in &t.extra {
        v.push(below(
            extra,
            latency(r, extra.metric, extra.percentile / 100.0),
            ms(extra.max.0),
            Unit::Ms,
            EmptyIs::Pass("nothing recorded for this metric"),
        ));
    }
    for target in &t.figure {
        v.push(figure_verdict(target, r, agents, simulated));
    }
    v
}

/// A `[[targets.figure]]`'s verdict: `>=` its `min` or `<=` its `max`, in the figure's unit.
fn figure_verdict(
    target: &FigureTarget,
    r: &Recorder,
    agents: &[AgentSummary],
    simulated: Duration,
) -> Verdict {
    let Bound {
        figure,
        tool,
        side,
        limit,
    } = target
        .bound()
        .expect("the scenario loader checked every [[targets.figure]]");
    let op = match side {
        Side::Min => Op::AtLeast,
        Side::Max => Op::AtMost,
    };
    let measured = figure_value(figure, tool.as_deref(), r, agents, simulated);
    Verdict {
        target: TargetId::Figure { figure, tool },
        measured,
        op,
        limit,
        unit: unit_of(figure.unit()),
        passed: measured.is_some_and(|m| op.holds(m, limit)),
        note: measured
            .is_none()
            .then(|| format!("nothing measured for {figure}")),
    }
}

/// The verdict unit of a figure's unit.
fn unit_of(unit: FigureUnit) -> Unit {
    match unit {
        FigureUnit::Ratio => Unit::Ratio,
        FigureUnit::PerSecond => Unit::PerS,
        FigureUnit::Count => Unit::Count,
        FigureUnit::Duration => Unit::Ms,
        FigureUnit::Bytes => Unit::Bytes,
    }
}

/// A figure's value in its verdict unit (`docs/metrics.md` defines each); `None` when there is
/// nothing to divide by or measure.
fn figure_value(
    figure: FigureName,
    tool: Option<&str>,
    r: &Recorder,
    agents: &[AgentSummary],
    simulated: Duration,
) -> Option<f64> {
    let c = &r.counters;
    let secs = simulated.as_secs_f64();
    let per_s = |n: u64| (secs > 0.0).then(|| n as f64 / secs);
    let over = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
    let cache = || match tool {
        Some(tool) => r.tool_cache.get(tool).cloned().unwrap_or_default(),
        None => all_tools(&r.tool_cache),
    };
    let count = |n: u64| Some(n as f64);
    let cached = |read: fn(&ToolCacheRecord) -> u64| count(read(&cache()));
    match figure {
        FigureName::ToolCacheHitRate => cache().hit_rate(),
        FigureName::ToolCacheHits => cached(|k| k.hits),
        FigureName::ToolCacheMisses => cached(|k| k.misses),
        FigureName::ToolCacheCoalesced => cached(|k| k.coalesced),
        FigureName::ToolCacheEvictions => cached(|k| k.evictions),
        FigureName::ToolCacheLatencySaved => cache().latency_saved().map(ms),
        FigureName::RetriesPerCall => over(c.retries, c.llm_calls + c.tool_calls),
        FigureName::TurnFailureRate => over(c.turns_failed, c.turns),
        FigureName::Goodput => per_s(c.turns_on_target),
        FigureName::TurnsPerSecond => per_s(c.turns),
        FigureName::TokensPerSecond => per_s(c.tokens_in + c.tokens_out),
        FigureName::OutputTokensPerSecond => per_s(c.tokens_out),
        FigureName::Turns => count(c.turns),
        FigureName::Retries => count(c.retries),
        FigureName::Failovers => count(c.failovers),
        FigureName::BreakerRejections => count(c.breaker_rejections),
        FigureName::DroppedStarts => count(c.dropped_starts),
        FigureName::PeakAgentMemory => agents
            .iter()
            .map(AgentSummary::peak_memory_bytes)
            .max()
            .map(|b| b as f64),
    }
}

/// `harness_not_saturated`: the run's `harness` section says it was not saturated. The
/// measured figure is the p99 of `scheduler_lag` against its threshold; the note gives the CPU
/// too, which can fail the target on its own. No probe (the virtual clock) passes, noted.
fn harness_verdict(harness: Option<&HarnessSection>) -> Verdict {
    let limit = ms(SCHEDULER_LAG_P99_LIMIT);
    let Some(h) = harness else {
        return below(
            StatedTarget::HarnessNotSaturated,
            None,
            limit,
            Unit::Ms,
            EmptyIs::Pass(
                "not measured: the virtual clock's latencies do not depend on the harness's speed",
            ),
        );
    };
    Verdict {
        target: StatedTarget::HarnessNotSaturated.into(),
        measured: h.scheduler_lag_p99_ms,
        op: Op::Below,
        limit,
        unit: Unit::Ms,
        passed: !h.saturated,
        note: Some(if h.saturated {
            format!("saturated: {}", h.describe())
        } else {
            h.describe()
        }),
    }
}

/// Whether one agent met the targets that apply to a single agent: its own response p95,
/// its peak memory, and its share of failed turns (an agent with no turn did not).
pub fn agent_met(t: &Targets, a: &AgentSummary) -> bool {
    a.turns > 0
        && a.response.quantile(0.95) < t.agent_response_p95.0
        && a.peak_memory_bytes() < t.agent_memory.0
        && (a.errors == 0 || (a.errors as f64 / a.turns as f64) < t.error_rate.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::cache::CacheOutcome;
    use scenario::schema::targets::figures::LimitValue;

    fn recorder(response_ms: &[u64], llm_calls: u64, failed: u64) -> Recorder {
        let mut r = Recorder::default();
        for ms in response_ms {
            r.record(MetricKind::AgentResponse, Duration::from_millis(*ms));
            r.record(MetricKind::ContextBuild, Duration::from_micros(50));
        }
        r.counters.llm_calls = llm_calls;
        for _ in 0..failed {
            r.error(CallClass::Llm, ErrorKind::ServerError);
        }
        r
    }

    const SECS: Duration = Duration::from_secs(10);

    fn by_name<'a>(v: &'a [Verdict], name: &str) -> &'a Verdict {
        v.iter().find(|x| x.target == name).unwrap()
    }

    #[test]
    fn default_targets_pass_and_fail_on_the_numbers() {
        let t = Targets::default();
        let good = evaluate(&t, &recorder(&[100; 100], 10_000, 5), &[], 1000, SECS);
        assert!(good.iter().all(|v| v.passed), "{good:#?}");
        assert_eq!(by_name(&good, "error_rate").measured, Some(0.0005));
        assert_eq!(
            by_name(&good, "tool_call_p90").note.as_deref(),
            Some("no tool calls")
        );

        let mut slow: Vec<u64> = vec![100; 90];
        slow.extend([3000; 10]);
        let bad = evaluate(&t, &recorder(&slow, 100, 1), &[], 999, SECS);
        assert!(!by_name(&bad, "agent_response_p95").passed);
        assert!(!by_name(&bad, "error_rate").passed);
        assert!(!by_name(&bad, "min_concurrent_agents").passed);
        assert!(by_name(&bad, "context_build_p99").passed);
    }

    #[test]
    fn nothing_measured_fails_the_headline() {
        let v = evaluate(&Targets::default(), &Recorder::default(), &[], 5000, SECS);
        assert!(!by_name(&v, "agent_response_p95").passed);
        assert_eq!(by_name(&v, "agent_response_p95").measured, None);
        assert!(!by_name(&v, "error_rate").passed);
    }

    #[test]
    fn harness_not_saturated_is_judged_only_when_asked() {
        let mut r = recorder(&[100; 100], 10_000, 0);
        let off = evaluate(&Targets::default(), &r, &[], 1000, SECS);
        assert!(off.iter().all(|v| v.target != "harness_not_saturated"));
        let t = Targets {
            harness_not_saturated: true,
            ..Targets::default()
        };
        // No probe ran (the virtual clock): passes, noted.
        let virtual_run =
            by_name(&evaluate(&t, &r, &[], 1000, SECS), "harness_not_saturated").clone();
        assert!(virtual_run.passed);
        assert_eq!(virtual_run.measured, None);
        assert!(virtual_run.note.unwrap().contains("virtual clock"));

        r.harness = Some(crate::HarnessFigures {
            probe_interval: Duration::from_millis(10),
            cores: 2,
            cpu_utilisation: 0.3,
            cpu_utilisation_peak: 0.5,
            cpu_window: Duration::from_secs(1),
        });
        for _ in 0..100 {
            r.record(MetricKind::SchedulerLag, Duration::from_millis(1));
        }
        let calm = evaluate(&t, &r, &[], 1000, SECS);
        let v = by_name(&calm, "harness_not_saturated");
        assert!(v.passed, "{v:?}");
        assert_eq!((v.op, v.limit, v.unit), (Op::Below, 10.0, Unit::Ms));
        assert_eq!(v.measured, Some(1.0));

        for _ in 0..10 {
            r.record(MetricKind::SchedulerLag, Duration::from_millis(38));
        }
        let lagging = evaluate(&t, &r, &[], 1000, SECS);
        let v = by_name(&lagging, "harness_not_saturated");
        assert!(!v.passed, "{v:?}");
        assert_eq!(v.measured.map(f64::round), Some(38.0));
        assert!(
            v.note
                .as_deref()
                .unwrap()
                .starts_with("saturated: scheduler lag p99 38"),
            "{v:?}"
        );

        // CPU alone fails it, the lag within its limit.
        let mut busy = recorder(&[100; 100], 10_000, 0);
        busy.harness = r.harness.map(|f| crate::HarnessFigures {
            cpu_utilisation: 0.95,
            ..f
        });
        busy.record(MetricKind::SchedulerLag, Duration::from_millis(1));
        let busy = evaluate(&t, &busy, &[], 1000, SECS);
        let v = by_name(&busy, "harness_not_saturated");
        assert!(!v.passed);
        assert!(
            v.note
                .as_deref()
                .unwrap()
                .ends_with("cpu 95 % of 2 cores > 90 %"),
            "{v:?}"
        );
    }

    fn figure(name: &str, tool: Option<&str>, side: Side, limit: f64) -> FigureTarget {
        let value = Some(LimitValue::Number(limit));
        FigureTarget {
            name: name.to_owned(),
            tool: tool.map(str::to_owned),
            min: (side == Side::Min).then(|| value.clone()).flatten(),
            max: (side == Side::Max).then_some(value).flatten(),
        }
    }

    #[test]
    fn figure_targets_judge_ratios_rates_and_per_tool_figures() {
        let mut r = recorder(&[100; 100], 40, 0);
        r.counters.tool_calls = 60;
        r.counters.retries = 25;
        r.counters.tokens_in = 9_000;
        r.counters.tokens_out = 1_000;
        for _ in 0..9 {
            r.cache_call("kb", CacheOutcome::Hit, Some(Duration::ZERO));
        }
        r.cache_call("kb", CacheOutcome::Miss, Some(Duration::from_millis(200)));
        r.cache_call("web", CacheOutcome::Miss, Some(Duration::from_millis(200)));
        r.cache_call("web", CacheOutcome::Miss, Some(Duration::from_millis(200)));
        let t = Targets {
            figure: vec![
                figure("tool_cache_hit_rate", Some("kb"), Side::Min, 0.8),
                figure("tool_cache_hit_rate", None, Side::Min, 0.8),
                figure("retries_per_call", None, Side::Max, 0.2),
                figure("tokens_per_s", None, Side::Min, 1000.0),
                figure("tool_cache_hit_rate", Some("none"), Side::Min, 0.5),
            ],
            ..Targets::default()
        };
        let v = evaluate(&t, &r, &[], 1000, SECS);
        let kb = by_name(&v, "tool_cache_hit_rate{tool:kb}");
        assert_eq!(
            (kb.measured, kb.op, kb.unit),
            (Some(0.9), Op::AtLeast, Unit::Ratio)
        );
        assert!(kb.passed);
        // Over every tool: 9 of 12 lookups.
        let all = by_name(&v, "tool_cache_hit_rate");
        assert_eq!(all.measured, Some(0.75));
        assert!(!all.passed);
        let retries = by_name(&v, "retries_per_call");
        assert_eq!((retries.measured, retries.op), (Some(0.25), Op::AtMost));
        assert!(!retries.passed);
        let tokens = by_name(&v, "tokens_per_s");
        assert_eq!((tokens.measured, tokens.unit), (Some(1000.0), Unit::PerS));
        assert!(tokens.passed, "at least: 1,000 meets 1,000");
        // No lookup of that tool: nothing measured, failed, noted.
        let none = by_name(&v, "tool_cache_hit_rate{tool:none}");
        assert_eq!(none.measured, None);
        assert!(!none.passed && none.note.is_some());
    }

    #[test]
    fn per_agent_targets() {
        let t = Targets::default();
        let mut a = AgentSummary {
            id: 1,
            turns: 10,
            ..AgentSummary::default()
        };
        for _ in 0..10 {
            a.response.record(Duration::from_millis(500));
        }
        assert!(agent_met(&t, &a));
        // The allocator's figure, when there is one, is what the memory target judges.
        a.structural_peak_bytes = t.agent_memory.0 + 1;
        assert!(!agent_met(&t, &a));
        a.heap = Some(crate::HeapFigures {
            peak_bytes: t.agent_memory.0 - 1,
            final_bytes: 0,
        });
        assert!(agent_met(&t, &a));
        a.heap = Some(crate::HeapFigures {
            peak_bytes: t.agent_memory.0,
            final_bytes: 0,
        });
        assert!(!agent_met(&t, &a));
        a.heap = None;
        a.structural_peak_bytes = 0;
        a.errors = 1;
        assert!(!agent_met(&t, &a));
        assert!(!agent_met(&t, &AgentSummary::default()));
    }
}
