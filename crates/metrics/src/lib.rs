//! fleetbench metrics: what a run measures.
//!
//! # Layout
//! - [`ErrorKind`] (`error`): why a call failed, counted per kind.
//!
//! Latency histograms, per-agent summaries, run snapshots and target verdicts join this crate
//! with the fleet runner.

mod error;

pub use error::ErrorKind;
