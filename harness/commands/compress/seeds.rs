//! `compress --seeds` and `--generate`: where each seed's corpus comes from (a file per seed,
//! `{seed}` in the --corpus path, or generated in memory), one evaluation per seed, and the
//! spread printed (docs/compression.md, "Spread over seeds").

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use lab::corpus::{self, CorpusConversation};
use lab::eval;

use crate::args::{CompressArgs, CompressFormat};
use crate::output::out;

/// What `--corpus` writes for the seed.
const SEED: &str = "{seed}";

/// The corpus of a run without --seeds: the file, or `--generate`'s with seed 1.
pub(super) fn single(args: &CompressArgs) -> anyhow::Result<Vec<CorpusConversation>> {
    match (&args.corpus, args.generate) {
        (_, Some(g)) => Ok(generate(g, 1)),
        (Some(path), None) => {
            let shown = path.to_string_lossy();
            if shown.contains(SEED) {
                bail!(
                    "--corpus {shown}: `{SEED}` in the path needs --seeds to fill it in; add \
                     --seeds 1..5 (one file per seed) or name one file"
                );
            }
            super::read(path, args.strict)
        }
        (None, None) => bail!("compress needs --corpus FILE or --generate PROFILE[:N]"),
    }
}

/// Each seed's corpus, every file checked before any is replayed.
pub(super) fn corpora(
    args: &CompressArgs,
    seeds: &[u64],
) -> anyhow::Result<Vec<(u64, Vec<CorpusConversation>)>> {
    let shown = seeds_shown(seeds);
    let path = match (&args.corpus, args.generate) {
        (_, Some(g)) => return Ok(seeds.iter().map(|&s| (s, generate(g, s))).collect()),
        (Some(path), None) => path.to_string_lossy().into_owned(),
        (None, None) => {
            bail!("--seeds {shown} needs --corpus c-{SEED}.jsonl or --generate PROFILE[:N]")
        }
    };
    if !path.contains(SEED) {
        bail!(
            "--seeds {shown} with --corpus {path}: every seed would replay the same file; put \
             `{SEED}` in the path (like c-{SEED}.jsonl, one file per seed) or generate each \
             seed's corpus with --generate coding[:N]"
        );
    }
    let files: Vec<(u64, PathBuf)> = seeds
        .iter()
        .map(|&s| (s, PathBuf::from(path.replace(SEED, &s.to_string()))))
        .collect();
    if let Some((seed, file)) = files.iter().find(|(_, f)| !f.is_file()) {
        bail!(
            "--corpus {path}: seed {seed}'s file {} does not exist; write it with `fleetbench \
             corpus generate --seed {seed} --out {}` or leave the seed out of --seeds",
            file.display(),
            file.display()
        );
    }
    files
        .into_iter()
        .map(|(seed, file)| Ok((seed, super::read(&file, args.strict)?)))
        .collect()
}

/// `--generate`'s corpus for `seed`, as `corpus generate --seed SEED` writes it.
fn generate(g: eval::GenerateSpec, seed: u64) -> Vec<CorpusConversation> {
    corpus::generate(g.profile, g.conversations, eval::GenerateSpec::TURNS, seed)
}

fn seeds_shown(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Evaluates every seed's corpus under the same plan and prints the spread. Exit 1 when a
/// strategy broke an invariant on any seed.
pub(super) fn run(
    args: &CompressArgs,
    plan: &super::Plan,
    corpora: Vec<(u64, Vec<CorpusConversation>)>,
) -> anyhow::Result<ExitCode> {
    let mut per_seed = Vec::with_capacity(corpora.len());
    for (seed, conversations) in corpora {
        let report = plan.evaluate(args, &conversations)?;
        per_seed.push(eval::SeedReport { seed, report });
    }
    let spread = eval::spread(per_seed);
    out(&match args.format {
        CompressFormat::Table => eval::spread_table(&spread),
        CompressFormat::Json => eval::spread_json(&spread),
        CompressFormat::Md => eval::spread_markdown(&spread),
        CompressFormat::Csv => eval::spread_csv(&spread),
        CompressFormat::Html => unreachable!("refused with --seeds before any replay"),
    })
    .context("cannot print the evaluation to stdout")?;
    let broken = spread
        .per_seed
        .iter()
        .any(|s| s.report.rows.iter().any(|r| r.violations > 0));
    Ok(if broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
