//! `fleetbench print-scenario [FILE]`: the effective scenario as TOML.

use std::process::ExitCode;

use crate::args::PrintScenarioArgs;
use crate::scenario_source;

pub(crate) fn run(args: &PrintScenarioArgs) -> anyhow::Result<ExitCode> {
    let scenario = scenario_source::load(args.file.as_deref())?;
    print!("{}", scenario.to_toml());
    Ok(ExitCode::SUCCESS)
}
