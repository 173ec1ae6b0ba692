//! `[compression]`: which strategy compresses conversation state, and when.
//! The strategies themselves live in the `conversation` crate; this is the file format, read
//! into typed values once: strategy names become [`StrategyName`]s when the file is parsed, and
//! [`Compression::stages`] hands each strategy only its own parameters ([`StrategyConfig`]),
//! so no later crate matches a name as a string or reads another strategy's keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::schema::mock::Tokenizer;
use crate::units::{Probability, Rate};

/// A built-in strategy. The serde spelling and [`StrategyName::as_str`] are the kebab-case
/// name written in the file; a test checks they agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyName {
    /// `none`: the baseline, changes nothing.
    None,
    /// `window`: the first and the last messages.
    Window,
    /// `token-budget`: the newest messages that fit the target.
    TokenBudget,
    /// `observation-masking`: older tool outputs become placeholders.
    ObservationMasking,
    /// `clip`: long tool outputs keep their head and tail.
    Clip,
    /// `dedup`: tool outputs a later output repeats exactly become references (lossless).
    Dedup,
    /// `supersede`: earlier outputs of a call made again with the same arguments become
    /// placeholders (lossy).
    Supersede,
    /// `amortized`: the middle dropped down to half the target.
    Amortized,
    /// `rolling-summary`: the oldest span becomes one summary.
    RollingSummary,
    /// `structured-summary`: the same, with fixed sections.
    StructuredSummary,
    /// `offload`: the oldest span moves to the cold store behind a stub.
    Offload,
}

impl StrategyName {
    /// Every built-in strategy, in the order of the docs (and of the error listing them).
    pub const ALL: [StrategyName; 11] = [
        StrategyName::None,
        StrategyName::Window,
        StrategyName::TokenBudget,
        StrategyName::ObservationMasking,
        StrategyName::Clip,
        StrategyName::Dedup,
        StrategyName::Supersede,
        StrategyName::Amortized,
        StrategyName::RollingSummary,
        StrategyName::StructuredSummary,
        StrategyName::Offload,
    ];

    /// Its name in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            StrategyName::None => "none",
            StrategyName::Window => "window",
            StrategyName::TokenBudget => "token-budget",
            StrategyName::ObservationMasking => "observation-masking",
            StrategyName::Clip => "clip",
            StrategyName::Dedup => "dedup",
            StrategyName::Supersede => "supersede",
            StrategyName::Amortized => "amortized",
            StrategyName::RollingSummary => "rolling-summary",
            StrategyName::StructuredSummary => "structured-summary",
            StrategyName::Offload => "offload",
        }
    }

    /// Every name, as the error for an unknown one lists them.
    fn valid_names() -> String {
        StrategyName::ALL.map(StrategyName::as_str).join(", ")
    }
}

impl FromStr for StrategyName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StrategyName::ALL
            .into_iter()
            .find(|name| name.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown compression strategy `{s}`: use one of {}",
                    StrategyName::valid_names()
                )
            })
    }
}

impl fmt::Display for StrategyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so tables can align it (`{name:<20}`).
        f.pad(self.as_str())
    }
}

/// A pipeline of strategies joined by `+`, e.g. `observation-masking+rolling-summary`: at least
/// one stage (the default is `none` alone), run in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pipeline(Vec<StrategyName>);

impl Pipeline {
    /// The stages, in order.
    pub fn stages(&self) -> &[StrategyName] {
        &self.0
    }

    /// Whether a stage may rewrite the conversation: any stage but `none`.
    pub fn rewrites(&self) -> bool {
        self.0.iter().any(|&name| name != StrategyName::None)
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        StrategyName::None.into()
    }
}

impl From<StrategyName> for Pipeline {
    fn from(name: StrategyName) -> Self {
        Pipeline(vec![name])
    }
}

impl FromStr for Pipeline {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split('+')
            .map(|part| {
                let part = part.trim();
                part.parse().map_err(|_| {
                    format!(
                        "unknown compression strategy `{part}` in `{s}`: use one of {} (join \
                         several with `+`)",
                        StrategyName::valid_names()
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(Pipeline)
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
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str(name.as_str())?;
        }
        Ok(())
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
    /// `window`, `amortized`, the summaries and `offload`: messages kept from the start.
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
    /// `offload` in a fleet run: the chance that the mock model, offered the
    /// [`RECALL_TOOL`] (while the cold store holds spans), calls it. 0 offers no such tool.
    pub recall_probability: Probability,
    /// `offload` in a fleet run: bytes of the zstd dictionary trained before the run and
    /// shared by every agent's cold store (0: none; else [`DICTIONARY_BYTES`]).
    pub zstd_dictionary: u32,
}

/// The tool the scripted agent offers while its cold store holds spans and
/// `recall_probability` is above 0: `recall(handle)` puts a stored span back in the
/// conversation, as the tool's result (the stub's text names it).
pub const RECALL_TOOL: &str = "recall";

/// The sizes `zstd_dictionary` may take when not 0, bytes: zstd trains nothing useful below
/// 256 bytes, and samples enough for more than 1 MiB would take longer than most runs.
pub const DICTIONARY_BYTES: std::ops::RangeInclusive<u32> = 256..=1_048_576;

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
            strategy: Pipeline::default(),
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
            recall_probability: Probability(0.0),
            zstd_dictionary: 0,
        }
    }
}

/// One stage of the pipeline with the parameters it reads, from the flat `[compression]` keys
/// (see [`Compression::stage`]). A strategy is built from its own variant only, so adding a
/// key to one strategy does not reach the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyConfig {
    /// `none`: no parameters.
    None,
    /// `window`.
    Window(WindowConfig),
    /// `token-budget`: no parameters of its own (the target comes with each run).
    TokenBudget,
    /// `observation-masking`.
    ObservationMasking(MaskingConfig),
    /// `clip`.
    Clip(ClipConfig),
    /// `dedup`: no parameters.
    Dedup,
    /// `supersede`: no parameters.
    Supersede,
    /// `amortized`.
    Amortized(AmortizedConfig),
    /// `rolling-summary`.
    RollingSummary(SummaryConfig),
    /// `structured-summary`.
    StructuredSummary(SummaryConfig),
    /// `offload`.
    Offload(OffloadConfig),
}

impl StrategyConfig {
    /// The strategy it configures.
    pub fn name(&self) -> StrategyName {
        match self {
            StrategyConfig::None => StrategyName::None,
            StrategyConfig::Window(_) => StrategyName::Window,
            StrategyConfig::TokenBudget => StrategyName::TokenBudget,
            StrategyConfig::ObservationMasking(_) => StrategyName::ObservationMasking,
            StrategyConfig::Clip(_) => StrategyName::Clip,
            StrategyConfig::Dedup => StrategyName::Dedup,
            StrategyConfig::Supersede => StrategyName::Supersede,
            StrategyConfig::Amortized(_) => StrategyName::Amortized,
            StrategyConfig::RollingSummary(_) => StrategyName::RollingSummary,
            StrategyConfig::StructuredSummary(_) => StrategyName::StructuredSummary,
            StrategyConfig::Offload(_) => StrategyName::Offload,
        }
    }
}

/// `window`'s parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowConfig {
    /// Messages kept from the start (`keep_first`).
    pub keep_first: u32,
    /// Messages kept from the end (`keep_last`).
    pub keep_last: u32,
}

/// `observation-masking`'s parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskingConfig {
    /// Tool outputs kept whole, the newest ones (`mask_keep_last`).
    pub keep_last: u32,
}

/// `clip`'s parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipConfig {
    /// Tokens kept of one tool output, head and tail together (`clip_tokens`).
    pub clip_tokens: u32,
}

/// `amortized`'s parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmortizedConfig {
    /// Messages kept from the start (`keep_first`).
    pub keep_first: u32,
}

/// The parameters of `rolling-summary` and `structured-summary`, which evict the same span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryConfig {
    /// Messages always kept from the start (`keep_first`).
    pub keep_first: u32,
}

/// `offload`'s parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadConfig {
    /// Messages always kept from the start (`keep_first`).
    pub keep_first: u32,
    /// zstd level of the cold store's frames (`zstd_level`).
    pub zstd_level: i32,
}

impl Compression {
    /// `name` with the parameters it reads from this section.
    pub fn stage(&self, name: StrategyName) -> StrategyConfig {
        match name {
            StrategyName::None => StrategyConfig::None,
            StrategyName::Window => StrategyConfig::Window(WindowConfig {
                keep_first: self.keep_first,
                keep_last: self.keep_last,
            }),
            StrategyName::TokenBudget => StrategyConfig::TokenBudget,
            StrategyName::ObservationMasking => StrategyConfig::ObservationMasking(MaskingConfig {
                keep_last: self.mask_keep_last,
            }),
            StrategyName::Clip => StrategyConfig::Clip(ClipConfig {
                clip_tokens: self.clip_tokens,
            }),
            StrategyName::Dedup => StrategyConfig::Dedup,
            StrategyName::Supersede => StrategyConfig::Supersede,
            StrategyName::Amortized => StrategyConfig::Amortized(AmortizedConfig {
                keep_first: self.keep_first,
            }),
            StrategyName::RollingSummary => StrategyConfig::RollingSummary(self.summary()),
            StrategyName::StructuredSummary => StrategyConfig::StructuredSummary(self.summary()),
            StrategyName::Offload => StrategyConfig::Offload(OffloadConfig {
                keep_first: self.keep_first,
                zstd_level: self.zstd_level,
            }),
        }
    }

    /// The pipeline's stages in order, each with its parameters.
    pub fn stages(&self) -> impl Iterator<Item = StrategyConfig> + '_ {
        self.strategy.stages().iter().map(|&name| self.stage(name))
    }

    fn summary(&self) -> SummaryConfig {
        SummaryConfig {
            keep_first: self.keep_first,
        }
    }
}
