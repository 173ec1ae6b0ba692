//! Identifier retention (`compress --keep-pattern`): a quality signal that needs no planted
//! facts, so it works on real logs. A conversation's identifiers are the distinct matches of
//! the patterns anywhere in its original messages (contents and call arguments); a context
//! keeps one when it holds it as a substring, as retention does for planted values
//! (docs/compression.md, "Identifier retention").
//!
//! The counts are pooled like the other retention figures: over conversations for the final
//! context, over conversations × turns (of the identifiers that had appeared by the turn) for
//! the average.

use conversation::message::Message;
use regex::Regex;
use serde::Serialize;

use super::replay::Run;
use super::score::round;

/// The compiled `--keep-pattern`s; none keeps the report as it was.
#[derive(Clone, Debug, Default)]
pub struct KeepPatterns {
    patterns: Vec<Regex>,
}

/// A `--keep-pattern` that is not a regex.
#[derive(Debug, thiserror::Error)]
#[error(
    "--keep-pattern {pattern}: not a valid regex: {reason}; write a Rust regex \
     (https://docs.rs/regex/#syntax) in single quotes, like --keep-pattern 'req-[0-9a-f]{{8}}' \
     (escape a literal `(`, `[` or `.` with a backslash)"
)]
pub struct KeepPatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What the regex parser said.
    pub reason: String,
}

impl KeepPatterns {
    /// Compiles `patterns`; the first that does not compile is the error.
    pub fn new(patterns: &[String]) -> Result<Self, KeepPatternError> {
        let patterns = patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| KeepPatternError {
                    pattern: p.clone(),
                    reason: reason(&e),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether no pattern was given (the report then has no identifier figures).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns as written.
    pub fn sources(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect()
    }

    /// The distinct non-empty matches in `messages` (contents, then each call's arguments,
    /// message by message), in order of first appearance, with the message they first
    /// appear in.
    pub(crate) fn identify(&self, messages: &[Message]) -> Vec<Identifier> {
        let mut found: Vec<Identifier> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, m) in messages.iter().enumerate() {
            let texts = std::iter::once(m.content.as_str())
                .chain(m.tool_calls.iter().map(|c| c.arguments.as_str()));
            for text in texts {
                for re in &self.patterns {
                    for hit in re.find_iter(text).filter(|h| !h.is_empty()) {
                        if seen.insert(hit.as_str().to_owned()) {
                            found.push(Identifier {
                                value: hit.as_str().to_owned(),
                                first: i,
                            });
                        }
                    }
                }
            }
        }
        found
    }
}

/// The regex crate's message without its caret diagram: the line saying what is wrong.
fn reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(
            || text.lines().last().unwrap_or("").trim().to_owned(),
            str::to_owned,
        )
}

/// One identifier of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identifier {
    /// The matched text.
    pub(crate) value: String,
    /// The index of the first message holding it.
    pub(crate) first: usize,
}

/// Identifier counts, added up over contexts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IdTally {
    /// Distinct identifiers, over conversations.
    found: u64,
    final_kept: u64,
    final_seen: u64,
    turns_kept: u64,
    turns_seen: u64,
}

impl IdTally {
    /// Counts a conversation's identifiers.
    pub(crate) fn identified(&mut self, ids: &[Identifier]) {
        self.found += ids.len() as u64;
    }

    /// Scores one prompt: `present[i]` says whether it holds identifier `i`; those first
    /// appearing before message `pushed` count.
    pub(crate) fn turn(&mut self, ids: &[Identifier], present: &[bool], pushed: usize) {
        let (kept, seen) = count(ids, present, pushed);
        self.turns_kept += kept;
        self.turns_seen += seen;
    }

    /// Scores the context after the last message.
    pub(crate) fn last(&mut self, ids: &[Identifier], present: &[bool]) {
        let (kept, seen) = count(ids, present, usize::MAX);
        self.final_kept += kept;
        self.final_seen += seen;
    }

    /// Adds another tally.
    pub(crate) fn merge(&mut self, o: &IdTally) {
        self.found += o.found;
        self.final_kept += o.final_kept;
        self.final_seen += o.final_seen;
        self.turns_kept += o.turns_kept;
        self.turns_seen += o.turns_seen;
    }

    /// The figures.
    pub(crate) fn finish(&self) -> Identifiers {
        let share = |kept: u64, seen: u64| (seen > 0).then(|| round(kept as f64 / seen as f64));
        Identifiers {
            found: self.found,
            kept_final: share(self.final_kept, self.final_seen),
            kept_turns: share(self.turns_kept, self.turns_seen),
        }
    }
}

/// A row's identifier figures from its runs; none without patterns.
pub(crate) fn kept(runs: &[Run], keep: &KeepPatterns) -> Option<Identifiers> {
    if keep.is_empty() {
        return None;
    }
    let mut all = IdTally::default();
    for r in runs {
        all.merge(&r.ids);
    }
    Some(all.finish())
}

/// The `ids kept` cell: % in the final context / averaged over turns, `-` where nothing
/// matched.
pub(crate) fn cell(ids: Option<&Identifiers>) -> String {
    let percent =
        |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{:.0}", v * 100.0));
    match ids {
        Some(i) => format!("{}/{}", percent(i.kept_final), percent(i.kept_turns)),
        None => "-".to_owned(),
    }
}

fn count(ids: &[Identifier], present: &[bool], pushed: usize) -> (u64, u64) {
    let mut kept = 0;
    let mut seen = 0;
    for (id, &here) in ids.iter().zip(present) {
        if id.first < pushed {
            seen += 1;
            kept += u64::from(here);
        }
    }
    (kept, seen)
}

/// A row's identifier retention (with `--keep-pattern`): fractions in [0, 1], `null` where
/// the patterns matched nothing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Identifiers {
    /// Distinct identifiers, added up over conversations.
    pub found: u64,
    /// The share present in the context after the last message.
    pub kept_final: Option<f64>,
    /// The share present in each prompt, of those that had appeared by then.
    pub kept_turns: Option<f64>,
}

#[cfg(test)]
mod tests {
    use conversation::message::Message;
    use conversation::tokens::CharsPerToken;

    use super::*;

    const C: CharsPerToken = CharsPerToken(4.0);

    fn patterns(p: &[&str]) -> KeepPatterns {
        KeepPatterns::new(&p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .expect("valid patterns")
    }

    #[test]
    fn identifiers_are_distinct_matches_in_order_of_first_appearance() {
        let messages = [
            Message::user("ticket REQ-1 and REQ-2", &C),
            Message::user("REQ-2 again, then REQ-3; x", &C),
        ];
        let ids = patterns(&["REQ-[0-9]", "x*"]).identify(&messages);
        let got: Vec<(&str, usize)> = ids.iter().map(|i| (i.value.as_str(), i.first)).collect();
        // `x*` matches the empty string everywhere: empty matches are no identifiers.
        assert_eq!(got, [("REQ-1", 0), ("REQ-2", 0), ("REQ-3", 1), ("x", 1)]);
    }

    #[test]
    fn a_bad_pattern_names_the_flag_the_value_and_the_reason() {
        let err = KeepPatterns::new(&["req-(".to_owned()]).expect_err("unclosed group");
        let text = err.to_string();
        assert!(
            text.starts_with("--keep-pattern req-(: not a valid regex: "),
            "{text}"
        );
        assert!(text.contains("unclosed group"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn the_turn_figure_counts_only_identifiers_seen_by_then() {
        let ids = [
            Identifier {
                value: "a".into(),
                first: 0,
            },
            Identifier {
                value: "b".into(),
                first: 3,
            },
        ];
        let mut t = IdTally::default();
        t.identified(&ids);
        t.turn(&ids, &[true, false], 2);
        t.turn(&ids, &[true, false], 4);
        t.last(&ids, &[false, true]);
        let f = t.finish();
        assert_eq!(f.found, 2);
        assert_eq!(f.kept_turns, Some(round(2.0 / 3.0)));
        assert_eq!(f.kept_final, Some(0.5));
        assert_eq!(IdTally::default().finish().kept_final, None);
    }
}
