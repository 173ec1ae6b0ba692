//! Conversation corpora for the offline evaluation of compression: the JSONL format, a reader
//! that also takes the plain OpenAI `{"messages": [...]}` logs users bring, and a seeded
//! generator of agent conversations with planted facts (docs/compression.md).
//!
//! A generated conversation plants unique high-entropy values (`QX7-4471-KP`, or a path such
//! as `src/ledger/route_4471kp.rs`) of every [`FactKind`] at controlled depths, near-miss
//! [`Decoy`]s of some of them (same prefix, other digits), and lists probes: values of the same
//! shape that were never planted, so a scorer can tell retention from invention.
//!
//! # Layout
//! - `wire`: OpenAI-shaped messages and their conversion to [`Message`]s.
//! - `jsonl`: reading and writing JSONL, one conversation a line, leniently or strictly;
//!   `raw` is a line as users' logs write it (nulls, OpenAI and Anthropic content parts,
//!   images), `history` repairs what real agents leave (interrupted calls, reused ids, late
//!   system messages, the `function` role), `facts` checks user-supplied facts and probes,
//!   and `repairs` counts what reading changed.
//! - `generate`: the generator; `tools` makes the tool calls and outputs of each profile,
//!   from the real text embedded by `text`; `values` makes the unique values.

mod facts;
mod generate;
mod history;
mod jsonl;
mod raw;
mod repairs;
mod text;
mod tools;
mod values;
mod wire;

use std::fmt;
use std::str::FromStr;

use conversation::message::{Message, Role};
use conversation::tokens::TokenCounter;
use serde::{Deserialize, Serialize};

pub use generate::{MIN_TURNS, generate};
pub use jsonl::{
    Corpus, CorpusError, LineProblem, ReadMode, SKIPPED_SHOWN, Skipped, read_corpus, read_jsonl,
    write_jsonl,
};
pub use repairs::Repairs;
pub use wire::{WireFunction, WireMessage, WireToolCall};

/// The kind of agent a generated conversation imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// A support chat: a user message every turn, short knowledge-base lookups.
    Chat,
    /// A coding agent: read_file, grep, run_tests, ls, diff and edit_file calls with
    /// log-normal output sizes (10 lines to a few thousand).
    Coding,
    /// A browsing agent: searches and large page dumps.
    Browse,
}

impl Profile {
    /// Every profile, in the order of the docs.
    pub const ALL: [Profile; 3] = [Profile::Chat, Profile::Coding, Profile::Browse];

    /// Its name, as written on the command line and in the JSONL.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Chat => "chat",
            Profile::Coding => "coding",
            Profile::Browse => "browse",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown profile `{s}`: use one of chat, coding, browse"))
    }
}

/// What a planted fact stands for, and so how its retention is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FactKind {
    /// A constraint the user states once ("the deployment must use account …").
    Constraint,
    /// A value in the first lines of a long tool output.
    OutputHead,
    /// A value in the middle of a long tool output.
    OutputMiddle,
    /// A value in the last lines of a long tool output.
    OutputTail,
    /// A decision the assistant states.
    Decision,
    /// A value that is later replaced: the newer fact names the older in `supersedes`.
    Update,
    /// A file the agent touched (wrote or edited); the set of them is scored by F1.
    File,
}

impl FactKind {
    /// Every kind, in the order of the reports.
    pub const ALL: [FactKind; 7] = [
        FactKind::Constraint,
        FactKind::OutputHead,
        FactKind::OutputMiddle,
        FactKind::OutputTail,
        FactKind::Decision,
        FactKind::Update,
        FactKind::File,
    ];
}

/// A value planted once in a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Unique within the conversation (`f0`, `f1`, ...).
    pub id: String,
    /// What it stands for.
    pub kind: FactKind,
    /// The exact text planted; it occurs nowhere else in the corpus.
    pub value: String,
    /// The model call it belongs to: the number of assistant messages before its message.
    pub turn: usize,
    /// Index of the message holding it (in `messages`).
    pub message: usize,
    /// For an update: the id of the fact it replaces (which is stale from then on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
}

/// A near miss of a fact's value (same prefix and suffix, other digits), planted as a
/// distractor in a tool output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decoy {
    /// The text planted.
    pub value: String,
    /// The id of the fact it resembles.
    pub near: String,
    /// As [`Fact::turn`].
    pub turn: usize,
    /// As [`Fact::message`].
    pub message: usize,
}

/// One conversation of a corpus: one JSONL line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusConversation {
    /// Its name in reports; `line-N` when a user's file has none.
    #[serde(default)]
    pub id: String,
    /// The profile that generated it (absent in users' files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// The messages, in OpenAI's chat shape.
    pub messages: Vec<WireMessage>,
    /// Planted facts (none in users' files).
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// Values of the same shape that were never planted: any found in a context was invented.
    #[serde(default)]
    pub probes: Vec<String>,
    /// Near misses planted as distractors.
    #[serde(default)]
    pub decoys: Vec<Decoy>,
}

impl CorpusConversation {
    /// The messages as [`Message`]s counted by `counter`.
    pub fn to_messages(&self, counter: &dyn TokenCounter) -> Vec<Message> {
        wire::to_messages(&self.messages, counter)
    }

    /// Model calls: the number of assistant messages.
    pub fn turns(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_real_logs;
