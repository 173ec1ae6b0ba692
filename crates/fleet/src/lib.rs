//! fleetbench's fleet (in progress): the pieces of a run that do not depend on the agent.
//!
//! # Layout
//! - [`schedule`]: closed-loop ramps and open-loop (Poisson, constant) start schedules.
//! - [`stop`]: stop conditions (duration, sessions, turns, interrupt) and the grace period.
//!
//! The agent trait, the scripted agent and the runner join this crate next (issue 4).

pub mod schedule;
pub mod stop;
