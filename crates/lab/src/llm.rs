//! The lab's LLM tier (docs/compression.md, "The LLM tier"): summaries written by a model
//! (`compress --summarizer llm`) and a reader model that answers questions about the planted
//! facts from each final context (`compress --reader`), scored exact and F1.
//!
//! The lab stays synchronous and offline by itself: a model is anything that implements
//! [`Llm`]. The binary's is the shared client stack (limits, retries, breakers) against any
//! OpenAI-compatible endpoint; a [`Cassette`] records its answers to a JSON-lines file and
//! replays them without a server, so CI and the tests get the same report every time.
//!
//! # Layout
//! - this module: the call, the answer, the [`Llm`] trait and [`LlmTier`], which counts calls
//!   and tokens by purpose.
//! - `cassette`: record and replay.
//! - `summarizer`: [`LlmSummarizer`], a `conversation` summarizer asking the tier.
//! - `reader`: the questions (cloze lines of the planted facts), the reader's call, the
//!   parsing of its answers and their scores.

mod cassette;
pub mod reader;
mod summarizer;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use cassette::{Cassette, CassetteError};
pub use summarizer::LlmSummarizer;

/// Why the lab calls a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Writing a summary of an evicted span.
    Summary,
    /// Answering questions about a final context.
    Reader,
}

/// One call: a system prompt and one user message. Its fields are what a cassette matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LlmCall {
    /// Why it is made.
    pub purpose: Purpose,
    /// Most tokens the answer may have.
    pub max_tokens: u32,
    /// The system prompt.
    pub system: String,
    /// The user message.
    pub user: String,
}

/// A model's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmAnswer {
    /// What it wrote.
    pub text: String,
    /// Prompt tokens, as the server counted them (`usage`), else an estimate.
    pub prompt_tokens: u32,
    /// Completion tokens, as the server counted them.
    pub completion_tokens: u32,
    /// The model that answered (the provider's `model`).
    pub model: String,
}

/// Why a call has no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LlmError(pub String);

/// A model the lab can ask. Synchronous: the lab replays on one thread; an implementation
/// over an async client blocks on its runtime.
pub trait Llm: Send {
    /// The answer to `call`.
    fn complete(&mut self, call: &LlmCall) -> Result<LlmAnswer, LlmError>;
}

/// Calls and tokens of one purpose.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Calls made (answered or not).
    pub calls: u64,
    /// Calls without an answer (the summary fell back to the extractive one; the reader's
    /// questions of that context count as unanswered).
    pub failed: u64,
    /// Prompt tokens of the answered calls.
    pub prompt_tokens: u64,
    /// Completion tokens of the answered calls.
    pub completion_tokens: u64,
}

/// What the tier did in an evaluation: the report's `llm` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TierReport {
    /// The models that answered, sorted.
    pub models: Vec<String>,
    /// Summaries asked for.
    pub summary: Usage,
    /// Reader calls (one per conversation and row).
    pub reader: Usage,
    /// The first failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// A model shared by every replay of an evaluation, with its calls counted by purpose.
pub struct LlmTier {
    model: Box<dyn Llm>,
    report: TierReport,
}

impl std::fmt::Debug for LlmTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmTier")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// The tier as the summarizers and the reader share it.
pub type SharedTier = Arc<Mutex<LlmTier>>;

impl LlmTier {
    /// The tier over `model`, shared.
    pub fn shared(model: Box<dyn Llm>) -> SharedTier {
        Arc::new(Mutex::new(Self {
            model,
            report: TierReport::default(),
        }))
    }

    /// Asks the model; a failure is counted (the first one kept) and gives `None`.
    pub fn ask(&mut self, call: &LlmCall) -> Option<LlmAnswer> {
        let usage = match call.purpose {
            Purpose::Summary => &mut self.report.summary,
            Purpose::Reader => &mut self.report.reader,
        };
        usage.calls += 1;
        match self.model.complete(call) {
            Ok(answer) => {
                usage.prompt_tokens += u64::from(answer.prompt_tokens);
                usage.completion_tokens += u64::from(answer.completion_tokens);
                if !answer.model.is_empty() && !self.report.models.contains(&answer.model) {
                    self.report.models.push(answer.model.clone());
                    self.report.models.sort();
                }
                Some(answer)
            }
            Err(e) => {
                usage.failed += 1;
                self.report.first_error.get_or_insert(e.0);
                None
            }
        }
    }

    /// What it did so far.
    pub fn report(&self) -> TierReport {
        self.report.clone()
    }

    /// What it did since the last time this was called (one evaluation's figures, when a
    /// tier serves several: one per seed), the counts starting again from zero.
    pub fn take_report(&mut self) -> TierReport {
        std::mem::take(&mut self.report)
    }
}

/// Locks `tier` (a panic while holding it is a bug elsewhere; its state is still counts).
pub(crate) fn lock(tier: &SharedTier) -> std::sync::MutexGuard<'_, LlmTier> {
    tier.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
