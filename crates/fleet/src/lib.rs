//! fleetbench's fleet: agents, the fleet runner, arrivals, stop conditions, both clocks.
//!
//! # Layout
//! - [`schedule`]: closed-loop ramps and open-loop (Poisson, constant) start schedules.
//! - [`stop`]: stop conditions (duration, sessions, turns, interrupt) and the grace period.
//!
//! - [`agent`]: the [`Agent`] trait, what an agent gets and reports, tool definitions.
//! - [`scripted`]: the built-in tool-using agent.
//! - [`conversation`]: a minimal conversation (issue 5 brings the real one).
//! - [`runner`]: [`run`] a scenario under the live or the virtual clock into a
//!   [`metrics::RunSnapshot`]; `record` turns turn reports into metrics, `process` reads
//!   process figures.

pub mod agent;
pub mod conversation;
mod process;
mod record;
pub mod runner;
pub mod schedule;
pub mod scripted;
pub mod stop;

pub use agent::{Agent, AgentContext, TurnReport, tool_definitions};
pub use runner::{Progress, ProgressFn, RunError, RunOptions, RunOutcome, run};
pub use scripted::ScriptedAgent;
pub use stop::StopReason;
