//! A minimal conversation: the messages an agent has exchanged, with their sizes. The
//! conversation crate (issue 5) replaces it with token-exact counting and compression.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, FunctionCall,
};

use clients::ToolCall;

/// Estimated tokens of a text: four characters a token (the mock's `chars` tokenizer).
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX)
}

/// The messages of one session, ready to send.
#[derive(Clone, Debug, Default)]
pub struct Conversation {
    messages: Vec<ChatCompletionRequestMessage>,
    bytes: u64,
    tokens: u32,
    /// Heap bytes the messages own beyond their slots in `messages`: text, ids, tool-call lists.
    heap: u64,
}

impl Conversation {
    /// A conversation opened by a system prompt.
    pub fn new(system: &str) -> Self {
        let mut c = Self::default();
        c.push(
            ChatCompletionRequestSystemMessage::from(system).into(),
            system.len(),
            estimate_tokens(system) + 3,
        );
        c
    }

    fn push(&mut self, message: ChatCompletionRequestMessage, bytes: usize, tokens: u32) {
        self.heap += bytes as u64
            + match &message {
                ChatCompletionRequestMessage::Assistant(a) => {
                    a.tool_calls.as_ref().map_or(0, |calls| {
                        (calls.capacity() * std::mem::size_of::<ChatCompletionMessageToolCalls>())
                            as u64
                    })
                }
                _ => 0,
            };
        self.messages.push(message);
        self.bytes += bytes as u64;
        self.tokens = self.tokens.saturating_add(tokens);
    }

    /// Adds the user's message.
    pub fn user(&mut self, text: &str) {
        self.push(
            ChatCompletionRequestUserMessage::from(text).into(),
            text.len(),
            estimate_tokens(text) + 3,
        );
    }

    /// Adds the assistant's answer: text, or tool calls.
    pub fn assistant(&mut self, text: &str, calls: &[ToolCall]) {
        let tool_calls: Vec<ChatCompletionMessageToolCalls> = calls
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
            .collect();
        let bytes = text.len()
            + calls
                .iter()
                .map(|c| c.id.len() + c.name.len() + c.arguments.len())
                .sum::<usize>();
        let message = ChatCompletionRequestAssistantMessage {
            content: (!text.is_empty()).then(|| text.into()),
            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            ..ChatCompletionRequestAssistantMessage::default()
        };
        self.push(
            message.into(),
            bytes,
            u32::try_from(bytes.div_ceil(4)).unwrap_or(u32::MAX) + 3,
        );
    }

    /// Adds a tool's result to the call it answers.
    pub fn tool_result(&mut self, call_id: &str, output: &str) {
        let message = ChatCompletionRequestToolMessage {
            content: output.into(),
            tool_call_id: call_id.to_owned(),
        };
        self.push(
            message.into(),
            output.len() + call_id.len(),
            estimate_tokens(output) + 3,
        );
    }

    /// The messages to send.
    pub fn messages(&self) -> &[ChatCompletionRequestMessage] {
        &self.messages
    }

    /// Lends the messages to a request, to be handed back with [`Conversation::give_back`]
    /// once it is answered: an agent sends its whole conversation on every call, and copying
    /// it each time cost more than the call itself under the virtual clock.
    pub fn lend(&mut self) -> Vec<ChatCompletionRequestMessage> {
        std::mem::take(&mut self.messages)
    }

    /// Takes back the messages lent by [`Conversation::lend`].
    pub fn give_back(&mut self, messages: Vec<ChatCompletionRequestMessage>) {
        debug_assert!(self.messages.is_empty(), "messages were added while lent");
        self.messages = messages;
    }

    /// Bytes of text held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Structural size in memory: the conversation, its message slots and what they own. The
    /// async-openai message types do not implement `GetSize`, so this is counted by hand; the
    /// conversation crate (issue 5) measures its own types with get-size2, and the allocator
    /// figure (issue 6) replaces both.
    pub fn memory_bytes(&self) -> u64 {
        (std::mem::size_of::<Self>()
            + self.messages.capacity() * std::mem::size_of::<ChatCompletionRequestMessage>())
            as u64
            + self.heap
    }

    /// Estimated prompt tokens.
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there are no messages.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accumulate_and_tool_pairs_serialize() {
        let mut c = Conversation::new("You are a support agent.");
        c.user("where is my order");
        let call = ToolCall {
            id: "call_1".into(),
            name: "lookup_order".into(),
            arguments: "{\"order_id\":\"ORD-1\"}".into(),
        };
        c.assistant("", std::slice::from_ref(&call));
        c.tool_result("call_1", "shipped yesterday");
        c.assistant("It shipped yesterday.", &[]);
        assert_eq!(c.len(), 5);
        assert!(c.bytes() > 60 && c.tokens() > 20);
        assert!(
            c.memory_bytes()
                > c.bytes() + 4 * std::mem::size_of::<ChatCompletionRequestMessage>() as u64
        );
        let json = serde_json::to_value(c.messages()).unwrap();
        assert_eq!(json[2]["tool_calls"][0]["function"]["name"], "lookup_order");
        assert_eq!(json[3]["role"], "tool");
        assert_eq!(json[3]["tool_call_id"], "call_1");
    }
}
