//! Counting prompt tokens the way OpenAI's usage does: each message costs its content plus a
//! few framing tokens, and the reply is primed with three more. Texts are counted by the
//! shared exact counter ([`tokencount::count`]: memoized, the generator's words looked up).

use scenario::Tokenizer;
use tokencount::count;

use crate::wire::{ChatRequest, Message, ToolSpec};

/// Framing tokens per message (`<|start|>role ... <|end|>`).
const PER_MESSAGE: u32 = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: u32 = 3;

/// Prompt tokens of a chat request: messages, tool calls in the history, and the tool
/// definitions offered.
pub(crate) fn prompt_tokens(tokenizer: Tokenizer, req: &ChatRequest) -> u32 {
    let messages = req.messages.iter().fold(0, |total: u32, msg| {
        total.saturating_add(message_tokens(tokenizer, msg))
    });
    total_tokens(messages, tools_tokens(tokenizer, req.tools()))
}

/// The prompt tokens of a request whose messages cost `messages` ([`message_tokens`] summed)
/// and whose tool definitions cost `tools` ([`tools_tokens`]): the reply's priming added.
pub(crate) fn total_tokens(messages: u32, tools: u32) -> u32 {
    REPLY_PRIMING.saturating_add(messages).saturating_add(tools)
}

/// What one message adds to the prompt: its framing, its text, its name and the tool calls it
/// carries.
pub(crate) fn message_tokens(tokenizer: Tokenizer, msg: &Message) -> u32 {
    let mut total = PER_MESSAGE;
    msg.for_each_text(|t| total = total.saturating_add(count(tokenizer, t)));
    if let Some(name) = &msg.name {
        total = total.saturating_add(1 + count(tokenizer, name));
    }
    for call in msg.tool_calls.iter().flatten() {
        total = total
            .saturating_add(count(tokenizer, &call.function.name))
            .saturating_add(count(tokenizer, &call.function.arguments));
    }
    total
}

/// [`message_tokens`] of a message whose content is `content` (a string, or none), with its
/// `name` and its tool calls' (function name, arguments).
pub(crate) fn parts_tokens<'a>(
    tokenizer: Tokenizer,
    content: Option<&str>,
    name: Option<&str>,
    tool_calls: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> u32 {
    let mut total = PER_MESSAGE;
    if let Some(t) = content {
        total = total.saturating_add(count(tokenizer, t));
    }
    if let Some(name) = name {
        total = total.saturating_add(1 + count(tokenizer, name));
    }
    for (name, arguments) in tool_calls {
        total = total
            .saturating_add(count(tokenizer, name))
            .saturating_add(count(tokenizer, arguments));
    }
    total
}

/// What the tool definitions offered add to the prompt: their JSON, counted as text (none
/// offered, nothing).
pub(crate) fn tools_tokens(tokenizer: Tokenizer, tools: &[ToolSpec]) -> u32 {
    if tools.is_empty() {
        return 0;
    }
    let defs = serde_json::to_string(tools).unwrap_or_default();
    count(tokenizer, &defs)
}

/// Loads the tokenizer's tables now rather than on the first request (o200k takes ~0.2 s).
pub(crate) fn warm_up(tokenizer: Tokenizer) {
    tokencount::warm_up(tokenizer);
}
