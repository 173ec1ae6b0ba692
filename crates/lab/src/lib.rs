//! fleetbench's offline compression lab (docs/compression.md): what a compression strategy
//! costs and what it forgets, measured on conversations replayed without a model, a clock or
//! a network. The strategies themselves live in `conversation`, which a running agent needs;
//! the lab only drives them, so an agent never links the corpus generator or the scorer.
//!
//! # Layout
//! - [`corpus`]: conversation corpora (JSONL) and the seeded generator with planted facts.
//! - [`eval`]: the evaluation: replay a corpus through strategies, score retention, render
//!   the results as a table (`report`'s), Markdown or JSON.
//! - [`external`]: a strategy run as a child process over a JSON-lines protocol
//!   (`--strategy-cmd`).
//! - [`llm`]: the LLM tier: summaries by a model, a reader model scoring final contexts,
//!   record/replay cassettes.

pub mod corpus;
pub mod eval;
pub mod external;
pub mod llm;
