//! fleetbench's fleet: agents, the fleet runner, arrivals, stop conditions, both clocks.
//!
//! # Layout
//! - [`schedule`]: closed-loop ramps and open-loop (Poisson, constant) start schedules.
//! - [`stop`]: stop conditions (duration, sessions, turns, interrupt) and the grace period.
//!
//! - [`agent`]: the [`Agent`] trait, what an agent gets and reports, tool definitions.
//! - [`scripted`]: the built-in tool-using agent; `history` keeps its conversation (the
//!   conversation crate's, compressed as the scenario's `[compression]` says) and the prompt
//!   converted for the LLM client; `tokens` counts it; `dictionary` trains the zstd
//!   dictionary the agents' cold stores share (`[compression] zstd_dictionary`).
//! - [`http_agent`]: the HTTP agent driver: sessions against a team's runtime, its calls
//!   attributed through the embedded mock, each turn split into LLM, tools and framework
//!   overhead; [`runtime_memory`]: the runtime's memory sampled against live sessions.
//! - [`runner`]: [`run`] a scenario under the live or the virtual clock into a
//!   [`metrics::RunSnapshot`]; `turn_metrics` turns turn reports into metrics, `tally` keeps each
//!   agent's totals and heap account, `process` reads process figures, `saturation` probes
//!   whether the harness itself is the bottleneck of a live run.

pub mod agent;
mod dictionary;
mod history;
pub mod http_agent;
mod intervals;
pub mod live;
mod merge;
mod options;
mod process;
pub mod runner;
pub mod runtime_memory;
mod saturation;
pub mod schedule;
pub mod scripted;
mod shard;
pub mod stop;
mod summary;
mod tally;
mod tokens;
mod turn_metrics;
mod workers;

#[cfg(test)]
mod accounting_tests;

pub use agent::{Agent, AgentContext, TurnReport, spawn, tool_definitions};
pub use http_agent::{HttpAgent, HttpDriver};
pub use live::{LiveReading, LiveWatch};
pub use merge::{merge_intervals, merge_parts};
pub use runner::{IntervalFn, MockFn, Progress, ProgressFn, RunError, RunOptions, RunOutcome, run};
pub use runtime_memory::{MemorySource, Sampler};
pub use scripted::ScriptedAgent;
pub use shard::{Part, PartOutcome};
pub use stop::StopReason;
