//! `[targets]`: the stated performance targets a run is judged against.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::units::{Bytes, Dur, Probability};

pub mod figures;

use figures::{FigureName, FigureTarget};

/// The latency metrics a target can name (`docs/metrics.md` defines when each timer starts
/// and stops).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyMetric {
    /// A turn: user message to final answer, everything included.
    AgentResponse,
    /// A logical LLM call with waits and retries.
    LlmCall,
    /// One HTTP attempt of an LLM call.
    LlmAttempt,
    /// Time to first token of an attempt.
    Ttft,
    /// Gap between two streamed tokens.
    InterToken,
    /// A logical tool call with waits and retries.
    ToolCall,
    /// One attempt of a tool call.
    ToolAttempt,
    /// Waiting for the rate limiter.
    LimiterWait,
    /// Waiting for a pool slot.
    PoolWait,
    /// Assembling the prompt from conversation state ("memory retrieval").
    ContextBuild,
    /// Running the compression strategy.
    Compression,
    /// Open loop: how late a session started against its schedule.
    ScheduleDelay,
    /// Live clock: how late the harness's own probe woke up against its timer (the runtime's
    /// scheduling lag; `docs/metrics.md`, "Harness saturation").
    SchedulerLag,
    /// An HTTP agent's turn: the time the runtime's LLM calls took, as the mock served them
    /// (overlapping calls counted once).
    TurnLlm,
    /// An HTTP agent's turn: the time its tool calls took beyond its LLM calls, as the mock
    /// served them (parallel calls counted once).
    TurnTools,
    /// An HTTP agent's turn: the rest of the response time, neither LLM nor tool: the
    /// runtime's own queueing, orchestration, serialization and retry waits.
    FrameworkOverhead,
}

impl LatencyMetric {
    /// Every metric, in the declared order (the order of a report's `latency` section).
    pub const ALL: [LatencyMetric; 16] = [
        LatencyMetric::AgentResponse,
        LatencyMetric::LlmCall,
        LatencyMetric::LlmAttempt,
        LatencyMetric::Ttft,
        LatencyMetric::InterToken,
        LatencyMetric::ToolCall,
        LatencyMetric::ToolAttempt,
        LatencyMetric::LimiterWait,
        LatencyMetric::PoolWait,
        LatencyMetric::ContextBuild,
        LatencyMetric::Compression,
        LatencyMetric::ScheduleDelay,
        LatencyMetric::SchedulerLag,
        LatencyMetric::TurnLlm,
        LatencyMetric::TurnTools,
        LatencyMetric::FrameworkOverhead,
    ];

    /// The metric named `name` in files and reports.
    pub fn parse(name: &str) -> Option<LatencyMetric> {
        LatencyMetric::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The snake_case name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyMetric::AgentResponse => "agent_response",
            LatencyMetric::LlmCall => "llm_call",
            LatencyMetric::LlmAttempt => "llm_attempt",
            LatencyMetric::Ttft => "ttft",
            LatencyMetric::InterToken => "inter_token",
            LatencyMetric::ToolCall => "tool_call",
            LatencyMetric::ToolAttempt => "tool_attempt",
            LatencyMetric::LimiterWait => "limiter_wait",
            LatencyMetric::PoolWait => "pool_wait",
            LatencyMetric::ContextBuild => "context_build",
            LatencyMetric::Compression => "compression",
            LatencyMetric::ScheduleDelay => "schedule_delay",
            LatencyMetric::SchedulerLag => "scheduler_lag",
            LatencyMetric::TurnLlm => "turn_llm",
            LatencyMetric::TurnTools => "turn_tools",
            LatencyMetric::FrameworkOverhead => "framework_overhead",
        }
    }
}

impl fmt::Display for LatencyMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[targets]`. The defaults are the stated targets: agent response p95 < 2 s, tool execution
/// p90 < 5 s, memory retrieval p99 < 100 ms, 1,000+ concurrent agents, < 100 MB per agent,
/// error rate < 0.1 %; `harness_not_saturated` is off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Targets {
    /// p95 of `agent_response` must stay below this.
    pub agent_response_p95: Dur,
    /// p90 of `tool_call` must stay below this.
    pub tool_call_p90: Dur,
    /// p99 of `context_build` must stay below this.
    pub context_build_p99: Dur,
    /// Agents alive at once must reach at least this.
    pub min_concurrent_agents: u32,
    /// Peak heap of every agent must stay below this.
    pub agent_memory: Bytes,
    /// Failed logical calls over all logical calls must stay below this.
    pub error_rate: Probability,
    /// The run must not have saturated the harness (live clock: the runtime's scheduling lag
    /// and the process's CPU stayed below their thresholds, `docs/metrics.md`). Off by default:
    /// a saturated run still reports, flagged, but passes.
    pub harness_not_saturated: bool,
    /// Further latency targets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<LatencyTarget>,
    /// Limits on any figure of the registry ([`FigureName`]): `[[targets.figure]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub figure: Vec<FigureTarget>,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            agent_response_p95: Dur::secs(2),
            tool_call_p90: Dur::secs(5),
            context_build_p99: Dur::millis(100),
            min_concurrent_agents: 1000,
            agent_memory: Bytes(100_000_000),
            error_rate: Probability(0.001),
            harness_not_saturated: false,
            extra: Vec::new(),
            figure: Vec::new(),
        }
    }
}

/// `[[targets.extra]]`: percentile `percentile` of `metric` must stay below `max`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyTarget {
    /// The metric.
    pub metric: LatencyMetric,
    /// The percentile, in (0, 100].
    pub percentile: f64,
    /// The limit.
    pub max: Dur,
}

/// A target with its own key in `[targets]`: one spelling each, in the scenario file, in a
/// budget and in a report's verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatedTarget {
    /// `agent_response_p95`.
    AgentResponseP95,
    /// `tool_call_p90`.
    ToolCallP90,
    /// `context_build_p99`.
    ContextBuildP99,
    /// `min_concurrent_agents`.
    MinConcurrentAgents,
    /// `agent_memory`.
    AgentMemory,
    /// `error_rate`.
    ErrorRate,
    /// `harness_not_saturated`.
    HarnessNotSaturated,
}

impl StatedTarget {
    /// Every stated target, in the order of [`Targets`]' fields (and of a report's verdicts).
    pub const ALL: [StatedTarget; 7] = [
        StatedTarget::AgentResponseP95,
        StatedTarget::ToolCallP90,
        StatedTarget::ContextBuildP99,
        StatedTarget::MinConcurrentAgents,
        StatedTarget::AgentMemory,
        StatedTarget::ErrorRate,
        StatedTarget::HarnessNotSaturated,
    ];

    /// The key as written in `[targets]` and in a verdict.
    pub fn as_str(self) -> &'static str {
        match self {
            StatedTarget::AgentResponseP95 => "agent_response_p95",
            StatedTarget::ToolCallP90 => "tool_call_p90",
            StatedTarget::ContextBuildP99 => "context_build_p99",
            StatedTarget::MinConcurrentAgents => "min_concurrent_agents",
            StatedTarget::AgentMemory => "agent_memory",
            StatedTarget::ErrorRate => "error_rate",
            StatedTarget::HarnessNotSaturated => "harness_not_saturated",
        }
    }

    /// The stated target named `name`.
    pub fn parse(name: &str) -> Option<StatedTarget> {
        StatedTarget::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for StatedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verdict judged: a stated target, one of `[[targets.extra]]`, named
/// `<metric>_p<percentile>` (`ttft_p99`, `llm_call_p99.9`), or one of `[[targets.figure]]`,
/// named by its figure (`tool_cache_hit_rate`, with `{tool:NAME}` for one tool). On the wire
/// it is that name, a string; a name is read as a stated target first, so an extra target that
/// spells like one (`agent_response` at 95) reads back as the stated one, the same bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetId {
    /// A target with its own key.
    Stated(StatedTarget),
    /// A percentile of a latency metric.
    Extra {
        /// The metric.
        metric: LatencyMetric,
        /// The percentile, in (0, 100].
        percentile: f64,
    },
    /// A figure of the registry, over every tool or of one.
    Figure {
        /// The figure.
        figure: FigureName,
        /// The tool, for a per-tool figure.
        tool: Option<String>,
    },
}

impl TargetId {
    /// The stated target, if it is one.
    pub fn stated(&self) -> Option<StatedTarget> {
        match self {
            TargetId::Stated(t) => Some(*t),
            TargetId::Extra { .. } | TargetId::Figure { .. } => None,
        }
    }
}

impl From<StatedTarget> for TargetId {
    fn from(t: StatedTarget) -> Self {
        TargetId::Stated(t)
    }
}

impl From<&LatencyTarget> for TargetId {
    fn from(t: &LatencyTarget) -> Self {
        TargetId::Extra {
            metric: t.metric,
            percentile: t.percentile,
        }
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetId::Stated(t) => f.write_str(t.as_str()),
            TargetId::Extra { metric, percentile } => write!(f, "{metric}_p{percentile}"),
            TargetId::Figure { figure, tool: None } => f.write_str(figure.as_str()),
            TargetId::Figure {
                figure,
                tool: Some(tool),
            } => write!(f, "{figure}{{tool:{tool}}}"),
        }
    }
}

impl PartialEq<StatedTarget> for TargetId {
    fn eq(&self, other: &StatedTarget) -> bool {
        *self == TargetId::Stated(*other)
    }
}

/// Whether `name` names the target (for tests and lookups by name).
impl PartialEq<&str> for TargetId {
    fn eq(&self, name: &&str) -> bool {
        match self {
            TargetId::Stated(t) => t.as_str() == *name,
            TargetId::Extra { metric, percentile } => name
                .strip_prefix(metric.as_str())
                .and_then(|rest| rest.strip_prefix("_p"))
                .is_some_and(|p| p.parse::<f64>() == Ok(*percentile)),
            TargetId::Figure { figure, tool } => match tool {
                None => figure.as_str() == *name,
                Some(tool) => {
                    name.strip_prefix(figure.as_str())
                        .and_then(|rest| rest.strip_prefix("{tool:"))
                        .and_then(|rest| rest.strip_suffix('}'))
                        == Some(tool.as_str())
                }
            },
        }
    }
}

/// A name that is no target: neither a stated one, nor `<metric>_p<percentile>`, nor a figure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown target `{0}`: use a key of [targets] (agent_response_p95, tool_call_p90, \
     context_build_p99, min_concurrent_agents, agent_memory, error_rate, \
     harness_not_saturated), `<metric>_p<percentile>`, like `ttft_p99`, or a figure, like \
     `tool_cache_hit_rate` or `tool_cache_hit_rate{{tool:search}}`"
)]
pub struct UnknownTarget(pub String);

impl std::str::FromStr for TargetId {
    type Err = UnknownTarget;

    /// Reads the name [`TargetId`]'s `Display` writes, and only that spelling (`ttft_p99`,
    /// not `ttft_p99.0`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if let Some(t) = StatedTarget::parse(name) {
            return Ok(TargetId::Stated(t));
        }
        let extra = name.rsplit_once("_p").and_then(|(metric, percentile)| {
            let metric = LatencyMetric::parse(metric)?;
            let p: f64 = percentile.parse().ok()?;
            (p > 0.0 && p <= 100.0 && p.to_string() == percentile).then_some(TargetId::Extra {
                metric,
                percentile: p,
            })
        });
        let figure = || {
            let (figure, tool) = match name.strip_suffix('}').and_then(|n| n.split_once("{tool:")) {
                Some((figure, tool)) => (figure, Some(tool.to_owned())),
                None => (name, None),
            };
            let figure = FigureName::parse(figure)?;
            (tool.is_none() || figure.per_tool()).then_some(TargetId::Figure { figure, tool })
        };
        extra
            .or_else(figure)
            .ok_or_else(|| UnknownTarget(name.to_owned()))
    }
}

impl Serialize for TargetId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TargetId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_not_saturated_is_off_unless_set() {
        let t: Targets = toml::from_str("").unwrap();
        assert!(!t.harness_not_saturated);
        let t: Targets = toml::from_str(
            "harness_not_saturated = true\n[[extra]]\nmetric = \"scheduler_lag\"\npercentile = 99\nmax = \"5ms\"\n",
        )
        .unwrap();
        assert!(t.harness_not_saturated);
        assert_eq!(t.extra[0].metric, LatencyMetric::SchedulerLag);
        assert_eq!(t.extra[0].metric.as_str(), "scheduler_lag");
    }

    #[test]
    fn target_names_one_spelling_each() {
        for t in StatedTarget::ALL {
            let id = TargetId::from(t);
            let wire = toml::Value::try_from(&id).unwrap();
            assert_eq!(wire.as_str(), Some(t.as_str()));
            assert_eq!(wire.try_into::<TargetId>(), Ok(id.clone()));
            assert_eq!(t.as_str().parse::<TargetId>(), Ok(id.clone()));
            assert_eq!(id, t.as_str());
            let derived: Result<StatedTarget, serde::de::value::Error> = StatedTarget::deserialize(
                serde::de::IntoDeserializer::into_deserializer(t.as_str()),
            );
            assert_eq!(derived, Ok(t));
        }
        let extra = TargetId::Extra {
            metric: LatencyMetric::LlmCall,
            percentile: 99.9,
        };
        assert_eq!(extra.to_string(), "llm_call_p99.9");
        assert!(extra == "llm_call_p99.9" && extra != "llm_call_p99" && extra != "ttft_p99.9");
        assert_eq!("llm_call_p99.9".parse::<TargetId>(), Ok(extra));
        assert_eq!(
            "ttft_p99".parse::<TargetId>(),
            Ok(TargetId::Extra {
                metric: LatencyMetric::Ttft,
                percentile: 99.0
            })
        );
        for bad in [
            "ttft_p99.0",
            "ttft_p0",
            "ttft_p101",
            "ttft_pfast",
            "tft_p99",
            "p99",
            "",
        ] {
            assert!(bad.parse::<TargetId>().is_err(), "{bad}");
        }
        for m in LatencyMetric::ALL {
            assert_eq!(LatencyMetric::parse(m.as_str()), Some(m));
        }
    }

    #[test]
    fn figure_targets_spell_their_figure_and_tool() {
        let hit_rate = TargetId::Figure {
            figure: FigureName::ToolCacheHitRate,
            tool: Some("kb_search".to_owned()),
        };
        assert_eq!(hit_rate.to_string(), "tool_cache_hit_rate{tool:kb_search}");
        assert_eq!(
            "tool_cache_hit_rate{tool:kb_search}".parse::<TargetId>(),
            Ok(hit_rate.clone())
        );
        assert!(hit_rate == "tool_cache_hit_rate{tool:kb_search}");
        assert_eq!(
            "retries_per_call".parse::<TargetId>(),
            Ok(TargetId::Figure {
                figure: FigureName::RetriesPerCall,
                tool: None
            })
        );
        // A run-wide figure has no tool; an unknown figure is no target.
        assert!("goodput{tool:x}".parse::<TargetId>().is_err());
        assert!("tool_cache_hitrate".parse::<TargetId>().is_err());
        // No figure spells like a stated target or a latency percentile.
        for f in FigureName::ALL {
            let id: TargetId = f.as_str().parse().unwrap();
            assert!(matches!(id, TargetId::Figure { .. }), "{f}");
        }
        let t: Targets = toml::from_str(
            "[[figure]]\nname = \"tool_cache_hit_rate\"\ntool = \"kb\"\nmin = 0.8\n[[figure]]\nname = \"tool_cache_latency_saved\"\nmin = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(t.figure.len(), 2);
        assert_eq!(t.figure[1].bound().unwrap().limit, 2000.0);
    }
}
