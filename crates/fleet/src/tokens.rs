//! Counting an agent's conversation: the scenario's `[compression]` tokenizer, with the counts
//! of o200k and cl100k taken from the shared counter ([`tokencount::count`]): exact, the same
//! as tiktoken's, but memoized and with the generator's words looked up rather than encoded.
//! An agent counts each message once, and the mock counts the same texts when they arrive, so
//! a fleet encodes a text at most once; encoding every message cost more than the rest of a
//! virtual run.

use conversation::TokenCounter;
use scenario::Tokenizer;

/// The counter of the scenario's `[compression]`.
#[derive(Debug)]
pub(crate) struct Counter {
    tokenizer: Tokenizer,
    /// `conversation::tokens::counter_for`'s counter: its name, and its counts for `chars`.
    exact: Box<dyn TokenCounter>,
}

impl Counter {
    /// The counter `c.tokenizer` names.
    pub(crate) fn new(c: &scenario::Compression) -> Self {
        Self {
            tokenizer: c.tokenizer,
            exact: conversation::tokens::counter_for(c.tokenizer, c.chars_per_token.0),
        }
    }
}

impl TokenCounter for Counter {
    fn count(&self, text: &str) -> u32 {
        match self.tokenizer {
            // The memo is the whole process's: what it stores is shared, not this agent's.
            Tokenizer::O200k | Tokenizer::Cl100k => {
                heap::shared(|| tokencount::count(self.tokenizer, text))
            }
            Tokenizer::Chars => self.exact.count(text),
        }
    }

    fn name(&self) -> String {
        self.exact.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_as_the_conversation_crate_does() {
        let texts = [
            "",
            "hello world",
            "{\"order_id\":\"ORD-1234\",\"verbose\":true}",
            "error: the tool failed (timeout)",
            "[output of search omitted: 1,234 tokens]",
        ];
        let mut rng = scenario::SimRng::for_agent(1, 1);
        let words = scenario::text::words(&mut rng, 300);
        for tokenizer in [Tokenizer::O200k, Tokenizer::Cl100k, Tokenizer::Chars] {
            let c = scenario::Compression {
                tokenizer,
                chars_per_token: scenario::Rate(3.0),
                ..scenario::Compression::default()
            };
            let (fast, exact) = (
                Counter::new(&c),
                conversation::tokens::counter_for(tokenizer, 3.0),
            );
            assert_eq!(fast.name(), exact.name());
            for text in texts.iter().copied().chain([words.as_str()]) {
                assert_eq!(fast.count(text), exact.count(text), "{tokenizer:?}: {text}");
            }
        }
        assert_eq!(Counter::new(&Default::default()).count(&words), 300);
    }
}
