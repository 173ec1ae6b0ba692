//! `fleetbench validate FILE...`: every problem of every file, then exit 2 if any.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::ValidateArgs;
use crate::output::{note_line, out};

pub(crate) fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in &args.files {
        match scenario::load(file) {
            Ok(s) => out(&format!(
                "ok: {}: scenario `{}`, {} agents, {} provider(s), {} tool(s)\n",
                file.display(),
                s.name,
                s.fleet.agents,
                s.llm.providers.len(),
                s.tools.len()
            ))
            .context("cannot print to stdout")?,
            Err(err) => {
                failed += 1;
                note_line(&format!("error: {:#}", anyhow::Error::new(err)));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} scenario file(s) are invalid",
            args.files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
