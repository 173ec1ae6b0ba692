//! JSONL: one conversation a line. Blank lines are skipped; a line without an `id` is named
//! `line-N`. A line is read leniently ([`super::raw`]), its history repaired
//! ([`super::history`]), its facts checked ([`super::facts`]), and the result checked against
//! [`conversation::invariants::check`], so a broken log is reported by its line, not as a
//! strategy's violation later. [`ReadMode::Lenient`] skips a bad line and counts it;
//! [`ReadMode::Strict`] refuses the corpus at the first.

use conversation::invariants;
use conversation::tokens::CharsPerToken;
use thiserror::Error;

use super::raw::RawConversation;
use super::repairs::Repairs;
use super::{CorpusConversation, facts, history};

/// A corpus that cannot be read.
#[derive(Debug, Error)]
pub enum CorpusError {
    /// A line is bad (the first, when reading strictly).
    #[error("line {line}: {problem}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it (in the message, so not a `source`).
        problem: LineProblem,
    },
    /// The file holds no conversation.
    #[error("the corpus holds no conversation: write one JSON object per line")]
    Empty,
    /// Every line was bad.
    #[error("no conversation could be read: all {skipped} lines are bad; the first, {first}")]
    NothingRead {
        /// How many lines were skipped.
        skipped: usize,
        /// The first of them.
        first: Box<CorpusError>,
    },
}

/// Why a line is not a conversation the lab can replay; each says how to fix it.
#[derive(Debug, Error)]
pub enum LineProblem {
    /// Not a conversation record.
    #[error(
        "not a conversation record ({}); each line must be one JSON object \
         like {{\"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}]}}",
        in_line(error)
    )]
    Record {
        /// What serde_json found.
        error: serde_json::Error,
    },
    /// Its messages do not make a valid history, even repaired.
    #[error("conversation `{id}` is not a valid history: {problem}")]
    Invalid {
        /// The conversation's id.
        id: String,
        /// The first problem, naming the message and a fix.
        problem: String,
    },
    /// Its facts, decoys or probes do not fit its conversation.
    #[error(
        "conversation `{id}`: {problem}; see \"The corpus\" in docs/compression.md, or \
         generate the corpus again with `fleetbench corpus generate`"
    )]
    Facts {
        /// The conversation's id.
        id: String,
        /// What does not fit.
        problem: String,
    },
}

/// What to do with a bad line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Skip it, count it and keep its reason.
    Lenient,
    /// Refuse the corpus.
    Strict,
}

/// A bad line left out of a lenient read.
#[derive(Debug)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub problem: LineProblem,
}

/// A corpus as read: its conversations, the lines left out and what was repaired.
#[derive(Debug)]
pub struct Corpus {
    /// The conversations, in the order of their lines.
    pub conversations: Vec<CorpusConversation>,
    /// Bad lines, in order (none when read strictly).
    pub skipped: Vec<Skipped>,
    /// What reading changed or left out.
    pub repairs: Repairs,
}

/// How many skipped lines [`Corpus::notes`] names.
pub const SKIPPED_SHOWN: usize = 5;

impl Corpus {
    /// What a user should know about reading `file`, one line each: the lines skipped (the
    /// first [`SKIPPED_SHOWN`] as `file:line: reason`) and the repairs. Empty for a corpus
    /// read as it was written.
    pub fn notes(&self, file: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.skipped.is_empty() {
            let total = self.skipped.len() + self.conversations.len();
            out.push(format!(
                "{file}: skipped {} of {total} conversations (bad lines; --strict refuses the \
                 file instead){}",
                self.skipped.len(),
                if self.skipped.len() > SKIPPED_SHOWN {
                    format!(", the first {SKIPPED_SHOWN}:")
                } else {
                    ":".to_owned()
                }
            ));
            for s in self.skipped.iter().take(SKIPPED_SHOWN) {
                out.push(format!("  {file}:{}: {}", s.line, s.problem));
            }
        }
        for note in self.repairs.notes() {
            out.push(format!("{file}: {note}"));
        }
        out
    }
}

/// Reads a corpus strictly: generated records or users' logs, refused at the first bad line.
pub fn read_jsonl(text: &str) -> Result<Vec<CorpusConversation>, CorpusError> {
    read_corpus(text, ReadMode::Strict).map(|c| c.conversations)
}

/// Reads a corpus: generated records or users' logs (docs/compression.md, "Reading real
/// logs").
pub fn read_corpus(text: &str, mode: ReadMode) -> Result<Corpus, CorpusError> {
    let mut corpus = Corpus {
        conversations: Vec::new(),
        skipped: Vec::new(),
        repairs: Repairs::default(),
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match read_line(raw, line) {
            Ok((conv, repairs)) => {
                corpus.conversations.push(conv);
                corpus.repairs.merge(repairs);
            }
            Err(problem) if mode == ReadMode::Lenient => {
                corpus.skipped.push(Skipped { line, problem });
            }
            Err(problem) => return Err(CorpusError::Line { line, problem }),
        }
    }
    if corpus.conversations.is_empty() {
        let skipped = corpus.skipped.len();
        return Err(match corpus.skipped.into_iter().next() {
            Some(Skipped { line, problem }) => CorpusError::NothingRead {
                skipped,
                first: Box::new(CorpusError::Line { line, problem }),
            },
            None => CorpusError::Empty,
        });
    }
    Ok(corpus)
}

/// One line, read and checked, with what was repaired.
fn read_line(raw: &str, line: usize) -> Result<(CorpusConversation, Repairs), LineProblem> {
    let record: RawConversation =
        serde_json::from_str(raw).map_err(|error| LineProblem::Record { error })?;
    let id = record
        .id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("line-{line}"));
    let mut repairs = Repairs::default();
    let built =
        history::build(record.system, record.messages, &mut repairs).map_err(|problem| {
            LineProblem::Invalid {
                id: id.clone(),
                problem,
            }
        })?;
    let probes = record.probes.unwrap_or_default();
    let (facts, decoys) = facts::check(
        record.facts.unwrap_or_default(),
        record.decoys.unwrap_or_default(),
        &probes,
        &built.messages,
        &built.placed,
    )
    .map_err(|problem| LineProblem::Facts {
        id: id.clone(),
        problem,
    })?;
    let conv = CorpusConversation {
        id,
        profile: record.profile,
        messages: built.messages,
        facts,
        probes,
        decoys,
    };
    // A safety net under the repairs. Token counts do not matter here; the cheapest counter
    // will do.
    let messages = conv.to_messages(&CharsPerToken(4.0));
    if let Some(problem) = invariants::check(&messages).first() {
        return Err(LineProblem::Invalid {
            id: conv.id,
            problem: problem.to_string(),
        });
    }
    Ok((conv, repairs))
}

/// serde_json's message with its position in the line: a record is one line, so its line
/// is always 1 and only the column says where.
fn in_line(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) if error.column() > 0 => format!("{message} at column {}", error.column()),
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// Writes a corpus, one conversation a line (fields in a fixed order, so the same corpus is
/// the same bytes).
pub fn write_jsonl(conversations: &[CorpusConversation]) -> String {
    let mut out = String::new();
    for c in conversations {
        out.push_str(&serde_json::to_string(c).expect("a corpus always serializes"));
        out.push('\n');
    }
    out
}
