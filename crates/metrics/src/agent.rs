//! Per-agent figures: what each agent saw, kept while the run goes ([`AgentSummary`]) and as
//! the report lists it ([`AgentReport`]).

use serde::{Deserialize, Serialize};

use crate::histogram::AgentLatency;
use crate::ms;

/// One agent's running totals (in open loop, one session slot's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    /// Largest structural size of its state after a turn (get-size2), bytes.
    pub structural_peak_bytes: u64,
    /// Structural size of its state after its last turn, bytes.
    pub structural_final_bytes: u64,
    /// What the tracking allocator charged to it, when the process installed one.
    pub heap: Option<HeapFigures>,
}

/// Heap bytes the tracking allocator charged to one agent (see the `heap` crate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapFigures {
    /// Most bytes it held at once.
    pub peak_bytes: u64,
    /// Bytes it held after its last turn.
    pub final_bytes: u64,
}

impl AgentSummary {
    /// The peak memory judged by the `agent_memory` target: the allocator's figure when there
    /// is one, else the structural size.
    pub fn peak_memory_bytes(&self) -> u64 {
        self.heap
            .map_or(self.structural_peak_bytes, |h| h.peak_bytes)
    }

    /// Memory held after the last turn, by the same method as [`Self::peak_memory_bytes`].
    pub fn final_memory_bytes(&self) -> u64 {
        self.heap
            .map_or(self.structural_final_bytes, |h| h.final_bytes)
    }
}

/// How per-agent memory was measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryMethod {
    /// Heap bytes charged by the tracking allocator (`heap::TrackingAllocator`): everything the
    /// agent allocated and still holds.
    Allocator,
    /// The structural size of the agent's state (get-size2): its conversation and prompt,
    /// not every allocation it makes. Used when the process did not install the allocator.
    #[default]
    Structural,
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
    /// Peak memory, bytes (by the section's `memory_method`).
    pub peak_memory_bytes: u64,
    /// Memory held after its last turn, bytes (by the same method).
    pub final_memory_bytes: u64,
    /// Largest structural size of its state (get-size2), bytes, whatever the method.
    pub structural_peak_bytes: u64,
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
            peak_memory_bytes: s.peak_memory_bytes(),
            final_memory_bytes: s.final_memory_bytes(),
            structural_peak_bytes: s.structural_peak_bytes,
            met_all_targets: met,
        }
    }
}
