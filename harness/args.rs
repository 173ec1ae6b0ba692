//! Command-line arguments. The doc comments are the help text.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Load-test AI-agent runtimes: thousands of simulated agents sharing pooled, rate-limited
/// LLM and tool clients, with compression, per-agent memory and latency targets.
///
/// With no command, runs the built-in default scenario.
#[derive(Debug, Parser)]
#[command(name = "fleetbench", version, about, long_about)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a scenario (the built-in default when none is given).
    Run(RunArgs),
    /// Serve the OpenAI-compatible mock LLM and tool server, for agents in any language.
    Serve(ServeArgs),
    /// Check scenario files and report every problem with its line and column.
    Validate(ValidateArgs),
    /// Print the effective scenario, every default filled in.
    PrintScenario(PrintScenarioArgs),
}

impl Default for Command {
    fn default() -> Self {
        Command::Run(RunArgs::default())
    }
}

/// The clock of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Clock {
    /// Real time and real HTTP.
    Live,
    /// Simulated time, the mock in-process: deterministic for a seed.
    Virtual,
}

#[derive(Debug, Default, clap::Args)]
pub(crate) struct RunArgs {
    /// Scenario file (TOML); the built-in default when absent.
    pub(crate) scenario: Option<PathBuf>,
    /// Override the scenario's clock.
    #[arg(long, value_enum)]
    pub(crate) clock: Option<Clock>,
    /// Override the number of agents (`fleet.agents`).
    #[arg(long)]
    pub(crate) agents: Option<u32>,
    /// Override how long the run lasts (`fleet.duration`), like "30s" or "5m".
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<scenario::Dur>,
    /// Override the run seed.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Send every LLM call to this OpenAI-compatible endpoint instead, like
    /// "http://127.0.0.1:8000/v1" (the key still comes from each provider's api_key_env).
    #[arg(long)]
    pub(crate) base_url: Option<String>,
    /// Use this model name for every LLM provider.
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// Write the reports into this directory (created if missing): report.json always, plus
    /// the formats of --format.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Further report formats for --out: json, md, junit (repeat or separate with commas).
    #[arg(long, value_name = "FORMAT", value_delimiter = ',', requires = "out")]
    pub(crate) format: Vec<report::Format>,
    /// Print the plan of the run and exit without running it.
    #[arg(long)]
    pub(crate) plan: bool,
}

fn parse_duration(s: &str) -> Result<scenario::Dur, String> {
    s.parse()
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Scenario whose [mock], [tools] and providers configure the server; the built-in default
    /// when absent.
    #[arg(long)]
    pub(crate) scenario: Option<PathBuf>,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub(crate) port: u16,
    /// Address to bind. Loopback by default; bind another address only on a network you own.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PrintScenarioArgs {
    /// Scenario file; the built-in default when absent.
    pub(crate) file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }
}
