//! Strategies, triggers and pipelines. A strategy rewrites the message list toward a token
//! target; a trigger decides when it runs; a pipeline runs several in order. Strategies never
//! break the invariants of [`crate::invariants`]; the tests check that after every run.

use std::fmt;

use crate::cold::ColdStore;
use crate::message::Message;
use crate::tokens::TokenCounter;

/// Writes summaries of evicted spans. The built-in one is extractive and deterministic; a
/// higher crate may implement one over an LLM.
pub trait Summarizer: fmt::Debug + Send {
    /// A summary of `span`, folding in `previous` (the summary it replaces, if any).
    fn summarize(&mut self, previous: Option<&str>, span: &[Message]) -> String;
}

/// What a strategy may use while it runs.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Counts the tokens of rewritten messages.
    pub counter: &'a dyn TokenCounter,
    /// Compress down to at most this many tokens where the strategy can (hysteresis target).
    pub target_tokens: u64,
    /// Where `offload` keeps evicted messages.
    pub cold: &'a mut ColdStore,
    /// Who writes summaries.
    pub summarizer: &'a mut dyn Summarizer,
    /// The compressor's own work, for its cost in reports.
    pub work: Work,
}

/// The compressor's own work during one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Summaries written.
    pub summaries: u32,
    /// Tokens read by the summarizer.
    pub summarizer_tokens_in: u64,
    /// Tokens it wrote.
    pub summarizer_tokens_out: u64,
}

impl std::ops::AddAssign for Work {
    fn add_assign(&mut self, other: Work) {
        self.summaries += other.summaries;
        self.summarizer_tokens_in += other.summarizer_tokens_in;
        self.summarizer_tokens_out += other.summarizer_tokens_out;
    }
}

/// One compression strategy.
pub trait Strategy: fmt::Debug + Send {
    /// Its kebab-case name (a built-in's is its [`scenario::StrategyName`]; a strategy of
    /// your own names itself, see `examples/custom_strategy.rs`).
    fn name(&self) -> &'static str;
    /// Rewrites `messages`, keeping the invariants.
    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>);
}

/// Sum of the messages' tokens.
pub fn total_tokens(messages: &[Message]) -> u64 {
    messages.iter().map(|m| u64::from(m.tokens)).sum()
}

/// When compression runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// More than this many messages.
    Messages(u32),
    /// More than this many tokens.
    Tokens(u64),
}

impl Trigger {
    /// From the scenario's `[compression]` (a fraction becomes tokens of the window).
    pub fn from_scenario(c: &scenario::Compression) -> Self {
        match c.trigger {
            scenario::Trigger::Messages(n) => Trigger::Messages(n),
            scenario::Trigger::Tokens(n) => Trigger::Tokens(u64::from(n)),
            scenario::Trigger::Fraction(f) => {
                Trigger::Tokens((f64::from(c.context_window) * f.0) as u64)
            }
        }
    }

    /// Whether it fires for `messages`.
    pub fn fires(&self, messages: &[Message]) -> bool {
        match *self {
            Trigger::Messages(n) => messages.len() > n as usize,
            Trigger::Tokens(n) => total_tokens(messages) > n,
        }
    }

    /// The token target after compressing: `compact_to` of the threshold (for a message
    /// trigger, of the tokens the messages hold now).
    pub fn target(&self, messages: &[Message], compact_to: f64) -> u64 {
        let threshold = match *self {
            Trigger::Messages(_) => total_tokens(messages),
            Trigger::Tokens(n) => n,
        };
        (threshold as f64 * compact_to) as u64
    }
}

/// Several strategies run in order, as one.
#[derive(Debug, Default)]
pub struct Pipeline {
    /// The strategies, in order.
    pub stages: Vec<Box<dyn Strategy>>,
}

impl Pipeline {
    /// Its name: the stages' names joined by `+`.
    pub fn name(&self) -> String {
        self.stages
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// Whether every stage is `none`: compressing would change nothing, so it is not run
    /// (and not counted as a compression).
    pub fn is_noop(&self) -> bool {
        let none = scenario::StrategyName::None.as_str();
        self.stages.iter().all(|s| s.name() == none)
    }

    /// Runs every stage in order.
    pub fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        for stage in &mut self.stages {
            stage.compress(messages, ctx);
        }
    }
}
