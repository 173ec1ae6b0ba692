//! End-to-end tests of the `fleetbench` binary: one test binary, a module per area.

/// `validate`, `print-scenario`, help text and exit codes.
mod cli;
/// Helpers shared by the modules.
mod common;
/// `corpus generate` and `compress`: determinism, sweeps, users' logs, bad input.
mod compress;
/// `run`: fleets against the embedded mock, reports, the schema, exit codes, determinism.
mod run;
/// `serve`: the standalone mock answers real HTTP.
mod serve;
