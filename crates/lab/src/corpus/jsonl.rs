//! JSONL: one conversation a line. Blank lines are skipped; a line without an `id` is named
//! `line-N`. Every conversation is checked against [`conversation::invariants::check`] as it
//! is read, so a broken log is reported by its line, not as a strategy's violation later; so
//! are its planted facts (unique ids, messages that exist, `supersedes` chains that end), which
//! the scoring follows.

use std::collections::HashMap;

use conversation::invariants;
use conversation::tokens::CharsPerToken;
use thiserror::Error;

use super::CorpusConversation;

/// A corpus that cannot be read.
#[derive(Debug, Error)]
pub enum CorpusError {
    /// A line is not a conversation record.
    #[error(
        "line {line}: not a conversation record ({}); each line must be one JSON object \
         like {{\"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}]}}",
        in_line(error)
    )]
    Record {
        /// 1-based line number.
        line: usize,
        /// What serde_json found (in the message, so not a `source`).
        error: serde_json::Error,
    },
    /// A line holds a conversation that is not a valid history.
    #[error(
        "line {line}: conversation `{id}` is not a valid history: {problem}; every tool result \
         must follow the assistant message that calls it"
    )]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// The conversation's id.
        id: String,
        /// The first broken invariant.
        problem: String,
    },
    /// A line's planted facts or decoys do not fit its conversation.
    #[error(
        "line {line}: conversation `{id}`: {problem}; facts and decoys are written by \
         `fleetbench corpus generate`: generate the corpus again, or remove them"
    )]
    Facts {
        /// 1-based line number.
        line: usize,
        /// The conversation's id.
        id: String,
        /// What does not fit.
        problem: String,
    },
    /// The file holds no conversation.
    #[error("the corpus holds no conversation: write one JSON object per line")]
    Empty,
}

/// Reads a corpus: generated records or plain `{"messages": [...]}` lines.
pub fn read_jsonl(text: &str) -> Result<Vec<CorpusConversation>, CorpusError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let mut conv: CorpusConversation =
            serde_json::from_str(raw).map_err(|error| CorpusError::Record { line, error })?;
        if conv.id.is_empty() {
            conv.id = format!("line-{line}");
        }
        // Token counts do not matter for the check; the cheapest counter will do.
        let messages = conv.to_messages(&CharsPerToken(4.0));
        if let Some(problem) = invariants::check(&messages).first() {
            return Err(CorpusError::Invalid {
                line,
                id: conv.id,
                problem: problem.to_string(),
            });
        }
        if let Err(problem) = facts_fit(&conv) {
            return Err(CorpusError::Facts {
                line,
                id: conv.id,
                problem,
            });
        }
        out.push(conv);
    }
    if out.is_empty() {
        return Err(CorpusError::Empty);
    }
    Ok(out)
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

/// Facts and decoys name messages of the conversation and facts by unique ids, and every
/// `supersedes` chain ends (the scoring walks it).
fn facts_fit(conv: &CorpusConversation) -> Result<(), String> {
    let messages = conv.messages.len();
    let mut ids = HashMap::new();
    for (i, f) in conv.facts.iter().enumerate() {
        if ids.insert(f.id.as_str(), i).is_some() {
            return Err(format!("fact id `{}` is used twice", f.id));
        }
        if f.message >= messages {
            return Err(format!(
                "fact `{}` is in message {}, but there are {messages} messages",
                f.id, f.message
            ));
        }
    }
    for d in &conv.decoys {
        if d.message >= messages {
            return Err(format!(
                "decoy `{}` is in message {}, but there are {messages} messages",
                d.value, d.message
            ));
        }
    }
    for f in &conv.facts {
        let mut next = f.supersedes.as_deref();
        let mut steps = 0;
        while let Some(id) = next {
            let Some(&i) = ids.get(id) else {
                return Err(format!(
                    "fact `{}` supersedes `{id}`, which is not a fact of the conversation",
                    f.id
                ));
            };
            steps += 1;
            if steps > conv.facts.len() {
                return Err(format!(
                    "fact `{}` supersedes itself through `{id}`: an update replaces an older fact",
                    f.id
                ));
            }
            next = conv.facts[i].supersedes.as_deref();
        }
    }
    Ok(())
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
