//! fleetbench scenario files.
//!
//! A scenario describes a whole run: the fleet and how it arrives, the shape of a session,
//! the LLM providers and tools with their client policies, compression, the mock's behaviour
//! and faults, the targets, the seed and the clock. This crate reads it into a typed,
//! validated [`Scenario`], and provides the seeded randomness and text every other crate
//! draws from. It is pure: no async runtime, no I/O beyond reading the file.
//!
//! # Layout
//! - [`schema`]: the sections of the file, with their defaults.
//! - `load`: TOML → [`Scenario`], every error located by file, line, column and key.
//! - [`overrides`]: command-line values laid over the file before it is read.
//! - `validate`: rules across fields (references, stop conditions, orderings).
//! - [`bounds`]: the largest and smallest values a scenario may hold, and why.
//! - [`budget`]: a `[targets]` table on its own, laid over a scenario's targets (CI gates).
//! - [`dist`]: constant, uniform, log-normal (median + p95) and empirical distributions.
//! - [`units`]: durations, byte sizes, probabilities and rates.
//! - [`rng`]: the portable seeded generator and seed derivation.
//! - [`text`]: deterministic text of an exact token length.

pub mod bounds;
pub mod budget;
pub mod dist;
mod error;
mod load;
pub mod overrides;
pub mod rng;
pub mod schema;
mod secrets;
pub mod text;
pub mod units;
mod validate;

pub use dist::{Dist, DurationDist, TokenDist, Tokens};
pub use error::{Problem, ScenarioError};
pub use load::{Loaded, load, load_with};
pub use overrides::{Override, Setting};
pub use rng::SimRng;
pub use schema::*;
pub use secrets::{Secret, Secrets};
pub use units::{Bytes, Dur, Probability, Rate};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
