//! fleetbench's fleet (in progress): the pieces of a run that do not depend on the agent.
//!
//! # Layout
//! - [`schedule`]: closed-loop ramps and open-loop (Poisson, constant) start schedules.
//! - [`stop`]: stop conditions (duration, sessions, turns, interrupt) and the grace period.
//!
//! - [`agent`]: the [`Agent`] trait, what an agent gets and reports, tool definitions.
//! - [`scripted`]: the built-in tool-using agent.
//! - [`conversation`]: a minimal conversation (issue 5 brings the real one).
//!
//! The runner (live and virtual clocks) joins this crate next (issue 4).

pub mod agent;
pub mod conversation;
pub mod schedule;
pub mod scripted;
pub mod stop;

pub use agent::{Agent, AgentContext, TurnReport, tool_definitions};
pub use scripted::ScriptedAgent;
