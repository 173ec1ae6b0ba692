//! Counters of a run: calls, attempts, retries, tokens, cache, failovers, sessions, arrivals,
//! compressions, and errors per call class and [`ErrorKind`]. All of them add when recorders merge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ErrorKind;

/// What kind of work an error or call belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallClass {
    /// A logical LLM call (or one attempt of it).
    Llm,
    /// A logical tool call (or one attempt of it).
    Tool,
    /// A whole turn (failed because an LLM call failed for good, or cancelled at the end).
    Turn,
}

impl CallClass {
    /// Every class, in the report's order.
    pub const ALL: [CallClass; 3] = [CallClass::Llm, CallClass::Tool, CallClass::Turn];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallClass::Llm => "llm",
            CallClass::Tool => "tool",
            CallClass::Turn => "turn",
        }
    }
}

/// Plain counts. Field names are the report's keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// Turns completed or failed.
    pub turns: u64,
    /// Turns that failed (an LLM call failed for good).
    pub turns_failed: u64,
    /// Turns still running when the grace period ended: their calls were cancelled (also
    /// counted as a `turn` error of kind `cancelled`; not in `turns`, no latency).
    pub turns_cancelled: u64,
    /// Turns that succeeded within the `agent_response_p95` limit (goodput's numerator).
    pub turns_on_target: u64,
    /// Logical LLM calls.
    pub llm_calls: u64,
    /// Logical LLM calls that succeeded.
    pub llm_succeeded: u64,
    /// LLM attempts (requests handed to the transport).
    pub llm_attempts: u64,
    /// Logical tool calls.
    pub tool_calls: u64,
    /// Logical tool calls that succeeded.
    pub tool_succeeded: u64,
    /// Tool attempts (requests handed to the transport; a cache hit makes none).
    pub tool_attempts: u64,
    /// Tool calls with an attempt that timed out.
    pub tool_timeouts: u64,
    /// Attempts after the first, over all calls.
    pub retries: u64,
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Completion tokens.
    pub tokens_out: u64,
    /// Tool calls served from the cache.
    pub cache_hits: u64,
    /// Tool calls the cache had to fetch.
    pub cache_misses: u64,
    /// Calls served by a provider other than the first choice.
    pub failovers: u64,
    /// Attempts refused by an open breaker.
    pub breaker_rejections: u64,
    /// Sessions started.
    pub sessions_started: u64,
    /// Sessions that ran to their end.
    pub sessions_completed: u64,
    /// Open loop: sessions that started after their scheduled time because no slot was free.
    pub late_starts: u64,
    /// Open loop: sessions never started because too many were already waiting, or because
    /// the run stopped while they waited for a slot.
    pub dropped_starts: u64,
    /// Times a compression pipeline ran (its trigger fired; `none` counts too).
    pub compressions: u64,
    /// Prompt tokens compression removed: tokens before minus tokens after, summed.
    pub compressed_tokens: u64,
    /// Summaries asked of the LLM (`summarizer = "llm"`), each also one of `llm_calls`.
    pub summaries: u64,
    /// Spans the agents recalled from their cold stores (`recall` tool calls that found
    /// their handle; run by the agent, not in `tool_calls`). This and the three after it
    /// are absent from the report while 0 (runs whose agents offload nothing), so reports of
    /// other runs are unchanged by them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recalls: u64,
    /// Prompt tokens of the spans recalled, as they were counted when offloaded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recalled_tokens: u64,
    /// Bytes the agents' cold stores hold, zstd frames summed over every agent of the run
    /// (with `zstd_dictionary`, written with it; the dictionary itself is not counted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cold_bytes: u64,
    /// The same spans' bytes before compression (their serde_json): `cold_raw_bytes /
    /// cold_bytes` is the cold stores' compression ratio.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cold_raw_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counters {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, o: &Counters) {
        let Counters {
            turns,
            turns_failed,
            turns_cancelled,
            turns_on_target,
            llm_calls,
            llm_succeeded,
            llm_attempts,
            tool_calls,
            tool_succeeded,
            tool_attempts,
            tool_timeouts,
            retries,
            tokens_in,
            tokens_out,
            cache_hits,
            cache_misses,
            failovers,
            breaker_rejections,
            sessions_started,
            sessions_completed,
            late_starts,
            dropped_starts,
            compressions,
            compressed_tokens,
            summaries,
            recalls,
            recalled_tokens,
            cold_bytes,
            cold_raw_bytes,
        } = o;
        self.turns += turns;
        self.turns_failed += turns_failed;
        self.turns_cancelled += turns_cancelled;
        self.turns_on_target += turns_on_target;
        self.llm_succeeded += llm_succeeded;
        self.tool_succeeded += tool_succeeded;
        self.llm_calls += llm_calls;
        self.llm_attempts += llm_attempts;
        self.tool_calls += tool_calls;
        self.tool_attempts += tool_attempts;
        self.tool_timeouts += tool_timeouts;
        self.retries += retries;
        self.tokens_in += tokens_in;
        self.tokens_out += tokens_out;
        self.cache_hits += cache_hits;
        self.cache_misses += cache_misses;
        self.failovers += failovers;
        self.breaker_rejections += breaker_rejections;
        self.sessions_started += sessions_started;
        self.sessions_completed += sessions_completed;
        self.late_starts += late_starts;
        self.dropped_starts += dropped_starts;
        self.compressions += compressions;
        self.compressed_tokens += compressed_tokens;
        self.summaries += summaries;
        self.recalls += recalls;
        self.recalled_tokens += recalled_tokens;
        self.cold_bytes += cold_bytes;
        self.cold_raw_bytes += cold_raw_bytes;
    }
}

/// Errors by class and kind: `calls` for final errors of logical calls (and failed turns),
/// `attempts` for each failed attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    /// Final errors of logical calls and turns: class → kind → count.
    pub calls: BTreeMap<CallClass, BTreeMap<ErrorKind, u64>>,
    /// Failed attempts: class → kind → count.
    pub attempts: BTreeMap<CallClass, BTreeMap<ErrorKind, u64>>,
}

impl Errors {
    /// Final errors of `class`, summed over kinds.
    pub fn calls_failed(&self, class: CallClass) -> u64 {
        self.calls.get(&class).map_or(0, |m| m.values().sum())
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Errors) {
        for (mine, theirs) in [
            (&mut self.calls, &other.calls),
            (&mut self.attempts, &other.attempts),
        ] {
            for (class, kinds) in theirs {
                let into = mine.entry(*class).or_default();
                for (kind, n) in kinds {
                    *into.entry(*kind).or_default() += n;
                }
            }
        }
    }
}
