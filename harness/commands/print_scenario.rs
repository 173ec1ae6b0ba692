//! `fleetbench print-scenario [FILE]`: the effective scenario as TOML, the override flags
//! `run` takes applied.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::PrintScenarioArgs;
use crate::output::out;
use crate::scenario_source;

pub(crate) fn run(args: &PrintScenarioArgs) -> anyhow::Result<ExitCode> {
    let scenario = scenario_source::load(args.file.as_deref(), &args.overrides)?;
    out(&scenario.to_toml()).context("cannot print the scenario to stdout")?;
    Ok(ExitCode::SUCCESS)
}
