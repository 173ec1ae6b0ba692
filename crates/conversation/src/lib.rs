//! fleetbench conversation state and compression: what an agent remembers, how it is
//! counted, and the strategies that keep it in bounds. Pure: no clock, no network.
//!
//! Only what a running agent needs: the offline lab that replays corpora through the
//! strategies and scores them is its own crate, `fleetbench-lab`.
//!
//! # Layout
//! - [`message`]: messages in OpenAI's shape, with token counts and byte sizes.
//! - [`tokens`]: the [`TokenCounter`] trait, tiktoken (o200k, cl100k) and a chars estimate.
//! - [`invariants`]: what no strategy may break.
//! - [`strategy`]: the [`Strategy`] trait, triggers, pipelines, summarizers.
//! - [`strategies`]: the eleven built-in strategies and [`strategies::build`].
//! - [`summarize`]: the extractive summarizer (deterministic, offline).
//! - [`cold`]: the cold store for offloaded messages.
//! - [`conversation`]: one agent's state: messages, cold store, compression, assembly.
//! - [`message_units`]: messages grouped into units kept or dropped whole; in-place reductions.

pub mod cold;
pub mod conversation;
pub mod invariants;
pub mod message;
pub mod message_units;
pub mod strategies;
pub mod strategy;
pub mod summarize;
pub mod tokens;

pub use conversation::{Compaction, Conversation};
pub use message::{Message, Origin, Role, SUMMARY_PREFIX, ToolCall};
pub use strategy::{Ctx, Pipeline, Strategy, Summarizer, Trigger, Work};
pub use tokens::{CharsPerToken, Tiktoken, TokenCounter};
