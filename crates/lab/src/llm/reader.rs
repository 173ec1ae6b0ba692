//! The reader: a model answers, from a final context alone, one question per planted fact
//! that is still current (not superseded), and each answer is scored against the planted
//! value: exact (the value, as written) and token F1 (SQuAD's: lower case, split on anything
//! but letters and digits, overlap of the two bags of tokens).
//!
//! A question is a cloze of the line that held the fact: the line with the value blanked
//! out, so any corpus with facts gets questions, a user's as well as the generator's, and
//! the reader must find the value in what compression left (the line itself, a summary of
//! it, or nothing). One call per conversation and row asks all of its questions, numbered;
//! the answers come back as `N: value` lines.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use conversation::message::Message;
use conversation::summarize::prompt::role_name;
use serde::Serialize;

use super::{LlmCall, Purpose};
use crate::corpus::CorpusConversation;

/// What the reader is told.
pub const SYSTEM_PROMPT: &str = "You answer questions about an agent's conversation using \
only what the conversation shows. Each question quotes a line of the conversation with a value \
blanked out as ____. Answer every question on its own line as `N: value`, copying the value \
exactly as the conversation writes it; write `N: unknown` when the conversation does not show \
it. Nothing else.";

/// The longest cloze, in bytes around the blank: a long line is cut to this much on each side.
const CLOZE_SIDE: usize = 120;

/// Most answer tokens per question.
const TOKENS_PER_ANSWER: u32 = 24;

/// A question about one planted fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The fact's id.
    pub fact: String,
    /// The line that held it, the value blanked out as `____`.
    pub cloze: String,
    /// The value planted: the right answer.
    pub value: String,
}

/// The questions of `conv`: one per fact no later fact supersedes, in the facts' order.
pub fn questions(conv: &CorpusConversation) -> Vec<Question> {
    let superseded: HashSet<&str> = conv
        .facts
        .iter()
        .filter_map(|f| f.supersedes.as_deref())
        .collect();
    conv.facts
        .iter()
        .filter(|f| !superseded.contains(f.id.as_str()))
        .filter_map(|f| {
            let m = conv.messages.get(f.message)?;
            let text = std::iter::once(m.content.as_str())
                .chain(m.tool_calls.iter().map(|c| c.function.arguments.as_str()))
                .find(|t| t.contains(&f.value))?;
            Some(Question {
                fact: f.id.clone(),
                cloze: cloze(text, &f.value),
                value: f.value.clone(),
            })
        })
        .collect()
}

/// The line of `text` holding `value`, `value` blanked out, at most [`CLOZE_SIDE`] bytes on
/// each side of the blank.
fn cloze(text: &str, value: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains(value))
        .unwrap_or(text)
        .trim();
    let at = line.find(value).unwrap_or(0);
    let mut start = at.saturating_sub(CLOZE_SIDE);
    while !line.is_char_boundary(start) {
        start += 1;
    }
    let mut end = (at + value.len() + CLOZE_SIDE).min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let (before, after) = (&line[start..at], &line[at + value.len()..end]);
    let after = after.replace(value, "____");
    format!(
        "{}{before}____{after}{}",
        if start > 0 { "…" } else { "" },
        if end < line.len() { "…" } else { "" }
    )
}

/// The reader's call: the context as `role: content` lines, then the numbered questions.
pub fn call(context: &[Message], questions: &[Question]) -> LlmCall {
    let mut user = String::from("Conversation:\n");
    for m in context {
        let who = role_name(m.role);
        match &m.name {
            Some(name) => {
                let _ = writeln!(user, "{who} {name}: {}", m.content);
            }
            None => {
                let _ = writeln!(user, "{who}: {}", m.content);
            }
        }
        for c in &m.tool_calls {
            let _ = writeln!(user, "{who} calls {}: {}", c.name, c.arguments);
        }
    }
    user.push_str("\nQuestions:\n");
    for (i, q) in questions.iter().enumerate() {
        let _ = writeln!(
            user,
            "{}: What value stands where ____ is in: {}",
            i + 1,
            q.cloze
        );
    }
    LlmCall {
        purpose: Purpose::Reader,
        max_tokens: 64 + TOKENS_PER_ANSWER * u32::try_from(questions.len()).unwrap_or(u32::MAX),
        system: SYSTEM_PROMPT.to_owned(),
        user,
    }
}

/// The answers in `text` to questions 1..=`n`: `N: value` lines (also `N.` and `N)`), the
/// first answer to each number kept; `unknown`, empty or missing answers are `None`.
pub fn parse(text: &str, n: usize) -> Vec<Option<String>> {
    let mut answers: HashMap<usize, String> = HashMap::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches(['-', '*']).trim();
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let Ok(k) = line[..digits].parse::<usize>() else {
            continue;
        };
        let rest = line[digits..].trim_start();
        let Some(rest) = rest.strip_prefix([':', '.', ')']) else {
            continue;
        };
        let answer = clean(rest);
        if (1..=n).contains(&k) && !answer.is_empty() && !answer.eq_ignore_ascii_case("unknown") {
            answers.entry(k).or_insert(answer);
        }
    }
    (1..=n).map(|k| answers.remove(&k)).collect()
}

/// An answer without the quoting and punctuation models wrap values in.
fn clean(s: &str) -> String {
    let mut s = s.trim();
    loop {
        let t = s
            .trim_matches(|c: char| matches!(c, '`' | '"' | '\'' | '*' | '«' | '»'))
            .trim_end_matches('.')
            .trim();
        if t == s {
            return t.to_owned();
        }
        s = t;
    }
}

/// Exact: the answer is the value (as written, after [`clean`]). F1: token overlap.
pub fn score(value: &str, answer: Option<&str>) -> (bool, f64) {
    let Some(answer) = answer else {
        return (false, 0.0);
    };
    (answer == value, f1(value, answer))
}

/// SQuAD's token F1: lower-cased tokens of letters and digits, overlap of the two bags.
fn f1(expected: &str, got: &str) -> f64 {
    let tokens = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (want, have) = (tokens(expected), tokens(got));
    if want.is_empty() || have.is_empty() {
        return 0.0;
    }
    let mut bag: HashMap<&str, usize> = HashMap::new();
    for t in &want {
        *bag.entry(t).or_default() += 1;
    }
    let mut common = 0usize;
    for t in &have {
        if let Some(n) = bag.get_mut(t.as_str()).filter(|n| **n > 0) {
            *n -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / have.len() as f64;
    let recall = common as f64 / want.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The reader's scores of one row, pooled over its conversations.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReaderScore {
    /// Questions asked.
    pub questions: u64,
    /// Questions answered (not `unknown`, not missing, the call answered).
    pub answered: u64,
    /// Share answered exactly (none without questions: a corpus without planted facts).
    pub exact: Option<f64>,
    /// Mean token F1 (none without questions).
    pub f1: Option<f64>,
}

/// Adds up scores into a [`ReaderScore`].
#[derive(Clone, Debug, Default)]
pub(crate) struct ReaderTally {
    questions: u64,
    answered: u64,
    exact: u64,
    f1: f64,
}

impl ReaderTally {
    /// Scores `answers` (from [`parse`], `None` when the call failed) against `questions`.
    pub(crate) fn add(&mut self, questions: &[Question], answers: Option<&[Option<String>]>) {
        for (i, q) in questions.iter().enumerate() {
            let answer = answers.and_then(|a| a.get(i)).and_then(Option::as_deref);
            let (exact, f1) = score(&q.value, answer);
            self.questions += 1;
            self.answered += u64::from(answer.is_some());
            self.exact += u64::from(exact);
            self.f1 += f1;
        }
    }

    /// The pooled score.
    pub(crate) fn score(&self) -> ReaderScore {
        let n = self.questions as f64;
        let mean = |x: f64| (self.questions > 0).then(|| (x / n * 10_000.0).round() / 10_000.0);
        ReaderScore {
            questions: self.questions,
            answered: self.answered,
            exact: mean(self.exact as f64),
            f1: mean(self.f1),
        }
    }
}
