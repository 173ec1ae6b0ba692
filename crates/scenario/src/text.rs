//! Deterministic text of a requested token length.
//!
//! Every word of [`WORDS`] is exactly one token in tiktoken's o200k_base and cl100k_base
//! encodings, with or without a leading space, and the pre-tokenizer never merges across a
//! space; so `n` words joined by single spaces are exactly `n` tokens in both (checked by a
//! test). The mock uses this for answers and tool results, agents for user messages.

use crate::rng::SimRng;

/// The vocabulary: common English words that are single tokens in both encodings.
pub const WORDS: [&str; 248] = [
    "the", "of", "and", "to", "in", "is", "for", "on", "with", "as", "by", "at", "from", "that",
    "this", "it", "be", "are", "was", "not", "or", "an", "can", "will", "has", "have", "more",
    "all", "new", "one", "time", "system", "data", "user", "agent", "tool", "file", "code", "test",
    "run", "request", "server", "model", "message", "value", "result", "error", "update", "report",
    "check", "order", "account", "support", "service", "team", "plan", "price", "cost", "issue",
    "change", "state", "list", "item", "number", "name", "type", "key", "table", "query", "search",
    "page", "text", "line", "first", "last", "next", "case", "note", "point", "group", "part",
    "place", "work", "week", "day", "year", "client", "product", "policy", "process", "review",
    "status", "total", "rate", "limit", "level", "range", "step", "task", "event", "record",
    "field", "source", "target", "output", "input", "start", "end", "open", "close", "build",
    "read", "write", "send", "call", "return", "retry", "cache", "store", "memory", "token",
    "window", "budget", "summary", "context", "answer", "question", "reply", "ticket", "refund",
    "invoice", "payment", "customer", "address", "email", "phone", "date", "region", "option",
    "detail", "reason", "action", "manager", "office", "member", "project", "release", "version",
    "branch", "commit", "merge", "deploy", "config", "setting", "module", "package", "library",
    "function", "method", "class", "object", "string", "path", "index", "batch", "stream", "queue",
    "worker", "thread", "node", "cluster", "network", "response", "timeout", "failure", "success",
    "warning", "log", "metric", "trace", "sample", "count", "size", "weight", "score", "goal",
    "rule", "flow", "chain", "link", "view", "form", "button", "screen", "device", "browser",
    "session", "profile", "history", "archive", "backup", "restore", "schema", "column", "row",
    "chart", "graph", "image", "video", "audio", "track", "music", "movie", "game", "player",
    "health", "power", "energy", "water", "food", "market", "share", "stock", "trade", "bank",
    "loan", "credit", "card", "cash", "money", "fund", "tax", "bill", "fee", "charge", "offer",
    "deal", "sale", "shop", "cart", "delivery", "shipping", "carrier", "route", "city", "country",
    "zone", "area",
];

/// Appends `tokens` words to `out`, separated by single spaces (a space is also put before
/// the first word when `out` is not empty).
pub fn append_words(rng: &mut SimRng, tokens: u32, out: &mut String) {
    out.reserve(tokens as usize * 7);
    for _ in 0..tokens {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word(rng));
    }
}

/// A text of exactly `tokens` tokens.
pub fn words(rng: &mut SimRng, tokens: u32) -> String {
    let mut out = String::new();
    append_words(rng, tokens, &mut out);
    out
}

/// One random word.
pub fn word(rng: &mut SimRng) -> &'static str {
    WORDS[usize::try_from(rng.below(WORDS.len() as u64)).unwrap_or(0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_one_token_in_both_encodings() {
        let o200k = tiktoken_rs::o200k_base_singleton();
        let cl100k = tiktoken_rs::cl100k_base_singleton();
        for w in WORDS {
            let spaced = format!(" {w}");
            assert_eq!(o200k.encode_ordinary(w).len(), 1, "{w}");
            assert_eq!(o200k.encode_ordinary(&spaced).len(), 1, "{w}");
            assert_eq!(cl100k.encode_ordinary(w).len(), 1, "{w}");
            assert_eq!(cl100k.encode_ordinary(&spaced).len(), 1, "{w}");
        }
    }

    #[test]
    fn generated_text_has_the_requested_token_count() {
        let o200k = tiktoken_rs::o200k_base_singleton();
        let mut rng = SimRng::new(17);
        for n in [0, 1, 2, 7, 100, 1000] {
            let text = words(&mut rng, n);
            assert_eq!(o200k.encode_ordinary(&text).len(), n as usize, "n = {n}");
        }
    }

    #[test]
    fn same_seed_same_text() {
        assert_eq!(
            words(&mut SimRng::new(3), 50),
            words(&mut SimRng::new(3), 50)
        );
        assert_ne!(
            words(&mut SimRng::new(3), 50),
            words(&mut SimRng::new(4), 50)
        );
    }
}
