//! One session's conversation as the scripted agent keeps it: a [`conversation::Conversation`]
//! configured from the scenario's `[compression]` (messages with token counts, the pipeline,
//! its trigger, the cold store), and the prompt in async-openai's types, kept in step with it.
//!
//! An agent sends its whole conversation on every LLM call. Converting (or cloning) it each
//! time cost more than the call itself under the virtual clock, so the converted messages are
//! kept: new messages are converted once and appended, and the list is lent to the request and
//! handed back ([`History::lend`], [`History::give_back`]). After a compression only the
//! messages from the first one it changed are converted again.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, FunctionCall,
};

use clients::{ConversationCache, LlmRequest};
use conversation::cold::Dictionary;
#[cfg(test)]
use conversation::summarize::Extractive;
use conversation::{Compaction, Conversation, Message, Role, Summarizer, ToolCall, Trigger};

use crate::summary::{self, Slot};
use crate::tokens::Counter;

/// A session's conversation and its prompt, converted for the LLM client.
#[derive(Debug)]
pub(crate) struct History {
    conversation: Conversation,
    /// The hot messages converted, in order: a prefix of them, except after a compression
    /// (`stale`) until the next [`History::lend`] brings it in step.
    sent: Vec<ChatCompletionRequestMessage>,
    /// A compression ran since `sent` was last brought in step: it may have rewritten or
    /// removed any message.
    stale: bool,
    /// The pipeline has a stage other than `none`, which changes nothing: with `none` alone,
    /// `sent` stays in step through compressions without comparing it again.
    rewrites: bool,
    /// Heap bytes the messages of `sent` own (text, ids, tool-call lists).
    sent_heap: u64,
    /// What the LLM backend kept of the prompt's messages so far (the in-process mock: what it
    /// read of them, so a call hands over only the messages added since:
    /// `clients::LlmClient::call_in`): of a prefix of `sent`, cut with it.
    cache: ConversationCache,
}

impl History {
    /// A conversation opened by `system`, compressed as `c` says.
    #[cfg(test)]
    pub(crate) fn new(c: &scenario::Compression, system: &str) -> Self {
        Self::with_summarizer(c, system, Box::new(Extractive::default()))
    }

    /// A conversation opened by `system`, compressed as `c` says, its summaries written by
    /// `summarizer` (see [`summary::summarizer`]).
    pub(crate) fn with_summarizer(
        c: &scenario::Compression,
        system: &str,
        summarizer: Box<dyn Summarizer>,
    ) -> Self {
        let mut conversation = Conversation::new(
            conversation::strategies::build(c),
            Trigger::from_scenario(c),
            c.compact_to.0,
            summarizer,
            Box::new(Counter::new(c)),
        );
        let message = Message::system(system, conversation.counter());
        conversation.push(message);
        Self {
            conversation,
            sent: Vec::new(),
            stale: false,
            rewrites: c.strategy.rewrites(),
            sent_heap: 0,
            cache: ConversationCache::new(),
        }
    }

    /// Adds the user's message.
    pub(crate) fn user(&mut self, text: &str) {
        let message = Message::user(text, self.conversation.counter());
        self.conversation.push(message);
    }

    /// Adds the assistant's answer: text, tool calls, or both.
    pub(crate) fn assistant(&mut self, text: &str, calls: &[clients::ToolCall]) {
        let calls = calls
            .iter()
            .map(|c| ToolCall {
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            })
            .collect();
        let message = Message::assistant(text, calls, self.conversation.counter());
        self.conversation.push(message);
    }

    /// Adds the result of tool `name` answering call `call_id`.
    pub(crate) fn tool_result(&mut self, call_id: &str, name: &str, output: &str) {
        let message = Message::tool(call_id, name, output, self.conversation.counter());
        self.conversation.push(message);
    }

    /// Compresses if the trigger fires.
    pub(crate) fn compress(&mut self) -> Option<Compaction> {
        let done = self.conversation.maybe_compress()?;
        self.stale |= self.rewrites;
        Some(done)
    }

    /// `summarizer = "llm"`: the call that writes the summary the last compression left to
    /// write, if it still stands in the conversation (a compression may drop its summary when
    /// it would not make the conversation smaller).
    pub(crate) fn summary_request(&self, pending: &Slot) -> Option<LlmRequest> {
        let pending = pending
            .lock()
            .expect("no code panics while holding the pending summary")
            .take()?;
        let written = self.conversation.summary()?;
        if !pending.extractive.trim().is_empty() && written != pending.extractive {
            return None;
        }
        Some(summary::request(&pending, self.conversation.counter()))
    }

    /// Puts the LLM's summary `text` in place of the extractive one (an empty answer keeps
    /// it); the prompt is converted again from the summary on.
    pub(crate) fn replace_summary(&mut self, text: &str) {
        let text = text.trim();
        if !text.is_empty() && self.conversation.replace_summary(text) {
            self.stale = true;
        }
    }

    /// Lends the prompt (`Conversation::assemble(&[])`: the hot messages, nothing recalled
    /// from the cold store) to a request, to be handed back with [`History::give_back`].
    pub(crate) fn lend(&mut self) -> Vec<ChatCompletionRequestMessage> {
        let messages = self.conversation.messages();
        if std::mem::take(&mut self.stale) {
            let kept = self
                .sent
                .iter()
                .zip(messages)
                .take_while(|(sent, m)| same(m, sent))
                .count();
            self.sent.truncate(kept);
            self.cache.truncate(kept);
            self.sent_heap = messages[..kept].iter().map(heap_bytes).sum();
        }
        for m in &messages[self.sent.len()..] {
            self.sent.push(convert(m));
            self.sent_heap += heap_bytes(m);
        }
        #[cfg(test)]
        self.check_prompt();
        std::mem::take(&mut self.sent)
    }

    /// What the LLM backend kept of the prompt, to call with the prompt lent.
    pub(crate) fn cache(&mut self) -> &mut ConversationCache {
        &mut self.cache
    }

    /// Takes back the prompt lent by [`History::lend`].
    pub(crate) fn give_back(&mut self, messages: Vec<ChatCompletionRequestMessage>) {
        debug_assert!(self.sent.is_empty(), "the prompt was lent twice");
        self.sent = messages;
    }

    /// Prompt tokens of the hot messages, under the scenario's tokenizer.
    pub(crate) fn tokens(&self) -> u64 {
        self.conversation.tokens()
    }

    /// Writes the cold store's new frames with the fleet's shared `dict`.
    pub(crate) fn use_dictionary(&mut self, dict: Dictionary) {
        self.conversation.use_dictionary(dict);
    }

    /// Handles in the cold store: spans `0..n` can be recalled.
    pub(crate) fn cold_handles(&self) -> u64 {
        self.conversation.cold().next_handle()
    }

    /// The cold store's size: its frames' bytes and what they hold uncompressed.
    pub(crate) fn cold_size(&self) -> (u64, u64) {
        let cold = self.conversation.cold();
        (cold.bytes(), cold.raw_bytes())
    }

    /// The span stored under `handle`, as the text of the recall tool's result (one line per
    /// message: its role, its tool calls, its text), and its tokens as counted when it was
    /// offloaded; `None` for a handle the store does not hold.
    pub(crate) fn recall(&self, handle: u64) -> Option<(String, u64)> {
        use std::fmt::Write as _;
        let span = self.conversation.cold().get(handle)?;
        let mut text = format!("[handle {handle}: {} messages]\n", span.len());
        for m in &span {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::Tool => "tool",
            };
            let _ = write!(text, "{role}");
            if let Some(name) = &m.name {
                let _ = write!(text, " ({name})");
            }
            for c in &m.tool_calls {
                let _ = write!(text, " calls {}({})", c.name, c.arguments);
            }
            let _ = writeln!(text, ": {}", m.content);
        }
        Some((text, conversation::strategy::total_tokens(&span)))
    }

    /// Bytes of text held: the hot messages and the cold store's frames.
    pub(crate) fn bytes(&self) -> u64 {
        self.conversation.hot_bytes() + self.conversation.cold().bytes()
    }

    /// Structural size in memory: the conversation (get-size2), and the converted prompt (its
    /// slots and what its messages own, counted by hand: async-openai's types have no
    /// `GetSize`) with what the backend kept of it.
    pub(crate) fn memory_bytes(&self) -> u64 {
        (std::mem::size_of::<Self>()
            + self.sent.capacity() * std::mem::size_of::<ChatCompletionRequestMessage>()
            + self.cache.heap_bytes()) as u64
            + self.sent_heap
            + self.conversation.memory_bytes()
    }

    /// In this crate's tests, every prompt lent is checked: valid (every tool result follows
    /// its call) and exactly the conversation's prompt, converted.
    #[cfg(test)]
    fn check_prompt(&self) {
        let prompt = self.conversation.assemble(&[]);
        let violations = conversation::invariants::check(&prompt);
        assert!(violations.is_empty(), "{violations:?} in {prompt:#?}");
        assert_eq!(self.sent, prompt.iter().map(convert).collect::<Vec<_>>());
    }
}

/// Heap bytes the converted `m` owns: its text and ids, and its tool-call list.
fn heap_bytes(m: &Message) -> u64 {
    u64::from(m.bytes)
        + (m.tool_calls.len() * std::mem::size_of::<ChatCompletionMessageToolCalls>()) as u64
}

/// `m` as the LLM client sends it.
fn convert(m: &Message) -> ChatCompletionRequestMessage {
    let text = m.content.as_str();
    match m.role {
        Role::System => ChatCompletionRequestSystemMessage::from(text).into(),
        Role::User => ChatCompletionRequestUserMessage::from(text).into(),
        Role::Assistant => ChatCompletionRequestAssistantMessage {
            content: (!text.is_empty()).then(|| text.into()),
            tool_calls: (!m.tool_calls.is_empty()).then(|| {
                m.tool_calls
                    .iter()
                    .map(|c| {
                        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                            id: c.id.clone(),
                            function: FunctionCall {
                                name: c.name.clone(),
                                arguments: c.arguments.clone(),
                            },
                        })
                    })
                    .collect()
            }),
            ..ChatCompletionRequestAssistantMessage::default()
        }
        .into(),
        Role::Tool => ChatCompletionRequestToolMessage {
            content: text.into(),
            tool_call_id: m.tool_call_id.clone().unwrap_or_default(),
        }
        .into(),
    }
}

/// Whether `sent` is `m` converted, compared without converting: after a compression, the
/// messages before the first one it changed are kept as they are.
fn same(m: &Message, sent: &ChatCompletionRequestMessage) -> bool {
    use ChatCompletionRequestMessage as Sent;
    let text = m.content.as_str();
    match (m.role, sent) {
        (Role::System, Sent::System(s)) => {
            matches!(&s.content, ChatCompletionRequestSystemMessageContent::Text(t) if t == text)
        }
        (Role::User, Sent::User(u)) => {
            matches!(&u.content, ChatCompletionRequestUserMessageContent::Text(t) if t == text)
        }
        (Role::Tool, Sent::Tool(t)) => {
            m.tool_call_id.as_ref() == Some(&t.tool_call_id)
                && matches!(&t.content, ChatCompletionRequestToolMessageContent::Text(c) if c == text)
        }
        (Role::Assistant, Sent::Assistant(a)) => {
            let content = match &a.content {
                None => "",
                Some(ChatCompletionRequestAssistantMessageContent::Text(t)) => t.as_str(),
                Some(_) => return false,
            };
            let calls = a.tool_calls.as_deref().unwrap_or_default();
            content == text
                && calls.len() == m.tool_calls.len()
                && calls.iter().zip(&m.tool_calls).all(|(sent, call)| {
                    matches!(sent, ChatCompletionMessageToolCalls::Function(f)
                        if f.id == call.id
                            && f.function.name == call.name
                            && f.function.arguments == call.arguments)
                })
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
