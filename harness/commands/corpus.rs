//! `fleetbench corpus generate`: seeded conversations with planted facts, as JSONL.

use std::process::ExitCode;

use anyhow::Context as _;
use lab::corpus;

use crate::args::{CorpusCommand, GenerateArgs};
use crate::output::out;

pub(crate) fn run(command: &CorpusCommand) -> anyhow::Result<ExitCode> {
    match command {
        CorpusCommand::Generate(args) => generate(args),
    }
}

fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let conversations = corpus::generate(
        args.profile,
        args.conversations as usize,
        args.turns as usize,
        args.seed,
    );
    let text = corpus::write_jsonl(&conversations);
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| {
            format!(
                "--out {}: cannot write the corpus; check that the directory exists and is writable",
                path.display()
            )
        })?,
        None => out(&text).context("cannot write the corpus to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}
