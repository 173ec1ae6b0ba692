//! `fleetbench compress`: replays a corpus through compression strategies and prints, per
//! strategy, tokens, cache busting, bytes, compressor cost, fact retention and validity
//! (docs/compression.md). Exit 1 when a strategy broke an invariant.

use std::process::ExitCode;

use anyhow::Context as _;
use lab::{corpus, eval, external};
use scenario::{Compression, Pipeline, Probability, StrategyName, Tokenizer};

use crate::args::{CompressArgs, CompressFormat, RankArg, TokenizerArg};
use crate::output::{note_line, out};

mod llm;
mod seeds;

pub(crate) fn run(args: &CompressArgs) -> anyhow::Result<ExitCode> {
    let keep = eval::KeepPatterns::new(&args.keep_patterns)?;
    let tier = llm::tier(args)?;
    if let Some(seeds) = &args.seeds {
        if args.format == CompressFormat::Html {
            anyhow::bail!(
                "--format html draws one corpus, and --seeds evaluates {} ({}); drop --seeds, or use --format csv or json for the spread",
                seeds.0.len(),
                seeds
                    .0
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        let corpora = seeds::corpora(args, &seeds.0)?;
        let plan = Plan::new(args, keep, tier)?;
        return seeds::run(args, &plan, corpora);
    }
    let conversations = seeds::single(args)?;
    let plan = Plan::new(args, keep, tier)?;
    let report = plan.evaluate(args, &conversations)?;
    out(&match args.format {
        CompressFormat::Table => eval::table(&report),
        CompressFormat::Json => eval::json(&report),
        CompressFormat::Md => eval::markdown(&report),
        CompressFormat::Csv => eval::csv(&report),
        CompressFormat::Html => {
            let doc =
                serde_json::from_str(&eval::json(&report)).context("the evaluation's JSON")?;
            report::compress_html(&doc).map_err(|e| anyhow::anyhow!("--format html: {e}"))?
        }
    })
    .context("cannot print the evaluation to stdout")?;
    let broken = report.rows.iter().any(|r| r.violations > 0);
    Ok(if broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What every corpus of a run is evaluated with: the rows, the external compressors they
/// run, the prices, the identifiers to look for and the LLM tier. Bad input fails in
/// [`Plan::new`], before any replay.
struct Plan {
    rows: Vec<eval::RowSpec>,
    commands: Vec<external::ExternalCommand>,
    pricing: Option<(String, eval::Prices)>,
    keep: eval::KeepPatterns,
    tier: Option<lab::llm::SharedTier>,
}

impl Plan {
    fn new(
        args: &CompressArgs,
        keep: eval::KeepPatterns,
        tier: Option<lab::llm::SharedTier>,
    ) -> anyhow::Result<Self> {
        let pricing = pricing(args)?.map(|(name, prices)| (name.to_owned(), prices));
        let pipelines = pipelines(args);
        note_plan(&pipelines, &args.sweep);
        let mut rows = eval::rows(&base(args), &pipelines, &args.sweep);
        let commands = start_commands(args, &mut rows)?;
        Ok(Self {
            rows,
            commands,
            pricing,
            keep,
            tier,
        })
    }

    /// `conversations` evaluated, priced and ranked as the flags say; an external
    /// compressor's failure fails it.
    fn evaluate(
        &self,
        args: &CompressArgs,
        conversations: &[corpus::CorpusConversation],
    ) -> anyhow::Result<eval::Report> {
        let mut report = llm::evaluate(
            args,
            conversations,
            &self.rows,
            &self.keep,
            self.tier.as_ref(),
        )?;
        if let Some(err) = self
            .commands
            .iter()
            .find_map(external::ExternalCommand::take_error)
        {
            return Err(err.into());
        }
        if args.no_timing {
            report = report.without_timing();
        }
        let pricing = self.pricing.as_ref().map(|(n, p)| (n.as_str(), *p));
        Ok(priced_and_ranked(report, pricing, args.rank))
    }
}

/// The corpus at `path`, its notes (lines skipped, repairs) said on stderr.
fn read(path: &std::path::Path, strict: bool) -> anyhow::Result<Vec<corpus::CorpusConversation>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "--corpus {}: cannot read the file; write one with `fleetbench corpus generate --out FILE`",
            path.display()
        )
    })?;
    let mode = match strict {
        true => corpus::ReadMode::Strict,
        false => corpus::ReadMode::Lenient,
    };
    let read =
        corpus::read_corpus(&text, mode).with_context(|| format!("--corpus {}", path.display()))?;
    for line in read.notes(&path.display().to_string()) {
        crate::output::note_line(&line);
    }
    Ok(read.conversations)
}

/// Says on stderr what the plan leaves out: a strategy given twice, a sweep a strategy does
/// not read (each runs once; the rows would only repeat).
fn note_plan(pipelines: &[Pipeline], sweeps: &[eval::Sweep]) {
    for p in eval::repeated(pipelines) {
        note_line(&format!(
            "note: --strategy {p} is given more than once; it runs once"
        ));
    }
    for sweep in sweeps {
        let mut unread: Vec<String> = Vec::new();
        for p in pipelines {
            let reads = p.stages().iter().any(|&n| sweep.key.read_by(n));
            if p.rewrites() && !reads && !unread.contains(&p.to_string()) {
                unread.push(p.to_string());
            }
        }
        if !unread.is_empty() {
            note_line(&format!(
                "note: `{}` is not read by {}: each runs once, not once per value",
                sweep.key.name(),
                unread.join(", ")
            ));
        }
    }
}

/// `--prices` read and `--rank` checked before the replay, so bad input fails at once.
fn pricing(args: &CompressArgs) -> anyhow::Result<Option<(&str, eval::Prices)>> {
    let priced = match &args.prices {
        Some(given) => Some((given.as_str(), prices(given)?)),
        None => None,
    };
    if args.rank == Some(RankArg::Cost) && priced.is_none() {
        anyhow::bail!(
            "--rank cost needs prices: add --prices with a preset ({}) or a TOML file",
            preset_names()
        );
    }
    Ok(priced)
}

/// The report priced at `pricing` and ordered by `rank`.
fn priced_and_ranked(
    mut report: eval::Report,
    pricing: Option<(&str, eval::Prices)>,
    rank: Option<RankArg>,
) -> eval::Report {
    if let Some((name, prices)) = pricing {
        report = report.priced(name, prices);
    }
    match rank {
        None => report,
        Some(RankArg::Ratio) => report.ranked(eval::Rank::Ratio),
        Some(RankArg::Cost) => report.ranked(eval::Rank::Cost),
    }
}

/// `--prices`: a preset's name, else a TOML file's path.
fn prices(given: &str) -> anyhow::Result<eval::Prices> {
    if let Some(p) = eval::Prices::preset(given) {
        return Ok(p);
    }
    let text = std::fs::read_to_string(given).with_context(|| {
        format!(
            "--prices {given}: neither a preset ({}) nor a readable file",
            preset_names()
        )
    })?;
    eval::Prices::from_toml(&text).with_context(|| format!("--prices {given}"))
}

fn preset_names() -> String {
    eval::PRESETS.map(|(name, _)| name).join(", ")
}

/// Starts each `--strategy-cmd` and adds its row (after the built-ins, under the same base
/// settings); the commands keep their first error for after the evaluation.
fn start_commands(
    args: &CompressArgs,
    rows: &mut Vec<eval::RowSpec>,
) -> anyhow::Result<Vec<external::ExternalCommand>> {
    let base = base(args);
    let mut commands = Vec::new();
    for spec in &args.strategy_cmds {
        let command = external::ExternalCommand::start(spec.clone(), args.strategy_cmd_timeout)?;
        rows.push(command.row(&base));
        commands.push(command);
    }
    Ok(commands)
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

/// The strategies asked for (clap parsed them); every built-in when neither a strategy nor a
/// command is.
fn pipelines(args: &CompressArgs) -> Vec<Pipeline> {
    if args.strategies.is_empty() && args.strategy_cmds.is_empty() {
        return StrategyName::ALL.map(Pipeline::from).to_vec();
    }
    args.strategies.clone()
}
