//! The exact token counter every part of fleetbench shares: tiktoken's counts for o200k and
//! cl100k (four characters a token for `chars`), the same as OpenAI's, but cheap to ask again.
//!
//! An agent resends its whole conversation on every call, so the same texts are counted again
//! and again: by the agent keeping its conversation's size, and by the in-process mock pricing
//! each prompt. Counting each anew grew with the square of a conversation's length. Two
//! shortcuts keep counting cheap, both exact:
//! - Counts are memoized process-wide beside the tokenizer singleton (a hit must match the
//!   text's hash and length), in a map cleared when it grows past a bound: a text resent costs
//!   one hash. Whoever counts a text first (the agent, or the mock) spares the others.
//! - A new text made only of the generator's words (`scenario::text::WORDS`) joined by single
//!   spaces, which is what agents, tools and the mock's answers write, is one token a word in
//!   both encodings (the scenario crate tests it), so its words are looked up, not encoded;
//!   only other texts (tool-call arguments, tool definitions, error texts) are encoded.
//!   A writer of such a text that knows its count says so ([`remember_words`], [`words`]).
//!
//! It was the mock's (`mock::tokens`) until agents' counting needed it without a mock.

use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;

use dashmap::DashMap;
use scenario::{Tokenizer, text};

/// Entries kept before the memo is cleared (~32 bytes each).
const MEMO_MAX_ENTRIES: usize = 1 << 20;

/// (tokenizer, text hash) → (text length, tokens). The key is a hash already, so the map
/// hashes it with foldhash rather than SipHash.
static MEMO: LazyLock<Memo> =
    LazyLock::new(|| DashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)));

type Memo = DashMap<(u8, u64), (usize, u32), foldhash::fast::FixedState>;

/// A fixed-key hasher of texts: the same text hashes the same in every run. foldhash's
/// quality variant (a full 64-bit avalanche) hashes a long text several times faster than
/// SipHash; a hit still needs the length to match.
static HASHER: foldhash::quality::FixedState = foldhash::quality::FixedState::with_seed(0);

/// Slots of [`VOCABULARY`]: a power of two, four times the words, so a lookup probes about
/// one slot.
const VOCABULARY_SLOTS: usize = 1024;

/// The generator's words as integers ([`pack`]) in an open-addressing table (0 is empty): a
/// lookup costs a multiply and a compare or two, where a binary search cost most of counting.
static VOCABULARY: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut table = vec![0; VOCABULARY_SLOTS];
    for key in text::WORDS.iter().filter_map(|w| pack(w.as_bytes())) {
        let mut slot = slot_of(key);
        while table[slot] != 0 && table[slot] != key {
            slot = (slot + 1) % VOCABULARY_SLOTS;
        }
        table[slot] = key;
    }
    table
});

fn slot_of(key: u64) -> usize {
    // Fibonacci hashing: the top bits of the product index the table.
    let bits = VOCABULARY_SLOTS.trailing_zeros();
    usize::try_from(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)).unwrap_or(0)
}

fn in_vocabulary(key: u64) -> bool {
    let table = &*VOCABULARY;
    let mut slot = slot_of(key);
    loop {
        match table[slot] {
            0 => return false,
            k if k == key => return true,
            _ => slot = (slot + 1) % VOCABULARY_SLOTS,
        }
    }
}

/// A word of 1 to 8 lowercase ASCII letters as an integer: distinct words, distinct integers.
/// Any other word is `None` (a vocabulary word that did not fit would only miss the
/// shortcut, never miscount).
fn pack(word: &[u8]) -> Option<u64> {
    if word.is_empty() || word.len() > 8 {
        return None;
    }
    let mut key = 0;
    for (i, b) in word.iter().enumerate() {
        if !b.is_ascii_lowercase() {
            return None;
        }
        key |= u64::from(*b) << (8 * i);
    }
    Some(key)
}

/// The tokens of a text made only of the generator's words joined by single spaces: one a
/// word, in o200k and cl100k alike. `None` for any other text.
fn vocabulary_tokens(text: &str) -> Option<u32> {
    let mut n: u32 = 0;
    for word in text.as_bytes().split(|b| *b == b' ') {
        if !in_vocabulary(pack(word)?) {
            return None;
        }
        n = n.saturating_add(1);
    }
    Some(n)
}

/// Tokens in `text` under `tokenizer`: tiktoken's count for o200k and cl100k (memoized, the
/// generator's words looked up), four characters a token for `chars`.
pub fn count(tokenizer: Tokenizer, text: &str) -> u32 {
    if tokenizer == Tokenizer::Chars {
        return count_uncached(tokenizer, text);
    }
    let key = (tokenizer as u8, text_hash(text));
    if let Some(hit) = MEMO.get(&key).map(|e| *e.value())
        && hit.0 == text.len()
    {
        return hit.1;
    }
    let n = vocabulary_tokens(text).unwrap_or_else(|| count_uncached(tokenizer, text));
    memoize(&[key], text.len(), n);
    n
}

fn text_hash(text: &str) -> u64 {
    let mut h = HASHER.build_hasher();
    h.write(text.as_bytes());
    h.finish()
}

/// Stores `tokens` for a text of `len` bytes under each of `keys`, clearing the memo first
/// when it is full.
fn memoize(keys: &[(u8, u64)], len: usize, tokens: u32) {
    if MEMO.len() >= MEMO_MAX_ENTRIES {
        MEMO.clear();
    }
    for key in keys {
        MEMO.insert(*key, (len, tokens));
    }
}

/// Records that `text` is `words` of the generator's words (`scenario::text`) joined by
/// single spaces, so counting it later costs a hash: the generator knows the count it wrote,
/// and scanning the words again was a tenth of a virtual run. Exact: such a text is one token
/// a word in both encodings (debug builds check that `text` is one).
pub fn remember_words(text: &str, words: u32) {
    debug_assert_eq!(
        vocabulary_tokens(text).unwrap_or(0),
        words,
        "the text is {words} generator words: {text:?}"
    );
    if text.is_empty() {
        return;
    }
    let hash = text_hash(text);
    let keys = [Tokenizer::O200k, Tokenizer::Cl100k].map(|t| (t as u8, hash));
    memoize(&keys, text.len(), words);
}

/// `scenario::text::words`, remembered ([`remember_words`]): a text of exactly `tokens`
/// tokens whose count costs a hash.
pub fn words(rng: &mut scenario::SimRng, tokens: u32) -> String {
    let out = text::words(rng, tokens);
    remember_words(&out, tokens);
    out
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

/// Loads the tokenizer's tables now rather than on the first request (o200k takes ~0.2 s).
pub fn warm_up(tokenizer: Tokenizer) {
    count(tokenizer, "warm up");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_text_is_counted_exactly_without_encoding() {
        for word in text::WORDS {
            assert_eq!(vocabulary_tokens(word), Some(1), "{word}");
        }
        let mut rng = scenario::SimRng::new(5);
        for n in [1, 2, 3, 17, 250, 2000] {
            let generated = text::words(&mut rng, n);
            assert_eq!(vocabulary_tokens(&generated), Some(n), "n = {n}");
            for tokenizer in [Tokenizer::O200k, Tokenizer::Cl100k] {
                assert_eq!(count(tokenizer, &generated), n);
                assert_eq!(count_uncached(tokenizer, &generated), n, "n = {n}");
            }
        }
        // Anything else is encoded: other words, punctuation, case, other spacing, nothing.
        for other in [
            "the order ORD-12345",
            "the order.",
            "The order",
            "the  order",
            " the order",
            "the order ",
            "the orders",
            "the\0 order",
            "{\"query\":\"refund\"}",
            "",
        ] {
            assert_eq!(vocabulary_tokens(other), None, "{other:?}");
            for tokenizer in [Tokenizer::O200k, Tokenizer::Cl100k] {
                assert_eq!(count(tokenizer, other), count_uncached(tokenizer, other));
            }
        }
    }

    #[test]
    fn remembered_texts_count_as_encoded() {
        let mut rng = scenario::SimRng::new(11);
        for n in [0, 1, 9, 400] {
            let generated = words(&mut rng, n);
            for tokenizer in [Tokenizer::O200k, Tokenizer::Cl100k] {
                assert_eq!(count(tokenizer, &generated), n);
                assert_eq!(count_uncached(tokenizer, &generated), n, "n = {n}");
            }
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "generator words")]
    fn a_wrong_count_is_refused_in_debug_builds() {
        remember_words("the order", 3);
    }

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
