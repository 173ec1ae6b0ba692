//! Per-agent figures: what each agent saw, kept while the run goes ([`AgentSummary`]) and as
//! the report lists it ([`AgentReport`]).

use serde::{Deserialize, Serialize};

use crate::histogram::AgentLatency;
use crate::ms;

/// One agent's running totals (in open loop, one session slot's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentSummary {
    /// The agent's id.
    pub id: u64,
    /// Turns completed or failed.
    pub turns: u64,
    /// Turns failed.
    pub errors: u64,
    /// Its own `agent_response` distribution.
    pub response: AgentLatency,
    /// Largest conversation size, bytes.
    pub conversation_bytes: u64,
    /// Largest conversation size, tokens.
    pub conversation_tokens: u64,
    /// Peak memory attributed to the agent, bytes (structural size of its state for now).
    pub peak_memory_bytes: u64,
}

/// One agent in the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentReport {
    /// The agent's id.
    pub id: u64,
    /// Turns completed or failed.
    pub turns: u64,
    /// Turns failed.
    pub errors: u64,
    /// Median response, ms (within 2 %).
    pub response_p50_ms: f64,
    /// p95 response, ms (within 2 %).
    pub response_p95_ms: f64,
    /// Slowest response, ms.
    pub response_max_ms: f64,
    /// Largest conversation, bytes.
    pub conversation_bytes: u64,
    /// Largest conversation, tokens.
    pub conversation_tokens: u64,
    /// Peak memory, bytes.
    pub peak_memory_bytes: u64,
    /// Whether this agent met every per-agent target (response p95, memory, error rate).
    pub met_all_targets: bool,
}

impl AgentReport {
    /// The report line of `s`; `met` says whether it met its targets.
    pub fn new(s: &AgentSummary, met: bool) -> Self {
        Self {
            id: s.id,
            turns: s.turns,
            errors: s.errors,
            response_p50_ms: ms(s.response.quantile(0.5)),
            response_p95_ms: ms(s.response.quantile(0.95)),
            response_max_ms: ms(s.response.max()),
            conversation_bytes: s.conversation_bytes,
            conversation_tokens: s.conversation_tokens,
            peak_memory_bytes: s.peak_memory_bytes,
            met_all_targets: met,
        }
    }
}
