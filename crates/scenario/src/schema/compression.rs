//! `[compression]`: which strategy compresses conversation state, and when.
//! The strategies themselves live in the `conversation` crate; this is the file format.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::schema::mock::Tokenizer;
use crate::units::{Probability, Rate};

/// The built-in strategies, by their kebab-case names.
pub const STRATEGIES: [&str; 10] = [
    "none",
    "window",
    "token-budget",
    "observation-masking",
    "clip",
    "dedup",
    "amortized",
    "rolling-summary",
    "structured-summary",
    "offload",
];

/// A pipeline of strategies joined by `+`, e.g. `observation-masking+rolling-summary`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pipeline(pub Vec<String>);

impl FromStr for Pipeline {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<String> = s.split('+').map(|p| p.trim().to_owned()).collect();
        for part in &parts {
            if !STRATEGIES.contains(&part.as_str()) {
                return Err(format!(
                    "unknown compression strategy `{part}` in `{s}`: use one of {} (join several with `+`)",
                    STRATEGIES.join(", ")
                ));
            }
        }
        Ok(Pipeline(parts))
    }
}

impl TryFrom<String> for Pipeline {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Pipeline> for String {
    fn from(p: Pipeline) -> Self {
        p.to_string()
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("+"))
    }
}

/// When compression runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Trigger {
    /// When the conversation holds more than this many messages.
    Messages(u32),
    /// When the prompt exceeds this many tokens.
    Tokens(u32),
    /// When the prompt exceeds this fraction of `context_window`.
    Fraction(Probability),
}

/// `[compression]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Compression {
    /// The strategy or pipeline.
    pub strategy: Pipeline,
    /// When it runs.
    pub trigger: Trigger,
    /// After compressing, the conversation should be at most this fraction of the trigger
    /// threshold (hysteresis, so compression does not run every turn).
    pub compact_to: Probability,
    /// Context window of the model, in tokens.
    pub context_window: u32,
    /// How conversation tokens are counted.
    pub tokenizer: Tokenizer,
    /// Characters per token for `tokenizer = "chars"`.
    pub chars_per_token: Rate,
    /// `window`: messages kept from the start.
    pub keep_first: u32,
    /// `window`: messages kept from the end.
    pub keep_last: u32,
    /// `observation-masking`: tool outputs kept whole, the newest ones.
    pub mask_keep_last: u32,
    /// `clip`: tokens kept of one tool output (head and tail).
    pub clip_tokens: u32,
    /// Summaries are written by `extractive` rules offline or by the `llm`.
    pub summarizer: Summarizer,
    /// `summarizer = "llm"`: the provider that writes summaries (a cheaper model, say); the
    /// fleet's routing when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summarizer_provider: Option<String>,
    /// `offload`: zstd level of the cold store.
    pub zstd_level: i32,
}

/// Who writes summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Summarizer {
    /// Deterministic extractive rules (keeps sentences with identifiers, numbers, paths).
    #[default]
    Extractive,
    /// The fleet's LLM, through the shared client.
    Llm,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            strategy: Pipeline(vec!["none".to_owned()]),
            trigger: Trigger::Tokens(8000),
            compact_to: Probability(0.5),
            context_window: 128_000,
            tokenizer: Tokenizer::O200k,
            chars_per_token: Rate(4.0),
            keep_first: 2,
            keep_last: 10,
            mask_keep_last: 5,
            clip_tokens: 400,
            summarizer: Summarizer::Extractive,
            summarizer_provider: None,
            zstd_level: 3,
        }
    }
}
