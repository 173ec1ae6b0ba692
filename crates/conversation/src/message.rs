//! Messages in OpenAI's chat shape (system, user, assistant with tool calls, tool results),
//! each with its token count and byte size computed once, when it is made.

use get_size2::GetSize;
use serde::{Deserialize, Serialize};

use crate::tokens::TokenCounter;

/// Framing tokens per message (`<|start|>role … <|end|>`), as OpenAI's usage counts them.
pub const PER_MESSAGE_TOKENS: u32 = 3;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, GetSize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt.
    System,
    /// The user.
    User,
    /// The model: text, tool calls, or both.
    Assistant,
    /// A tool's result, answering one tool call.
    Tool,
}

/// One tool call of an assistant message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, GetSize)]
pub struct ToolCall {
    /// The call's id; the tool message answering it carries the same id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON text.
    pub arguments: String,
}

/// How a summary message ([`Origin::Summary`]) begins; stripped again when the next summary
/// folds it in.
pub const SUMMARY_PREFIX: &str = "Summary of earlier conversation:\n";

/// What a strategy made of a message, so later strategies and reports can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, GetSize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// As the conversation produced it.
    #[default]
    Original,
    /// A summary standing for messages that were removed.
    Summary,
    /// Its content was replaced by a placeholder or clipped (it was `original_tokens` long).
    Reduced {
        /// Tokens of the content before.
        original_tokens: u32,
    },
    /// A stub standing for messages moved to the cold store under `handle`.
    Stub {
        /// The cold store's handle.
        handle: u64,
    },
}

/// One message, with its size. `GetSize` (get-size2) gives its structural size in memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, GetSize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text (may be empty for an assistant message with tool calls).
    pub content: String,
    /// Tool calls (assistant messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call this message answers (tool messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The tool's name (tool messages), for reports and placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tokens, framing included, under the counter that made it.
    pub tokens: u32,
    /// Bytes of text: content, tool-call names, arguments and ids.
    pub bytes: u32,
    /// What a strategy made of it.
    #[serde(default, skip_serializing_if = "is_original")]
    pub origin: Origin,
}

fn is_original(o: &Origin) -> bool {
    *o == Origin::Original
}

impl Message {
    fn new(role: Role, content: String, counter: &dyn TokenCounter) -> Self {
        let mut m = Message {
            role,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            tokens: 0,
            bytes: 0,
            origin: Origin::Original,
        };
        m.recount(counter);
        m
    }

    /// A system prompt.
    pub fn system(content: impl Into<String>, counter: &dyn TokenCounter) -> Self {
        Self::new(Role::System, content.into(), counter)
    }

    /// A user message.
    pub fn user(content: impl Into<String>, counter: &dyn TokenCounter) -> Self {
        Self::new(Role::User, content.into(), counter)
    }

    /// An assistant message: text, tool calls, or both.
    pub fn assistant(
        content: impl Into<String>,
        tool_calls: Vec<ToolCall>,
        counter: &dyn TokenCounter,
    ) -> Self {
        let mut m = Self::new(Role::Assistant, content.into(), counter);
        m.tool_calls = tool_calls;
        m.recount(counter);
        m
    }

    /// A tool's result answering `call_id`.
    pub fn tool(
        call_id: impl Into<String>,
        name: impl Into<String>,
        content: impl Into<String>,
        counter: &dyn TokenCounter,
    ) -> Self {
        let mut m = Self::new(Role::Tool, content.into(), counter);
        m.tool_call_id = Some(call_id.into());
        m.name = Some(name.into());
        m.recount(counter);
        m
    }

    /// Replaces the content and recounts.
    pub fn set_content(&mut self, content: String, counter: &dyn TokenCounter) {
        self.content = content;
        self.recount(counter);
    }

    /// Counts tokens and bytes again (after a change).
    pub fn recount(&mut self, counter: &dyn TokenCounter) {
        let mut tokens = PER_MESSAGE_TOKENS + counter.count(&self.content);
        let mut bytes = self.content.len();
        for call in &self.tool_calls {
            tokens += counter.count(&call.name) + counter.count(&call.arguments);
            bytes += call.id.len() + call.name.len() + call.arguments.len();
        }
        if let Some(id) = &self.tool_call_id {
            bytes += id.len();
        }
        self.tokens = tokens;
        self.bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
    }

    /// Whether this is an assistant message that calls tools.
    pub fn calls_tools(&self) -> bool {
        self.role == Role::Assistant && !self.tool_calls.is_empty()
    }
}
