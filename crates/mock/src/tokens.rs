//! Counting prompt tokens the way OpenAI's usage does: each message costs its content plus a
//! few framing tokens, and the reply is primed with three more.
//!
//! An agent resends its whole conversation on every call, so the same texts are counted again
//! and again; counting each anew makes the mock's cost grow with the square of a conversation's
//! length. Counts of longer texts are memoized beside the tokenizer singleton (exact: a hit
//! must match the text's hash and length), in a map cleared when it grows past a bound.

use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;

use dashmap::DashMap;
use scenario::Tokenizer;

use crate::wire::ChatRequest;

/// Framing tokens per message (`<|start|>role ... <|end|>`).
const PER_MESSAGE: u32 = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: u32 = 3;

/// Texts shorter than this are counted directly: hashing them costs about as much.
const MEMO_MIN_LEN: usize = 256;
/// Entries kept before the memo is cleared (~32 bytes each).
const MEMO_MAX_ENTRIES: usize = 1 << 20;

/// (tokenizer, text hash) → (text length, tokens).
static MEMO: LazyLock<DashMap<(u8, u64), (usize, u32)>> = LazyLock::new(DashMap::new);

/// A fixed-key hasher: the same text hashes the same in every run.
static HASHER: std::hash::BuildHasherDefault<std::hash::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// Tokens in `text` under `tokenizer`.
pub(crate) fn count(tokenizer: Tokenizer, text: &str) -> u32 {
    if tokenizer == Tokenizer::Chars || text.len() < MEMO_MIN_LEN {
        return count_uncached(tokenizer, text);
    }
    let mut h = HASHER.build_hasher();
    h.write(text.as_bytes());
    let key = (tokenizer as u8, h.finish());
    if let Some(hit) = MEMO.get(&key).map(|e| *e.value())
        && hit.0 == text.len()
    {
        return hit.1;
    }
    let n = count_uncached(tokenizer, text);
    if MEMO.len() >= MEMO_MAX_ENTRIES {
        MEMO.clear();
    }
    MEMO.insert(key, (text.len(), n));
    n
}

fn count_uncached(tokenizer: Tokenizer, text: &str) -> u32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memoized_counts_are_exact() {
        let long: String = (0..400).map(|i| format!("word{i} ")).collect();
        let other = long.replace("word1 ", "word1  ");
        for tokenizer in [Tokenizer::O200k, Tokenizer::Cl100k] {
            let first = count(tokenizer, &long);
            assert_eq!(first, count_uncached(tokenizer, &long));
            assert_eq!(count(tokenizer, &long), first, "a hit gives the same count");
            assert_eq!(count(tokenizer, &other), count_uncached(tokenizer, &other));
        }
    }
}
