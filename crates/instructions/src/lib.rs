//! Instruction counts of fleetbench's hot paths, and the gate that keeps them from growing.
//!
//! `benches/hot_paths.rs` counts the instructions of each hot path under valgrind's callgrind
//! (gungraun): exact and repeatable on one machine and toolchain, where times are not. The
//! `instructions-gate` binary runs it, compares each count with the committed
//! `baseline.json` and classes each change as `fleetbench compare` does (5, 10, 20 %);
//! a critical regression fails. docs/performance.md, "Instruction counts", has the commands.
//!
//! # Layout
//! - [`summary`]: the counts in gungraun's JSON summaries (`--output-format=json`).
//! - [`baseline`]: the committed counts, read and written.
//! - [`gate`]: each count against the baseline: [`gate::Outcome`]s, the table, the verdict.

pub mod baseline;
pub mod gate;
pub mod summary;

pub use baseline::{Baseline, BaselineError};
pub use gate::{Comparison, Outcome, Row, compare};
pub use summary::{Summaries, SummaryError, parse};
