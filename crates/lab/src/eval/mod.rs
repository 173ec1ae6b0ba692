//! The offline evaluation of compression strategies (docs/compression.md): each conversation
//! of a corpus is replayed turn by turn into a [`Conversation`](conversation::Conversation)
//! under each row's strategy and trigger, and the prompts it assembles are measured: tokens
//! (peak, cumulative, ratio to the baseline, the summarizer's included; prompts over the
//! window), prompt-cache busting, hot and cold bytes, compressor work, retention of the planted
//! facts by kind (and what a recall would bring back), and validity after every compression.
//!
//! Everything but the wall-clock `timing` section is deterministic: the same corpus and
//! settings give the same [`Report`], byte for byte in every format.
//!
//! # Layout
//! - `plan`: rows from strategies, sweeps and triggers as written on the command line.
//! - `replay`: one conversation under one row.
//! - `score`: retention by fact kind, and what a recall would bring back.
//! - `report`: the results and how runs add up into rows.
//! - `cost`: the rows' cost at a price table, and ranking by cost or ratio.
//! - `keep`: retention of the identifiers `--keep-pattern` matches (no planted facts needed).
//! - `render`: terminal table and Markdown (with `report`'s table), and JSON.
//! - `csv`: one tidy CSV table of every numeric figure (`--format csv`).
//! - `spread`: reports over seeds (`--seeds`), each figure's mean and 95 % interval;
//!   `spread_render` shows them.

mod cost;
mod csv;
mod keep;
mod plan;
mod render;
mod replay;
mod report;
mod score;
mod spread;
mod spread_render;

pub use cost::{Cost, PRESETS, PriceSheet, Prices, PricesError, Rank, cost};
pub use csv::{csv, spread_csv};
pub use keep::{Identifiers, KeepPatternError, KeepPatterns};
pub use plan::{
    Custom, PlanError, RowSpec, StrategyFactory, Sweep, SweepKey, parse_trigger, repeated, rows,
};
pub use render::{json, markdown, table};
pub use report::{CorpusSummary, Report, Row, Settings, Timing};
pub use score::Retention;
pub use spread::{GenerateSpec, MAX_SEEDS, RowSpread, SeedReport, Seeds, Spread, Stat, spread};
pub use spread_render::{spread_json, spread_markdown, spread_table};

use conversation::strategy::Summarizer;
use conversation::summarize::Extractive;
use conversation::tokens;
use scenario::Compression;

use crate::corpus::CorpusConversation;
use crate::llm::SharedTier;
use crate::llm::reader::{self, ReaderScore, ReaderTally};

/// Makes the summarizer of one replay.
pub type SummarizerFactory<'a> = &'a dyn Fn(&Compression) -> Box<dyn Summarizer>;

/// Evaluates `rows` on `corpus` with the built-in summarizer. Ratios are against the first
/// row (the baseline `none`, as [`rows`] makes them); every row counts tokens with the first
/// row's tokenizer. A row of your own ([`RowSpec::custom`]) goes through the same replay and
/// gets every figure.
pub fn evaluate(corpus: &[CorpusConversation], rows: &[RowSpec]) -> Report {
    evaluate_with(corpus, rows, &builtin_summarizer)
}

/// As [`evaluate`], with summaries written by `summarizer` (an LLM-backed one, say).
pub fn evaluate_with(
    corpus: &[CorpusConversation],
    rows: &[RowSpec],
    summarizer: SummarizerFactory<'_>,
) -> Report {
    evaluate_keeping(corpus, rows, summarizer, &KeepPatterns::default())
}

/// As [`evaluate_with`], each row also scoring the retention of `keep`'s identifiers (none:
/// the report of [`evaluate_with`]).
pub fn evaluate_keeping(
    corpus: &[CorpusConversation],
    rows: &[RowSpec],
    summarizer: SummarizerFactory<'_>,
    keep: &KeepPatterns,
) -> Report {
    evaluate_options(
        corpus,
        rows,
        &Options {
            summarizer,
            keep,
            reader: None,
        },
    )
}

/// What an evaluation adds to the plain replay of [`evaluate`].
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Makes each replay's summarizer ([`builtin_summarizer`], or
    /// [`LlmSummarizer`](crate::llm::LlmSummarizer) over a tier).
    pub summarizer: SummarizerFactory<'a>,
    /// `--keep-pattern`: identifiers whose retention each row scores.
    pub keep: &'a KeepPatterns,
    /// `--reader`: the model that answers questions about the planted facts from each final
    /// context (docs/compression.md, "The LLM tier").
    pub reader: Option<&'a SharedTier>,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("keep", &self.keep)
            .field("reader", &self.reader.is_some())
            .finish_non_exhaustive()
    }
}

/// [`evaluate`] with everything [`Options`] can add; the report's `llm` section is left to
/// the caller (the tier's [`report`](crate::llm::LlmTier::report) once every row is done).
pub fn evaluate_options(
    corpus: &[CorpusConversation],
    rows: &[RowSpec],
    options: &Options<'_>,
) -> Report {
    let Options {
        summarizer,
        keep,
        reader,
    } = *options;
    let default = Compression::default();
    let base = rows.first().map_or(&default, |r| &r.config);
    let counter = tokens::counter_for(base.tokenizer, base.chars_per_token.0);
    let counted: Vec<_> = corpus
        .iter()
        .map(|c| c.to_messages(counter.as_ref()))
        .collect();
    let ids: Vec<_> = counted.iter().map(|m| keep.identify(m)).collect();
    let mut baseline = None;
    let mut out = Vec::with_capacity(rows.len());
    let mut timing = Vec::with_capacity(rows.len());
    for spec in rows {
        let runs = corpus
            .iter()
            .zip(&counted)
            .zip(&ids)
            .map(|((c, messages), ids)| {
                replay::replay(
                    c,
                    messages,
                    ids,
                    &spec.config,
                    spec.pipeline(),
                    summarizer(&spec.config),
                )
            })
            .collect::<Vec<_>>();
        let kept = keep::kept(&runs, keep);
        let read = reader.map(|tier| read(tier, corpus, &runs));
        let (mut row, t) = report::row(spec, runs, baseline);
        row.identifiers = kept;
        row.reader = read;
        baseline = baseline.or(Some(report::processed_tokens(&row)));
        out.push(row);
        timing.push(t);
    }
    let mut settings = report::settings(base);
    settings.keep_patterns = keep.sources();
    Report {
        corpus: report::corpus_summary(corpus, &counted, counter.name()),
        settings,
        rows: out,
        timing: Some(timing),
        prices: None,
        llm: None,
    }
}

/// The reader's scores of one row: one call per conversation with questions, about its
/// final context.
fn read(tier: &SharedTier, corpus: &[CorpusConversation], runs: &[replay::Run]) -> ReaderScore {
    let mut tally = ReaderTally::default();
    for (conv, run) in corpus.iter().zip(runs) {
        let questions = reader::questions(conv);
        if questions.is_empty() {
            continue;
        }
        let call = reader::call(&run.last_prompt, &questions);
        let answer = crate::llm::lock(tier).ask(&call);
        let answers = answer.map(|a| reader::parse(&a.text, questions.len()));
        tally.add(&questions, answers.as_deref());
    }
    tally.score()
}

/// The built-in extractive summarizer: offline, summaries are extractive whatever
/// `summarizer` says ([`evaluate_with`] takes another).
pub fn builtin_summarizer(_c: &Compression) -> Box<dyn Summarizer> {
    Box::new(Extractive::default())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_figures;
