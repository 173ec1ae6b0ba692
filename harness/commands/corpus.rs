//! `fleetbench corpus generate`: seeded conversations with planted facts, as JSONL.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use conversation::corpus;

use crate::args::{CorpusCommand, GenerateArgs};

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
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("cannot write the corpus to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}
