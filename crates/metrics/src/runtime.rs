//! [`RuntimeSection`]: what a run with an HTTP agent (`[agent] kind = "http"`) learns about the
//! runtime under test, beyond the figures every run has: how many of its LLM and tool calls
//! were attributed to a session, the share of response time that was framework overhead,
//! its failures told apart from the faults the mock injected, and its memory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::breakdown::{TailBreakdown, TailPart};
use crate::error::ErrorKind;
use crate::histogram::LatencyHistogram;
use crate::snapshot::RunSnapshot;
use crate::vocabulary::StatedTarget;
use crate::{MetricKind, TargetId};

/// The runtime under test.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeSection {
    /// Its endpoint, as the scenario wrote it.
    pub url: String,
    /// LLM calls the embedded mock attributed to a session.
    pub llm_calls: u64,
    /// Tool calls (HTTP and MCP) it attributed to a session.
    pub tool_calls: u64,
    /// LLM calls that carried no session marker (a runtime that rewrote or dropped the
    /// user's text, or another client of the mock): not in any turn's split.
    pub unattributed_llm_calls: u64,
    /// Tool calls that carried none (a tool whose arguments hold no string).
    pub unattributed_tool_calls: u64,
    /// Framework overhead over response time, summed over successful turns (`null`
    /// without one).
    pub overhead_share: Option<f64>,
    /// Failed turns by cause.
    pub failures: RuntimeFailures,
    /// The runtime's memory (`--pid` or `--cgroup`); absent when not sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<RuntimeMemory>,
}

/// A runtime's failed turns, told apart by cause.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeFailures {
    /// Turns that failed with no fault injected into any of their calls: the runtime's own
    /// failures, by kind (its status, a timeout, an answer without text).
    pub own: BTreeMap<ErrorKind, u64>,
    /// Turns that failed after the mock injected a fault into one of their calls: the
    /// runtime passed the fault on to the user, by kind.
    pub after_injected_fault: BTreeMap<ErrorKind, u64>,
    /// Turns that succeeded although a fault was injected into one of their calls: the
    /// runtime recovered (retried, fell back, or answered without the tool).
    pub faults_absorbed: u64,
    /// What the first failure of each kind said (a status and the body's start, a timeout),
    /// to tell what broke without a log.
    pub examples: BTreeMap<ErrorKind, String>,
}

/// The runtime's resident memory over the run, against its live sessions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeMemory {
    /// What was read: `pid 1234 (VmRSS)` or the cgroup file.
    pub source: String,
    /// Samples taken.
    pub samples: u64,
    /// Before the first session, bytes.
    pub baseline_bytes: u64,
    /// The most seen, bytes.
    pub peak_bytes: u64,
    /// Sessions live at once at most while sampling.
    pub live_sessions_peak: u64,
    /// Memory per live session, bytes: the least-squares slope of memory against live
    /// sessions (`null` when the number of live sessions never changed between samples).
    pub per_agent_bytes: Option<f64>,
    /// How well a line explains the samples (R², 0 to 1): near 1, memory grows with live
    /// sessions; near 0, it moves for other reasons and the slope says little.
    pub fit_r2: Option<f64>,
    /// The per-agent memory target, bytes (`[targets] agent_memory`).
    pub target_bytes: u64,
    /// Whether the slope is below the target (`null` without a slope).
    pub passed: Option<bool>,
}

impl RuntimeMemory {
    /// The figures of `samples` (live sessions, bytes) read from `source`, against
    /// `target_bytes` per agent.
    pub fn of(source: String, samples: &[(u64, u64)], target_bytes: u64) -> Self {
        let (slope, r2) = fit(samples).unzip();
        Self {
            source,
            samples: samples.len() as u64,
            baseline_bytes: samples.first().map_or(0, |s| s.1),
            peak_bytes: samples.iter().map(|s| s.1).max().unwrap_or(0),
            live_sessions_peak: samples.iter().map(|s| s.0).max().unwrap_or(0),
            per_agent_bytes: slope,
            fit_r2: r2,
            target_bytes,
            passed: slope.map(|b| b < target_bytes as f64),
        }
    }
}

impl RunSnapshot {
    /// Adds what the HTTP agent driver measured: the runtime's section, the per-turn split
    /// (`turn_llm`, `turn_tools`, `framework_overhead`) to `latency`, and two targets judged
    /// on the runtime instead of fleetbench's own agents: `error_rate` becomes failed turns
    /// over turns (what the runtime's users meet; its calls' errors stay in `errors`), and
    /// `agent_memory` the runtime's memory per live session (or nothing, when not sampled).
    ///
    /// `turns` is each successful turn's split: response, LLM, tools, overhead. The tail
    /// breakdown becomes theirs (the calls alone cannot tell tools from overhead), and the
    /// figures of fleetbench's own clients and conversation (limiter and pool waits, context
    /// build) go: a runtime's calls never pass through them.
    pub fn attach_runtime(
        &mut self,
        section: RuntimeSection,
        split: BTreeMap<MetricKind, LatencyHistogram>,
        turns: &[TurnSplit],
    ) {
        for (kind, h) in split {
            self.latency.entry(kind).or_default().merge(&h);
        }
        for kind in [
            MetricKind::LimiterWait,
            MetricKind::PoolWait,
            MetricKind::ContextBuild,
        ] {
            self.latency.remove(&kind);
        }
        self.breakdown = tail(turns);
        let turns = self.counters.turns;
        let rate = (turns > 0).then(|| self.counters.turns_failed as f64 / turns as f64);
        self.error_rate = rate;
        for v in &mut self.targets {
            if v.target == TargetId::Stated(StatedTarget::ErrorRate) {
                v.measured = rate;
                v.passed = rate.is_some_and(|r| r == 0.0 || r < v.limit);
                v.note = Some(
                    match rate {
                        Some(_) => "failed turns over turns of the runtime under test",
                        None => "no turn finished",
                    }
                    .to_owned(),
                );
            }
            if v.target == TargetId::Stated(StatedTarget::ContextBuildP99) {
                v.measured = None;
                v.passed = true;
                v.note = Some(
                    "not measured: the runtime's memory retrieval is its own (framework_overhead holds it)"
                        .to_owned(),
                );
            }
            if v.target == TargetId::Stated(StatedTarget::AgentMemory) {
                let slope = section.memory.as_ref().and_then(|m| m.per_agent_bytes);
                v.measured = slope;
                v.passed = slope.is_none_or(|b| b < v.limit);
                v.note = Some(
                    match (&section.memory, slope) {
                        (Some(_), Some(_)) => "the runtime's memory per live session (runtime.memory)",
                        (Some(_), None) => "not measured: live sessions never changed while memory was sampled",
                        (None, _) => "the runtime's memory was not sampled: run with --pid PID or --cgroup PATH",
                    }
                    .to_owned(),
                );
            }
        }
        self.passed = self.targets.iter().all(|v| v.passed);
        self.runtime = Some(section);
    }
}

/// One successful turn of a runtime, split: response, LLM, tools, framework overhead.
pub type TurnSplit = [std::time::Duration; 4];

/// Where the time of the turns at or above the p95 response went: LLM, tools, overhead.
fn tail(turns: &[TurnSplit]) -> TailBreakdown {
    let mut responses: Vec<_> = turns.iter().map(|t| t[0]).collect();
    responses.sort_unstable();
    let Some(&threshold) = responses.get(responses.len() * 95 / 100) else {
        return TailBreakdown::default();
    };
    let slow: Vec<&TurnSplit> = turns.iter().filter(|t| t[0] >= threshold).collect();
    let n = slow.len() as f64;
    let mean = |i: usize| slow.iter().map(|t| crate::ms(t[i])).sum::<f64>() / n;
    let response = mean(0);
    let parts: BTreeMap<String, TailPart> = ["llm", "tools", "framework_overhead"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let mean_ms = mean(i + 1);
            let share = if response > 0.0 {
                mean_ms / response
            } else {
                0.0
            };
            (name.to_owned(), TailPart { mean_ms, share })
        })
        .collect();
    let bottleneck = parts
        .iter()
        .max_by(|a, b| a.1.mean_ms.total_cmp(&b.1.mean_ms))
        .map(|(name, _)| name.clone());
    TailBreakdown {
        threshold_ms: crate::ms(threshold),
        turns: slow.len() as u64,
        mean_response_ms: response,
        parts,
        bottleneck,
    }
}

/// The least-squares line of bytes against live sessions: its slope and R²; `None` when
/// live sessions never varied.
fn fit(samples: &[(u64, u64)]) -> Option<(f64, f64)> {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return None;
    }
    let mean_x = samples.iter().map(|s| s.0 as f64).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.1 as f64).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in samples {
        let (dx, dy) = (x as f64 - mean_x, y as f64 - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy == 0.0 {
        1.0
    } else {
        (sxy * sxy) / (sxx * syy)
    };
    Some((slope, r2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_per_agent_is_the_slope_against_live_sessions() {
        // 50 MB of runtime, then 2 MB a session, with noise that cancels out.
        let samples: Vec<(u64, u64)> = (0..=100u64)
            .map(|live| {
                let noise = if live % 2 == 0 { 100_000 } else { 0 };
                (live, 50_000_000 + live * 2_000_000 + noise)
            })
            .collect();
        let m = RuntimeMemory::of("pid 1".into(), &samples, 100_000_000);
        let slope = m.per_agent_bytes.unwrap();
        assert!((slope - 2_000_000.0).abs() < 5_000.0, "{slope}");
        assert!(m.fit_r2.unwrap() > 0.99);
        assert_eq!(m.baseline_bytes, 50_100_000);
        assert_eq!(m.live_sessions_peak, 100);
        assert_eq!(m.passed, Some(true));
        assert_eq!(
            RuntimeMemory::of("x".into(), &samples, 1_000_000).passed,
            Some(false)
        );
    }

    #[test]
    fn no_slope_without_a_change_in_live_sessions() {
        let m = RuntimeMemory::of("pid 1".into(), &[(3, 10), (3, 20)], 100);
        assert_eq!(m.per_agent_bytes, None);
        assert_eq!(m.passed, None);
        assert_eq!(m.peak_bytes, 20);
    }
}
