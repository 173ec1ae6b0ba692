//! Counting prompt tokens the way OpenAI's usage does: each message costs its content plus a
//! few framing tokens, and the reply is primed with three more.

use scenario::Tokenizer;

use crate::wire::ChatRequest;

/// Framing tokens per message (`<|start|>role ... <|end|>`).
const PER_MESSAGE: u32 = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: u32 = 3;

/// Tokens in `text` under `tokenizer`.
pub(crate) fn count(tokenizer: Tokenizer, text: &str) -> u32 {
    let n = match tokenizer {
        Tokenizer::O200k => tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(text)
            .len(),
        Tokenizer::Cl100k => tiktoken_rs::cl100k_base_singleton()
            .encode_ordinary(text)
            .len(),
        Tokenizer::Chars => text.chars().count().div_ceil(4),
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Prompt tokens of a chat request: messages, tool calls in the history, and the tool
/// definitions offered.
pub(crate) fn prompt_tokens(tokenizer: Tokenizer, req: &ChatRequest) -> u32 {
    let mut total = REPLY_PRIMING;
    for msg in &req.messages {
        total = total.saturating_add(PER_MESSAGE);
        msg.for_each_text(|t| total = total.saturating_add(count(tokenizer, t)));
        if let Some(name) = &msg.name {
            total = total.saturating_add(1 + count(tokenizer, name));
        }
        for call in msg.tool_calls.iter().flatten() {
            total = total
                .saturating_add(count(tokenizer, &call.function.name))
                .saturating_add(count(tokenizer, &call.function.arguments));
        }
    }
    if !req.tools().is_empty() {
        let defs = serde_json::to_string(req.tools()).unwrap_or_default();
        total = total.saturating_add(count(tokenizer, &defs));
    }
    total
}

/// Loads the tokenizer's tables now rather than on the first request (o200k takes ~0.2 s).
pub(crate) fn warm_up(tokenizer: Tokenizer) {
    count(tokenizer, "warm up");
}
