//! `[compression] summarizer = "llm"`: rolling summaries written by the fleet's LLM, through
//! the shared client, while the compression strategies stay synchronous.
//!
//! A compression runs inside the conversation, where no call can be awaited. So the
//! [`DeferredSummarizer`] writes the extractive summary at once (the conversation is valid and
//! bounded immediately) and leaves a [`Pending`] request in a slot it shares with the agent.
//! Before its next LLM call the agent takes the request, asks the LLM for the summary (a call
//! counted like every other) and, if it answers, the LLM's text replaces the extractive one.

use std::sync::{Arc, Mutex};

use clients::LlmRequest;
use conversation::summarize::Extractive;
use conversation::summarize::prompt::{MAX_SUMMARY_TOKENS, SYSTEM_PROMPT, span_text};
use conversation::{Message, Summarizer, TokenCounter};

/// A summary the LLM should write: what to summarize, and the extractive summary that stands
/// in for it until then.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The previous summary and the evicted span, as `role: content` lines.
    pub(crate) text: String,
    /// The body of the summary message the compression wrote.
    pub(crate) extractive: String,
}

/// The slot a [`DeferredSummarizer`] shares with its agent (a std mutex, never held across an
/// `.await`).
pub(crate) type Slot = Arc<Mutex<Option<Pending>>>;

/// Writes extractive summaries now and leaves the LLM's summary of the same text to be
/// written before the next LLM call.
#[derive(Debug)]
pub(crate) struct DeferredSummarizer {
    inner: Extractive,
    pending: Slot,
}

impl DeferredSummarizer {
    /// A summarizer leaving its requests in `pending`.
    pub(crate) fn new(pending: Slot) -> Self {
        Self {
            inner: Extractive::default(),
            pending,
        }
    }
}

impl Summarizer for DeferredSummarizer {
    fn summarize(&mut self, previous: Option<&str>, span: &[Message]) -> String {
        let extractive = self.inner.summarize(previous, span);
        let pending = Pending {
            text: span_text(previous, span),
            extractive: extractive.clone(),
        };
        *self
            .pending
            .lock()
            .expect("no code panics while holding the pending summary") = Some(pending);
        extractive
    }
}

/// The summarizer `c` asks for, and for `summarizer = "llm"` the slot its requests go to.
pub(crate) fn summarizer(c: &scenario::Compression) -> (Box<dyn Summarizer>, Option<Slot>) {
    match c.summarizer {
        scenario::Summarizer::Extractive => (Box::new(Extractive::default()), None),
        scenario::Summarizer::Llm => {
            let slot = Slot::default();
            (Box::new(DeferredSummarizer::new(slot.clone())), Some(slot))
        }
    }
}

/// The LLM call that writes the summary of `pending`: no tools, a short answer.
pub(crate) fn request(pending: &Pending, counter: &dyn TokenCounter) -> LlmRequest {
    let prompt_tokens = counter.count(SYSTEM_PROMPT) + counter.count(&pending.text);
    LlmRequest::system_user(
        SYSTEM_PROMPT,
        &pending.text,
        MAX_SUMMARY_TOKENS,
        prompt_tokens,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use conversation::{CharsPerToken, ToolCall};

    #[test]
    fn a_summary_is_extractive_now_and_leaves_the_text_for_the_llm() {
        let c = CharsPerToken(4.0);
        let slot = Slot::default();
        let mut s = DeferredSummarizer::new(slot.clone());
        let call = ToolCall {
            id: "c1".to_owned(),
            name: "lookup".to_owned(),
            arguments: r#"{"order":"QX7-4471-KP"}"#.to_owned(),
        };
        let span = vec![
            Message::user("Find order QX7-4471-KP.", &c),
            Message::assistant("", vec![call], &c),
            Message::tool("c1", "lookup", "shipped", &c),
        ];
        let written = s.summarize(Some("- user: earlier ID-1"), &span);
        assert_eq!(
            written,
            Extractive::default().summarize(Some("- user: earlier ID-1"), &span)
        );
        let pending = slot.lock().unwrap().take().unwrap();
        assert_eq!(pending.extractive, written);
        assert_eq!(pending.text, span_text(Some("- user: earlier ID-1"), &span));
        let r = request(&pending, &c);
        assert!(r.tools.is_empty() && r.messages.len() == 2 && r.prompt_tokens > 0);
    }
}
