//! JSONL: one conversation a line. Blank lines are skipped; a line without an `id` is named
//! `line-N`. Every conversation is checked against [`crate::invariants::check`] as it is read,
//! so a broken log is reported by its line, not as a strategy's violation later.

use thiserror::Error;

use super::CorpusConversation;
use crate::invariants;
use crate::tokens::CharsPerToken;

/// A corpus that cannot be read.
#[derive(Debug, Error)]
pub enum CorpusError {
    /// A line is not a conversation record.
    #[error(
        "line {line}: not a conversation record ({error}); each line must be one JSON object \
         like {{\"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}]}}"
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
        out.push(conv);
    }
    if out.is_empty() {
        return Err(CorpusError::Empty);
    }
    Ok(out)
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
