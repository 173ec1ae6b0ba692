//! One agent's conversation state: its messages, its cold store, and the compression that
//! keeps it in bounds (a pipeline of strategies run when the trigger fires).

use get_size2::GetSize;

use crate::cold::{ColdStore, Dictionary};
use crate::message::{Message, Origin, SUMMARY_PREFIX};
use crate::strategy::{Ctx, Pipeline, Summarizer, Trigger, Work, total_tokens};
use crate::tokens::TokenCounter;

/// What one compression did (the outcome; `scenario::Compression` is the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Tokens before.
    pub tokens_before: u64,
    /// Tokens after.
    pub tokens_after: u64,
    /// Messages before.
    pub messages_before: usize,
    /// Messages after.
    pub messages_after: usize,
    /// The compressor's own work.
    pub work: Work,
}

/// Messages, cold store and compression policy.
#[derive(Debug)]
pub struct Conversation {
    messages: Vec<Message>,
    cold: ColdStore,
    pipeline: Pipeline,
    trigger: Trigger,
    compact_to: f64,
    summarizer: Box<dyn Summarizer>,
    counter: Box<dyn TokenCounter>,
}

impl Conversation {
    /// An empty conversation compressed by `pipeline` when `trigger` fires, down to
    /// `compact_to` of the threshold.
    pub fn new(
        pipeline: Pipeline,
        trigger: Trigger,
        compact_to: f64,
        summarizer: Box<dyn Summarizer>,
        counter: Box<dyn TokenCounter>,
    ) -> Self {
        Self {
            messages: Vec::new(),
            cold: ColdStore::default(),
            pipeline,
            trigger,
            compact_to,
            summarizer,
            counter,
        }
    }

    /// When compression runs.
    pub fn trigger(&self) -> Trigger {
        self.trigger
    }

    /// The counter messages are measured with.
    pub fn counter(&self) -> &dyn TokenCounter {
        self.counter.as_ref()
    }

    /// Appends a message.
    pub fn push(&mut self, message: Message) {
        self.messages.push(message);
    }

    /// The messages held (hot).
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Prompt tokens of the hot messages.
    pub fn tokens(&self) -> u64 {
        total_tokens(&self.messages)
    }

    /// Bytes of text in the hot messages.
    pub fn hot_bytes(&self) -> u64 {
        self.messages.iter().map(|m| u64::from(m.bytes)).sum()
    }

    /// Structural size in memory, bytes: this value, the message slots and what the messages
    /// own (text, ids, tool-call lists; measured with get-size2), plus the cold store's frames.
    /// Strategies, summarizer and counter are a few small boxes, not counted.
    pub fn memory_bytes(&self) -> u64 {
        (std::mem::size_of::<Self>() + self.messages.get_heap_size()) as u64 + self.cold.bytes()
    }

    /// The cold store.
    pub fn cold(&self) -> &ColdStore {
        &self.cold
    }

    /// Writes the cold store's new frames with `dict` (a fleet shares one between its
    /// agents' stores; see [`ColdStore::use_dictionary`]).
    pub fn use_dictionary(&mut self, dict: Dictionary) {
        self.cold.use_dictionary(dict);
    }

    /// Whether [`Conversation::maybe_compress`] would compress now: the trigger fires and the
    /// pipeline is not `none` alone (a "compression" that removes nothing by design is not
    /// one, and is not counted).
    pub fn due(&self) -> bool {
        !self.pipeline.is_noop() && self.trigger.fires(&self.messages)
    }

    /// Compresses if it is [`Conversation::due`].
    pub fn maybe_compress(&mut self) -> Option<Compaction> {
        if !self.due() {
            return None;
        }
        Some(self.compress_now())
    }

    /// Compresses now, whatever the trigger says.
    pub fn compress_now(&mut self) -> Compaction {
        let tokens_before = self.tokens();
        let messages_before = self.messages.len();
        let mut ctx = Ctx {
            counter: self.counter.as_ref(),
            target_tokens: self.trigger.target(&self.messages, self.compact_to),
            cold: &mut self.cold,
            summarizer: self.summarizer.as_mut(),
            work: Work::default(),
        };
        self.pipeline.compress(&mut self.messages, &mut ctx);
        let work = ctx.work;
        Compaction {
            tokens_before,
            tokens_after: self.tokens(),
            messages_before,
            messages_after: self.messages.len(),
            work,
        }
    }

    /// The body of the summary message (its text after [`SUMMARY_PREFIX`]), if there is one.
    pub fn summary(&self) -> Option<&str> {
        let m = self.messages.iter().find(|m| m.origin == Origin::Summary)?;
        Some(m.content.strip_prefix(SUMMARY_PREFIX).unwrap_or(&m.content))
    }

    /// Replaces the body of the summary message by `text` (a summary written elsewhere, by an
    /// LLM say), recounting it; its role, place and origin stay, so the invariants hold.
    /// Returns whether there was a summary to replace.
    pub fn replace_summary(&mut self, text: &str) -> bool {
        let Some(m) = self
            .messages
            .iter_mut()
            .find(|m| m.origin == Origin::Summary)
        else {
            return false;
        };
        m.set_content(format!("{SUMMARY_PREFIX}{text}"), self.counter.as_ref());
        true
    }

    /// The prompt for the next LLM call ("memory retrieval"): the hot messages, with the
    /// stubs named in `recall` replaced by the messages they stand for, from the cold store.
    pub fn assemble(&self, recall: &[u64]) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.messages.len());
        for m in &self.messages {
            match m.origin {
                Origin::Stub { handle } if recall.contains(&handle) => {
                    match self.cold.get(handle) {
                        Some(back) => out.extend(back),
                        None => out.push(m.clone()),
                    }
                }
                _ => out.push(m.clone()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{C, FixedSummary, session};
    use crate::strategies::Baseline;
    use crate::strategy::Strategy;

    #[test]
    fn a_none_pipeline_never_counts_a_compression() {
        let stages: Vec<Box<dyn Strategy>> = vec![Box::new(Baseline::default())];
        let mut c = Conversation::new(
            Pipeline { stages },
            Trigger::Tokens(10),
            0.5,
            Box::new(FixedSummary),
            Box::new(C),
        );
        for m in session(5, 10) {
            c.push(m);
            assert_eq!(c.maybe_compress(), None);
        }
        assert!(c.tokens() > 10, "the trigger would have fired");
    }
}
