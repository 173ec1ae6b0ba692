//! The `fleetbench` command: parses arguments, runs one command, maps the outcome to an exit
//! code (docs/cli.md): 0 ok, 1 a target failed, 2 bad usage, input or I/O, 3 a run stopped by
//! a signal with its reports written, 128 + N a second signal N (no report).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod commands;
#[cfg(test)]
mod deploy_tests;
mod logging;
mod output;
mod prometheus;
mod scenario_source;
mod signals;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Args, Command};

/// Every allocation is charged to the agent that made it (see the `heap` crate), so reports
/// give each agent's heap; a library user who does not install it gets structural sizes.
#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            output::note_line(&format!("error: {err:#}"));
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command.unwrap_or_default() {
        Command::Run(run) => commands::run::run(&run),
        Command::Serve(serve) => commands::serve::run(&serve),
        Command::Validate(validate) => commands::validate::run(&validate),
        Command::PrintScenario(print) => commands::print_scenario::run(&print),
        Command::Corpus(corpus) => commands::corpus::run(&corpus),
        Command::Compress(compress) => commands::compress::run(&compress),
        Command::Compare(compare) => commands::compare::run(&compare),
        Command::Sweep(sweep) => commands::sweep::run(&sweep),
        Command::Report(report) => commands::report::run(&report),
        Command::Merge(merge) => commands::merge::run(&merge),
    }
}

/// Logs go to stderr; `RUST_LOG` picks the level (default: warnings). See `logging`.
fn init_logging() {
    logging::init();
}
