//! Turning what agents report into metrics: one turn's calls, waits and errors into the
//! recorder, and the turn's time split into its parts for the p95 breakdown.

use std::time::Duration;

use clients::{CallRecord, ErrorKind};
use metrics::{CallClass, MetricKind, Recorder, TurnParts};

use crate::agent::TurnReport;

/// Records one turn and every call in it.
/// `on_target` is the response limit a successful turn must stay within to count as goodput.
pub(crate) fn turn(r: &mut Recorder, t: &TurnReport, on_target: Duration) {
    if t.error == Some(ErrorKind::Cancelled) {
        cancelled_turn(r, t);
        return;
    }
    r.record(MetricKind::AgentResponse, t.response);
    r.record(MetricKind::ContextBuild, t.context_build);
    // Turns that compressed; under the virtual clock their time is ~0 (tokio's clock).
    if t.compressions > 0 {
        r.record(MetricKind::Compression, t.compression);
    }
    r.counters.compressions += u64::from(t.compressions);
    r.counters.compressed_tokens += t.compressed_tokens;
    r.counters.summaries += u64::from(t.summaries);
    r.counters.recalls += u64::from(t.recalls);
    r.counters.recalled_tokens += u64::from(t.recalled_tokens);
    r.counters.cold_bytes += u64::from(t.cold_bytes);
    r.counters.cold_raw_bytes += u64::from(t.cold_raw_bytes);
    r.counters.turns += 1;
    if t.error.is_none() && t.response < on_target {
        r.counters.turns_on_target += 1;
    }
    if let Some(kind) = t.error {
        r.counters.turns_failed += 1;
        r.error(CallClass::Turn, kind);
    }
    for call in &t.llm {
        self::call(r, CallClass::Llm, call);
    }
    for call in &t.tools {
        self::call(r, CallClass::Tool, call);
    }
    r.breakdown.record_turn(t.response, &parts(t));
}

/// A turn cut off when the grace period ended: counted in `turns_cancelled` and as `turn` /
/// `cancelled`, not in `turns` nor in any latency (it never finished: its time says when the
/// run ended, not how long a turn takes). Its calls are counted like any other: every call
/// and attempt that started is in the counts, those cut off as `cancelled`.
fn cancelled_turn(r: &mut Recorder, t: &TurnReport) {
    r.counters.turns_cancelled += 1;
    // What its compressions offloaded stays in the store, counted like any turn's.
    r.counters.cold_bytes += u64::from(t.cold_bytes);
    r.counters.cold_raw_bytes += u64::from(t.cold_raw_bytes);
    r.error(CallClass::Turn, ErrorKind::Cancelled);
    for call in &t.llm {
        self::call(r, CallClass::Llm, call);
    }
    for call in &t.tools {
        self::call(r, CallClass::Tool, call);
    }
}

/// Where a turn's time went. LLM calls and tool rounds alternate, so the turn is the LLM
/// calls, the tool rounds (tools run in parallel within a round: their wall time is the rest
/// of the turn), prompt assembly and compression.
pub(crate) fn parts(t: &TurnReport) -> TurnParts {
    let mut p = TurnParts::default();
    let mut llm_total = Duration::ZERO;
    for call in &t.llm {
        llm_total += call.total;
        p.limiter_wait += call.limiter_wait;
        p.pool_wait += call.pool_wait;
        p.backoff += call.backoff;
        let ttft = call.ttft.unwrap_or_default();
        p.ttft += ttft;
        let failed: Duration = call
            .attempts
            .iter()
            .filter(|a| a.error.is_some())
            .map(|a| a.duration)
            .sum();
        p.failed_attempts += failed;
        let waited = call.limiter_wait + call.pool_wait + call.backoff + ttft + failed;
        p.generation += call.total.saturating_sub(waited);
    }
    p.context_build = t.context_build;
    p.compression = t.compression;
    p.tools = t
        .response
        .saturating_sub(llm_total + t.context_build + t.compression);
    p
}

fn call(r: &mut Recorder, class: CallClass, c: &CallRecord) {
    let (logical, attempt) = match class {
        CallClass::Tool => (MetricKind::ToolCall, MetricKind::ToolAttempt),
        _ => (MetricKind::LlmCall, MetricKind::LlmAttempt),
    };
    // A call or attempt cut off by the end of the run never finished: it is counted, but
    // its time is not a latency.
    if c.error != Some(ErrorKind::Cancelled) {
        r.record(logical, c.total);
        r.record(MetricKind::LimiterWait, c.limiter_wait);
        r.record(MetricKind::PoolWait, c.pool_wait);
    }
    for a in &c.attempts {
        if a.error != Some(ErrorKind::Cancelled) {
            r.record(attempt, a.duration);
        }
        if let Some(kind) = a.error {
            r.attempt_error(class, kind);
        }
    }
    if let Some(ttft) = c.ttft {
        r.record(MetricKind::Ttft, ttft);
    }
    for gap in &c.inter_token {
        r.record(MetricKind::InterToken, *gap);
    }
    let attempts = c.attempts.len() as u64;
    let counters = &mut r.counters;
    match class {
        CallClass::Tool => {
            counters.tool_calls += 1;
            counters.tool_attempts += attempts;
            if c.attempts
                .iter()
                .any(|a| a.error == Some(ErrorKind::Timeout))
            {
                counters.tool_timeouts += 1;
            }
        }
        _ => {
            counters.llm_calls += 1;
            counters.llm_attempts += attempts;
        }
    }
    counters.retries += c.retries() as u64;
    // Tokens are the LLM's (its `usage`): a tool's result size is not an LLM's output, and
    // counting it made `tokens_out` (and tokens out/s) grow with tool traffic.
    if class != CallClass::Tool {
        counters.tokens_in += u64::from(c.tokens_in);
        counters.tokens_out += u64::from(c.tokens_out);
    }
    match c.cache_hit {
        Some(true) => counters.cache_hits += 1,
        Some(false) => counters.cache_misses += 1,
        None => {}
    }
    counters.failovers += u64::from(c.failover);
    counters.breaker_rejections += u64::from(c.breaker_rejections);
    match (c.error, class) {
        (Some(kind), _) => r.error(class, kind),
        (None, CallClass::Tool) => r.counters.tool_succeeded += 1,
        (None, _) => r.counters.llm_succeeded += 1,
    }
    if let Some(hit) = c.cache_hit {
        let outcome = match (hit, c.cache_coalesced) {
            (false, _) => metrics::CacheOutcome::Miss,
            (true, false) => metrics::CacheOutcome::Hit,
            (true, true) => metrics::CacheOutcome::Coalesced,
        };
        let latency = (c.error != Some(ErrorKind::Cancelled)).then_some(c.total);
        r.cache_call(&c.target, outcome, latency);
    }
}
