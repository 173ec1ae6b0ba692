//! The results: one row per strategy (and sweep value), fields in a fixed order. Everything
//! outside `timing` is a function of the corpus and the settings alone, so the same seed gives
//! the same bytes; wall-clock figures live only in `timing`, which `--no-timing` drops.

use std::time::Duration;

use serde::Serialize;

use super::cost::{Cost, PriceSheet};
use super::keep::Identifiers;
use super::plan::RowSpec;
use super::replay::Run;
use super::score::{Retention, Tally, round};
use crate::corpus::CorpusConversation;
use crate::llm::TierReport;
use crate::llm::reader::ReaderScore;

/// The evaluation of a corpus.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// What was replayed.
    pub corpus: CorpusSummary,
    /// The `[compression]` settings every row starts from.
    pub settings: Settings,
    /// One row per strategy and sweep value; the baseline `none` first.
    pub rows: Vec<Row>,
    /// Wall-clock figures, per row (absent with `--no-timing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Vec<Timing>>,
    /// The prices the rows' `cost_usd` are at (absent without `--prices`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prices: Option<PriceSheet>,
    /// The LLM tier's calls and tokens (absent without `--summarizer llm` or `--reader`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<TierReport>,
}

/// The corpus replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CorpusSummary {
    /// Conversations.
    pub conversations: u64,
    /// Model calls (prompts), all conversations together.
    pub turns: u64,
    /// Messages.
    pub messages: u64,
    /// Tokens of all messages, each counted once.
    pub tokens: u64,
    /// Planted facts.
    pub facts: u64,
    /// The token counter.
    pub tokenizer: String,
}

/// The shared settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// When compression runs: `tokens=N`, `messages=N` or `fraction=F`.
    pub trigger: String,
    /// The target after compressing, as a fraction of the trigger's threshold.
    pub compact_to: f64,
    /// The model's context window.
    pub context_window: u32,
    /// `window`: messages kept from the start.
    pub keep_first: u32,
    /// `window`: messages kept from the end.
    pub keep_last: u32,
    /// `observation-masking`: outputs kept whole.
    pub mask_keep_last: u32,
    /// `clip`: tokens kept of an output.
    pub clip_tokens: u32,
    /// `offload`: zstd level.
    pub zstd_level: i32,
    /// `--keep-pattern`s: the identifiers whose retention the rows report (absent without).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keep_patterns: Vec<String>,
}

/// One strategy under one setting: the figures defined in docs/compression.md.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The strategy or pipeline.
    pub strategy: String,
    /// The swept values of this row (`keep_last=5`), absent without a sweep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
    /// Prompts assembled (one per model call).
    pub prompts: u64,
    /// The largest prompt of the agent, in tokens.
    pub peak_prompt_tokens: u64,
    /// The agent's prompts over the context window: a model would reject or truncate them.
    pub overflows: u64,
    /// All prompts' tokens added up, the summarizer's included.
    pub cumulative_prompt_tokens: u64,
    /// The baseline's tokens over this row's: cumulative prompt tokens and the summarizer's
    /// output, every token a model reads or writes for the compressed conversation.
    pub compression_ratio: f64,
    /// Tokens of the previous prompt after its first changed message, added up over turns:
    /// cached prefix the rewrite threw away.
    pub cache_busted_tokens: u64,
    /// Tokens of each prompt after its first changed message, added up: what prefill
    /// computes without a cache hit (appended messages and the summarizer's prompts
    /// included).
    pub uncached_prompt_tokens: u64,
    /// Tokens of the model's answers (the corpus's assistant messages): the same for every
    /// row, priced as output.
    pub output_tokens: u64,
    /// Bytes of the hot messages at the end, all conversations.
    pub hot_bytes: u64,
    /// Bytes the cold store holds at the end.
    pub cold_bytes: u64,
    /// Bytes of what the cold store holds, before its encoding.
    pub cold_raw_bytes: u64,
    /// Times the trigger fired and the pipeline ran.
    pub compressions: u64,
    /// Summaries written.
    pub summaries: u64,
    /// Tokens the summarizer read.
    pub summarizer_tokens_in: u64,
    /// Tokens it wrote.
    pub summarizer_tokens_out: u64,
    /// Broken invariants after compressions (must be 0).
    pub violations: u64,
    /// The first of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_violation: Option<String>,
    /// Retention in the context after the last message.
    pub retention_final: Retention,
    /// Retention in every prompt, of what was planted by then.
    pub retention_turns: Retention,
    /// Retention of `--keep-pattern`'s identifiers (absent without the flag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifiers: Option<Identifiers>,
    /// `--reader`: how well a model answers questions about the planted facts from the
    /// final context (absent without the flag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader: Option<ReaderScore>,
    /// What the tokens cost at the report's prices (absent without `--prices`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<Cost>,
}

/// Wall-clock figures of one row, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timing {
    /// As [`Row::strategy`].
    pub strategy: String,
    /// As [`Row::sweep`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
    /// Compressor calls timed.
    pub compressor_calls: u64,
    /// Median time of a compression.
    pub compressor_p50_us: f64,
    /// 99th percentile of a compression.
    pub compressor_p99_us: f64,
    /// 99th percentile of assembling a prompt (context build).
    pub context_build_p99_us: f64,
}

impl Report {
    /// The report without wall-clock figures: the same for the same corpus and settings.
    pub fn without_timing(mut self) -> Self {
        self.timing = None;
        self
    }
}

pub(crate) fn corpus_summary(
    corpus: &[CorpusConversation],
    counts: &[Vec<conversation::message::Message>],
    tokenizer: String,
) -> CorpusSummary {
    CorpusSummary {
        conversations: corpus.len() as u64,
        turns: corpus.iter().map(|c| c.turns() as u64).sum(),
        messages: counts.iter().map(|m| m.len() as u64).sum(),
        tokens: counts
            .iter()
            .map(|m| conversation::strategy::total_tokens(m))
            .sum(),
        facts: corpus.iter().map(|c| c.facts.len() as u64).sum(),
        tokenizer,
    }
}

pub(crate) fn settings(c: &scenario::Compression) -> Settings {
    let trigger = match c.trigger {
        scenario::Trigger::Tokens(n) => format!("tokens={n}"),
        scenario::Trigger::Messages(n) => format!("messages={n}"),
        scenario::Trigger::Fraction(f) => format!("fraction={}", f.0),
    };
    Settings {
        trigger,
        compact_to: c.compact_to.0,
        context_window: c.context_window,
        keep_first: c.keep_first,
        keep_last: c.keep_last,
        mask_keep_last: c.mask_keep_last,
        clip_tokens: c.clip_tokens,
        zstd_level: c.zstd_level,
        keep_patterns: Vec::new(),
    }
}

/// The tokens a row's ratio divides: every token a model reads (the agent's prompts and the
/// summarizer's) or writes for compressing (the summarizer's output).
pub(crate) fn processed_tokens(row: &Row) -> u64 {
    row.cumulative_prompt_tokens + row.summarizer_tokens_out
}

/// One row from the runs of every conversation; `baseline` is the `none` row's
/// [`processed_tokens`] (this row's own for the baseline).
pub(crate) fn row(spec: &RowSpec, runs: Vec<Run>, baseline: Option<u64>) -> (Row, Timing) {
    let mut total = Run::default();
    let mut final_ret = Tally::default();
    let mut turn_ret = Tally::default();
    for r in runs {
        total.prompts += r.prompts;
        total.peak_tokens = total.peak_tokens.max(r.peak_tokens);
        total.overflows += r.overflows;
        total.cumulative_tokens += r.cumulative_tokens;
        total.busted_tokens += r.busted_tokens;
        total.uncached_tokens += r.uncached_tokens;
        total.output_tokens += r.output_tokens;
        total.hot_bytes += r.hot_bytes;
        total.cold_bytes += r.cold_bytes;
        total.cold_raw_bytes += r.cold_raw_bytes;
        total.compressions += r.compressions;
        total.work += r.work;
        total.violations += r.violations;
        total.first_violation = total.first_violation.or(r.first_violation);
        final_ret.merge(&r.final_retention);
        turn_ret.merge(&r.turn_retention);
        total.compress_times.extend(r.compress_times);
        total.build_times.extend(r.build_times);
    }
    let processed = total.cumulative_tokens + total.work.summarizer_tokens_out;
    let base = baseline.unwrap_or(processed);
    let ratio = match processed {
        0 => 1.0,
        n => round(base as f64 / n as f64),
    };
    let sweep = Some(spec.label()).filter(|l| !l.is_empty());
    let timing = Timing {
        strategy: spec.strategy(),
        sweep: sweep.clone(),
        compressor_calls: total.compressions,
        compressor_p50_us: micros(percentile(&mut total.compress_times, 0.50)),
        compressor_p99_us: micros(percentile(&mut total.compress_times, 0.99)),
        context_build_p99_us: micros(percentile(&mut total.build_times, 0.99)),
    };
    let row = Row {
        strategy: spec.strategy(),
        sweep,
        prompts: total.prompts,
        peak_prompt_tokens: total.peak_tokens,
        overflows: total.overflows,
        cumulative_prompt_tokens: total.cumulative_tokens,
        compression_ratio: ratio,
        cache_busted_tokens: total.busted_tokens,
        uncached_prompt_tokens: total.uncached_tokens,
        output_tokens: total.output_tokens,
        hot_bytes: total.hot_bytes,
        cold_bytes: total.cold_bytes,
        cold_raw_bytes: total.cold_raw_bytes,
        compressions: total.compressions,
        summaries: u64::from(total.work.summaries),
        summarizer_tokens_in: total.work.summarizer_tokens_in,
        summarizer_tokens_out: total.work.summarizer_tokens_out,
        violations: total.violations,
        first_violation: total.first_violation,
        retention_final: final_ret.finish(),
        retention_turns: turn_ret.finish(),
        identifiers: None,
        reader: None,
        cost_usd: None,
    };
    (row, timing)
}

/// Nearest-rank percentile; zero for no samples.
fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

fn micros(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000_000.0).round() / 10.0
}
