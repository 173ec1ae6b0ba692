//! `fleetbench compress`: replays a corpus through compression strategies and prints, per
//! strategy, tokens, cache busting, bytes, compressor cost, fact retention and validity
//! (docs/compression.md). Exit 1 when a strategy broke an invariant.

use std::process::ExitCode;

use anyhow::Context as _;
use lab::{corpus, eval};
use scenario::{Compression, Pipeline, Probability, StrategyName, Tokenizer};

use crate::args::{CompressArgs, EvalFormat, TokenizerArg};
use crate::output::out;

pub(crate) fn run(args: &CompressArgs) -> anyhow::Result<ExitCode> {
    let path = &args.corpus;
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "--corpus {}: cannot read the file; write one with `fleetbench corpus generate --out FILE`",
            path.display()
        )
    })?;
    let conversations =
        corpus::read_jsonl(&text).with_context(|| format!("--corpus {}", path.display()))?;
    let rows = eval::rows(&base(args), &pipelines(args), &args.sweep);
    let mut report = eval::evaluate(&conversations, &rows);
    if args.no_timing {
        report = report.without_timing();
    }
    out(&match args.format {
        EvalFormat::Table => eval::table(&report),
        EvalFormat::Json => eval::json(&report),
        EvalFormat::Md => eval::markdown(&report),
    })
    .context("cannot print the evaluation to stdout")?;
    let broken = report.rows.iter().any(|r| r.violations > 0);
    Ok(if broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The settings every row starts from: the scenario defaults and the flags.
fn base(args: &CompressArgs) -> Compression {
    let mut c = Compression::default();
    if let Some(trigger) = &args.trigger {
        c.trigger = trigger.clone();
    }
    if let Some(f) = args.compact_to {
        c.compact_to = Probability(f);
    }
    if let Some(t) = args.tokenizer {
        c.tokenizer = match t {
            TokenizerArg::O200k => Tokenizer::O200k,
            TokenizerArg::Cl100k => Tokenizer::Cl100k,
            TokenizerArg::Chars => Tokenizer::Chars,
        };
    }
    c
}

/// The strategies asked for (clap parsed them); all ten when none is.
fn pipelines(args: &CompressArgs) -> Vec<Pipeline> {
    if args.strategies.is_empty() {
        return StrategyName::ALL.map(Pipeline::from).to_vec();
    }
    args.strategies.clone()
}
