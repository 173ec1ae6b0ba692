//! [`LlmSummarizer`]: summaries written by the tier's model, with the fleet's prompt
//! (`conversation::summarize::prompt`). A call without an answer (or an empty answer) falls
//! back to the extractive summary of the same span, and is counted in the tier's report.

use conversation::message::Message;
use conversation::strategy::Summarizer;
use conversation::summarize::Extractive;
use conversation::summarize::prompt::{MAX_SUMMARY_TOKENS, SYSTEM_PROMPT, span_text};

use super::{LlmCall, Purpose, SharedTier, lock};

/// A summarizer asking the tier's model.
#[derive(Debug)]
pub struct LlmSummarizer {
    tier: SharedTier,
    fallback: Extractive,
}

impl LlmSummarizer {
    /// A summarizer asking `tier`.
    pub fn new(tier: SharedTier) -> Self {
        Self {
            tier,
            fallback: Extractive::default(),
        }
    }
}

impl Summarizer for LlmSummarizer {
    fn summarize(&mut self, previous: Option<&str>, span: &[Message]) -> String {
        let call = LlmCall {
            purpose: Purpose::Summary,
            max_tokens: MAX_SUMMARY_TOKENS,
            system: SYSTEM_PROMPT.to_owned(),
            user: span_text(previous, span),
        };
        match lock(&self.tier).ask(&call) {
            Some(answer) if !answer.text.trim().is_empty() => answer.text.trim().to_owned(),
            _ => self.fallback.summarize(previous, span),
        }
    }
}
