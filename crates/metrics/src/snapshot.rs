//! A run's result: everything measured, the verdicts, and the process figures, as one value
//! that reports are made from and that serializes to `report.json` (`docs/report.schema.json`).
//!
//! Every section is a function of the scenario, the seed and what happened, except `process`
//! and `harness` (machine-dependent): a virtual-clock run repeated with the same seed gives
//! the same snapshot apart from `process` (it has no `harness`: only the live clock probes).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use scenario::Targets;

use crate::agent::{AgentReport, AgentSummary, MemoryMethod};
use crate::breakdown::TailBreakdown;
use crate::cache::ToolCacheSummary;
use crate::counters::{Counters, Errors};
use crate::harness::HarnessSection;
use crate::histogram::LatencyHistogram;
use crate::rates::Rates;
use crate::recorder::Recorder;
use crate::runtime::RuntimeSection;
use crate::targets::{Verdict, agent_met, error_rate, evaluate};
use crate::vocabulary::{BreakerState, Clock, StopReason};
use crate::{MetricKind, ms};

/// The report format's version; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// Figures of the process that ran the fleet: machine-dependent, informational.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessStats {
    /// Peak resident set size, bytes (`VmHWM`).
    pub peak_rss_bytes: u64,
    /// User plus system CPU time, ms.
    pub cpu_time_ms: u64,
    /// Open file descriptors at the end.
    pub open_files: u64,
    /// Agents (or open-loop sessions) alive at once, at most.
    pub agents_alive_peak: u64,
    /// Wall-clock time of the run, ms.
    pub wall_time_ms: u64,
    /// Heap the tracking allocator charged to no agent (the runtime, the shared clients, the
    /// mock, the tokenizer, the metrics), most at once, bytes; 0 without the allocator.
    pub shared_heap_peak_bytes: u64,
    /// The same at the end of the run, bytes.
    pub shared_heap_final_bytes: u64,
    /// A run merged from parts (`fleetbench merge`): each part's process, by index; the
    /// figures above then add the parts' (peak RSS and shared heap: the sum of each part's
    /// own peak) and take the longest wall time. Absent for a run of one process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartProcess>,
    /// Live parts: the latest part's start minus the earliest's, ms (how together they
    /// began their ramps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_spread_ms: Option<u64>,
}

/// The process that ran one part of a merged run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartProcess {
    /// The part's index, from 0.
    pub index: u32,
    /// The machine it ran on (its host name; empty when unknown).
    pub host: String,
    /// Live clock: when its fleet started, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_ms: Option<u64>,
    /// Its peak resident set size, bytes.
    pub peak_rss_bytes: u64,
    /// Its CPU time, ms.
    pub cpu_time_ms: u64,
    /// Its wall-clock time, ms.
    pub wall_time_ms: u64,
}

/// One of the agents that held the most memory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentMemory {
    /// The agent's id.
    pub id: u64,
    /// Its peak memory, bytes.
    pub peak_memory_bytes: u64,
}

/// How many agents [`AgentsSection::worst_memory`] lists.
pub const WORST_MEMORY_AGENTS: usize = 5;

/// One circuit breaker at the end of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSummary {
    /// `llm:<provider>` or `tool:<name>`.
    pub target: String,
    /// Its state at the end.
    pub state: BreakerState,
    /// Transitions into open.
    pub opened: u64,
    /// Transitions from open into half-open.
    pub half_opened: u64,
    /// Transitions from half-open into closed.
    pub closed: u64,
    /// Calls it rejected.
    pub rejected: u64,
}

/// Per-agent figures, summarized and listed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsSection {
    /// Agents (open loop: sessions) that existed.
    pub count: u64,
    /// Of those, agents that finished at least one turn.
    pub with_turns: u64,
    /// Agents with turns that met every per-agent target, over agents with turns.
    pub meeting_all_targets: f64,
    /// The median over agents of each agent's own response p95, ms.
    pub response_p95_median_ms: f64,
    /// The worst agent's response p95, ms.
    pub response_p95_max_ms: f64,
    /// How per-agent memory was measured: `allocator` (heap charged by the tracking allocator)
    /// or `structural` (the size of the agent's state, when the allocator is not installed).
    pub memory_method: MemoryMethod,
    /// The median over agents of each agent's peak memory, bytes.
    pub peak_memory_p50_bytes: u64,
    /// The 95th percentile over agents of each agent's peak memory, bytes.
    pub peak_memory_p95_bytes: u64,
    /// The largest peak memory of any agent, bytes.
    pub peak_memory_max_bytes: u64,
    /// Memory all agents held after their last turns, summed, bytes.
    pub final_memory_total_bytes: u64,
    /// The agents with the largest peaks, largest first (ties by id).
    pub worst_memory: Vec<AgentMemory>,
    /// Every agent, by id.
    pub list: Vec<AgentReport>,
}

/// Everything a run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSnapshot {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The fleetbench version that ran.
    pub fleetbench_version: String,
    /// The scenario's name.
    pub scenario: String,
    /// The run seed.
    pub seed: u64,
    /// `live` or `virtual`.
    pub clock: Clock,
    /// The parts the fleet ran as (`fleet.shards`; 1 for one fleet sharing every limit).
    pub shards: u32,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Fleet time from the start to the stop, ms (simulated time under the virtual clock).
    pub simulated_ms: u64,
    /// Whether every target passed.
    pub passed: bool,
    /// One verdict per target.
    pub targets: Vec<Verdict>,
    /// Turns per second that succeeded within the response target.
    pub goodput_turns_per_s: f64,
    /// LLM calls, tool calls and tokens per second of `simulated_ms` ([`Rates`]); reports of
    /// builds before it have none and read as all 0.
    #[serde(default)]
    pub rates: Rates,
    /// Failed logical calls over logical calls (`null` with no calls).
    pub error_rate: Option<f64>,
    /// Counts.
    pub counters: Counters,
    /// Errors per class and kind.
    pub errors: Errors,
    /// One histogram per metric that saw a value.
    pub latency: BTreeMap<MetricKind, LatencyHistogram>,
    /// Where the time of turns at or above p95 went.
    pub breakdown: TailBreakdown,
    /// Circuit breakers.
    pub breakers: Vec<BreakerSummary>,
    /// The tool cache, per tool that has one, by tool name; absent when no tool caches, so
    /// reports of runs without a cache are unchanged by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_cache: Vec<ToolCacheSummary>,
    /// Per-agent figures.
    pub agents: AgentsSection,
    /// Machine-dependent figures.
    pub process: ProcessStats,
    /// Live clock: whether the harness itself was saturated ([`HarnessSection`]); absent
    /// under the virtual clock, so virtual reports are unchanged by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness: Option<HarnessSection>,
    /// `[agent] kind = "http"`: the runtime under test ([`RuntimeSection`]); absent for
    /// fleetbench's own agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeSection>,
    /// A run merged from parts with `--allow-missing`: the indices of the parts it lacks (its
    /// figures are those of the others alone). Absent when every part is in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_parts: Vec<u32>,
}

/// What [`RunSnapshot::build`] needs.
#[derive(Debug)]
pub struct SnapshotInput<'a> {
    /// The scenario's name.
    pub scenario: String,
    /// The run seed.
    pub seed: u64,
    /// The clock it ran on.
    pub clock: Clock,
    /// The parts the fleet ran as.
    pub shards: u32,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Fleet time from the start to the stop.
    pub simulated: Duration,
    /// Everything recorded, merged.
    pub recorder: Recorder,
    /// Every agent's totals.
    pub agents: Vec<AgentSummary>,
    /// The targets to judge by.
    pub targets: &'a Targets,
    /// Breakers at the end.
    pub breakers: Vec<BreakerSummary>,
    /// Process figures (its `agents_alive_peak` is judged by `min_concurrent_agents`).
    pub process: ProcessStats,
    /// How the agents' memory figures were measured.
    pub memory_method: MemoryMethod,
}

impl RunSnapshot {
    /// Evaluates the targets and assembles the snapshot.
    pub fn build(input: SnapshotInput<'_>) -> Self {
        let SnapshotInput {
            scenario,
            seed,
            clock,
            shards,
            stop,
            simulated,
            recorder,
            mut agents,
            targets,
            breakers,
            process,
            memory_method,
        } = input;
        agents.sort_by_key(|a| a.id);
        let verdicts = evaluate(
            targets,
            &recorder,
            &agents,
            process.agents_alive_peak,
            simulated,
        );
        let harness = HarnessSection::of(&recorder);
        let response = recorder.histogram(MetricKind::AgentResponse);
        let breakdown = recorder.breakdown.tail(response.quantile(0.95));
        let list: Vec<AgentReport> = agents
            .iter()
            .map(|a| AgentReport::new(a, agent_met(targets, a)))
            .collect();
        let with_turns: Vec<&AgentReport> = list.iter().filter(|a| a.turns > 0).collect();
        let mut p95s: Vec<f64> = with_turns.iter().map(|a| a.response_p95_ms).collect();
        p95s.sort_by(f64::total_cmp);
        let met = with_turns.iter().filter(|a| a.met_all_targets).count();
        let mut peaks: Vec<u64> = list.iter().map(|a| a.peak_memory_bytes).collect();
        peaks.sort_unstable();
        let mut worst: Vec<AgentMemory> = list
            .iter()
            .map(|a| AgentMemory {
                id: a.id,
                peak_memory_bytes: a.peak_memory_bytes,
            })
            .collect();
        worst.sort_by(|a, b| (b.peak_memory_bytes, a.id).cmp(&(a.peak_memory_bytes, b.id)));
        worst.truncate(WORST_MEMORY_AGENTS);
        let agents_section = AgentsSection {
            count: list.len() as u64,
            with_turns: with_turns.len() as u64,
            meeting_all_targets: if with_turns.is_empty() {
                0.0
            } else {
                met as f64 / with_turns.len() as f64
            },
            response_p95_median_ms: p95s
                .get(p95s.len().saturating_sub(1) / 2)
                .copied()
                .unwrap_or(0.0),
            response_p95_max_ms: p95s.last().copied().unwrap_or(0.0),
            memory_method,
            peak_memory_p50_bytes: nearest_rank(&peaks, 0.50),
            peak_memory_p95_bytes: nearest_rank(&peaks, 0.95),
            peak_memory_max_bytes: peaks.last().copied().unwrap_or(0),
            final_memory_total_bytes: list.iter().map(|a| a.final_memory_bytes).sum(),
            worst_memory: worst,
            list,
        };
        let secs = simulated.as_secs_f64();
        RunSnapshot {
            schema_version: SCHEMA_VERSION,
            fleetbench_version: env!("CARGO_PKG_VERSION").to_owned(),
            scenario,
            seed,
            clock,
            shards,
            stop,
            simulated_ms: u64::try_from(simulated.as_millis()).unwrap_or(u64::MAX),
            passed: verdicts.iter().all(|v| v.passed),
            targets: verdicts,
            goodput_turns_per_s: if secs > 0.0 {
                (recorder.counters.turns_on_target as f64 / secs * 1000.0).round() / 1000.0
            } else {
                0.0
            },
            rates: Rates::of(&recorder.counters, simulated),
            error_rate: error_rate(&recorder),
            counters: recorder.counters,
            errors: recorder.errors,
            latency: recorder.latency,
            breakdown,
            breakers,
            tool_cache: ToolCacheSummary::all(&recorder.tool_cache),
            agents: agents_section,
            process,
            harness,
            runtime: None,
            missing_parts: Vec::new(),
        }
    }

    /// The p95 of `agent_response`, ms (0 when no turn finished).
    pub fn response_p95_ms(&self) -> f64 {
        self.latency
            .get(&MetricKind::AgentResponse)
            .map_or(0.0, |h| ms(h.quantile(0.95)))
    }
}

/// The nearest-rank `q` quantile of sorted `values` (0 when empty).
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallClass, ErrorKind};

    fn input(targets: &Targets) -> SnapshotInput<'_> {
        let mut r = Recorder::default();
        for i in 0..100u64 {
            r.record(MetricKind::AgentResponse, Duration::from_millis(100 + i));
            r.record(MetricKind::ContextBuild, Duration::from_micros(30));
        }
        r.counters.turns = 100;
        r.counters.turns_on_target = 100;
        r.counters.llm_calls = 100;
        r.error(CallClass::Tool, ErrorKind::Timeout);
        r.counters.tool_calls = 2000;
        let mut agent = AgentSummary {
            id: 7,
            turns: 3,
            ..AgentSummary::default()
        };
        agent.response.record(Duration::from_millis(120));
        SnapshotInput {
            scenario: "t".to_owned(),
            seed: 1,
            clock: Clock::Virtual,
            shards: 1,
            stop: StopReason::Duration,
            simulated: Duration::from_secs(10),
            recorder: r,
            agents: vec![
                agent,
                AgentSummary {
                    id: 3,
                    ..AgentSummary::default()
                },
            ],
            targets,
            breakers: Vec::new(),
            process: ProcessStats {
                agents_alive_peak: 1000,
                ..ProcessStats::default()
            },
            memory_method: MemoryMethod::Structural,
        }
    }

    #[test]
    fn memory_summary_over_agents() {
        let targets = Targets::default();
        let mut input = input(&targets);
        input.memory_method = MemoryMethod::Allocator;
        input.agents = (0..20u64)
            .map(|id| AgentSummary {
                id,
                turns: 1,
                structural_peak_bytes: 1,
                heap: Some(crate::HeapFigures {
                    // Agents 0..20 peak at 1_000..20_000, except 13 which peaks highest.
                    peak_bytes: if id == 13 { 50_000 } else { (id + 1) * 1000 },
                    final_bytes: id,
                }),
                ..AgentSummary::default()
            })
            .collect();
        let s = RunSnapshot::build(input);
        let a = &s.agents;
        assert_eq!(a.memory_method, MemoryMethod::Allocator);
        assert_eq!(a.peak_memory_max_bytes, 50_000);
        // Sorted peaks: 1k..13k, 15k..20k, 50k; nearest rank 10 of 20 and 19 of 20.
        assert_eq!(a.peak_memory_p50_bytes, 10_000);
        assert_eq!(a.peak_memory_p95_bytes, 20_000);
        assert_eq!(a.final_memory_total_bytes, (0..20).sum::<u64>());
        let worst: Vec<(u64, u64)> = a
            .worst_memory
            .iter()
            .map(|w| (w.id, w.peak_memory_bytes))
            .collect();
        assert_eq!(
            worst,
            [
                (13, 50_000),
                (19, 20_000),
                (18, 19_000),
                (17, 18_000),
                (16, 17_000)
            ]
        );
        assert_eq!(a.list[13].peak_memory_bytes, 50_000);
        assert_eq!(a.list[13].structural_peak_bytes, 1);
        // The memory target judges the allocator's figure.
        let memory = s
            .targets
            .iter()
            .find(|v| v.target == "agent_memory")
            .expect("the agent_memory verdict");
        assert_eq!(memory.measured, Some(50_000.0));
    }

    #[test]
    fn builds_and_round_trips() {
        let targets = Targets::default();
        let s = RunSnapshot::build(input(&targets));
        assert!(s.passed, "{:#?}", s.targets);
        assert_eq!(s.goodput_turns_per_s, 10.0);
        assert_eq!(s.rates.llm_calls_per_s, 10.0);
        assert_eq!(s.rates.tool_calls_per_s, 200.0);
        assert_eq!(s.agents.count, 2);
        assert_eq!(s.agents.with_turns, 1);
        assert_eq!(s.agents.meeting_all_targets, 1.0);
        assert_eq!(s.agents.list[0].id, 3);
        assert!(s.error_rate.unwrap() > 0.0);
        let json = serde_json::to_string_pretty(&s).unwrap();
        let back: RunSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v["latency"]["agent_response"]["p95_ms"].as_f64().unwrap() >= 194.0);
        assert_eq!(v["errors"]["calls"]["tool"]["timeout"], 1);
    }

    #[test]
    fn only_a_probed_run_has_a_harness_section() {
        let targets = Targets::default();
        let s = RunSnapshot::build(input(&targets));
        assert_eq!(s.harness, None);
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("harness"), "{json}");

        let mut probed = input(&targets);
        probed.clock = Clock::Live;
        probed.recorder.harness = Some(crate::HarnessFigures {
            probe_interval: Duration::from_millis(10),
            cores: 2,
            cpu_utilisation: 0.991,
            cpu_utilisation_peak: 1.0,
            cpu_window: Duration::from_secs(1),
        });
        probed
            .recorder
            .record(MetricKind::SchedulerLag, Duration::from_millis(25));
        let s = RunSnapshot::build(probed);
        let h = s.harness.as_ref().expect("the probe ran");
        assert!(h.saturated);
        assert_eq!(
            h.reasons,
            [
                crate::SaturationReason::SchedulerLag,
                crate::SaturationReason::Cpu
            ]
        );
        assert!(s.passed, "not a target unless asked: {:#?}", s.targets);
        let json = serde_json::to_string_pretty(&s).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["harness"]["saturated"], true);
        assert_eq!(v["harness"]["cores"], 2);
        assert_eq!(v["latency"]["scheduler_lag"]["count"], 1);
        let back: RunSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_failed_target_fails_the_run() {
        let targets = Targets {
            agent_response_p95: scenario::Dur::millis(150),
            ..Targets::default()
        };
        let s = RunSnapshot::build(input(&targets));
        assert!(!s.passed);
        assert_eq!(
            s.agents.meeting_all_targets, 1.0,
            "the agent's own p95 is 120 ms"
        );
    }
}
