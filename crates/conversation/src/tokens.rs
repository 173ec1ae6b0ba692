//! Counting tokens: tiktoken exactly (o200k_base or cl100k_base, each encoder loaded once per
//! process by tiktoken-rs's singletons), or an estimate of characters per token so other model
//! families can be approximated and the error reported against an exact count.

use std::fmt;

use scenario::Tokenizer;

/// Counts the tokens of a text.
pub trait TokenCounter: fmt::Debug + Send + Sync {
    /// Tokens in `text`.
    fn count(&self, text: &str) -> u32;
    /// A short name for reports (`o200k`, `cl100k`, `chars/4`).
    fn name(&self) -> String;
}

/// tiktoken-rs, exact for the OpenAI encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tiktoken {
    /// o200k_base (GPT-4o, GPT-4.1, o-series).
    O200k,
    /// cl100k_base (GPT-4, GPT-3.5).
    Cl100k,
}

impl TokenCounter for Tiktoken {
    fn count(&self, text: &str) -> u32 {
        if text.is_empty() {
            return 0;
        }
        let n = match self {
            Tiktoken::O200k => tiktoken_rs::o200k_base_singleton()
                .encode_ordinary(text)
                .len(),
            Tiktoken::Cl100k => tiktoken_rs::cl100k_base_singleton()
                .encode_ordinary(text)
                .len(),
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn name(&self) -> String {
        match self {
            Tiktoken::O200k => "o200k".to_owned(),
            Tiktoken::Cl100k => "cl100k".to_owned(),
        }
    }
}

/// Characters divided by a ratio, rounded up: fast, approximate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CharsPerToken(pub f64);

impl TokenCounter for CharsPerToken {
    fn count(&self, text: &str) -> u32 {
        let chars = text.chars().count() as f64;
        (chars / self.0.max(0.1)).ceil() as u32
    }

    fn name(&self) -> String {
        format!("chars/{}", self.0)
    }
}

/// The counter a scenario's `[compression]` asks for.
pub fn counter_for(tokenizer: Tokenizer, chars_per_token: f64) -> Box<dyn TokenCounter> {
    match tokenizer {
        Tokenizer::O200k => Box::new(Tiktoken::O200k),
        Tokenizer::Cl100k => Box::new(Tiktoken::Cl100k),
        Tokenizer::Chars => Box::new(CharsPerToken(chars_per_token)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(Tiktoken::O200k.count("hello world"), 2);
        assert_eq!(Tiktoken::Cl100k.count("hello world"), 2);
        assert_eq!(Tiktoken::O200k.count(""), 0);
        assert_eq!(CharsPerToken(4.0).count("hello world"), 3);
        assert_eq!(CharsPerToken(4.0).name(), "chars/4");
    }
}
