//! The sections of a structured summary: parsed back from a previous summary, filled by the
//! rules of [`super`] (keywords, paths, error lines), capped, and rendered as `## Section`
//! headings with `- item` lines (`(none)` under an empty one, so the shape stays fixed).

use crate::message::{Message, Origin, Role};
use crate::summarize::scan;

/// The sections, in order.
const SECTIONS: [&str; 6] = [
    "Goal",
    "Constraints",
    "Decisions",
    "Files touched",
    "Errors",
    "Next steps",
];
pub(super) const GOAL: usize = 0;
pub(super) const CONSTRAINTS: usize = 1;
pub(super) const DECISIONS: usize = 2;
pub(super) const FILES: usize = 3;
pub(super) const ERRORS: usize = 4;
pub(super) const NEXT: usize = 5;

/// Most items per section, newest kept.
const CAPS: [usize; 6] = [1, 8, 8, 25, 6, 2];
/// Longest item; a longer one keeps only its values.
const ITEM_CHARS: usize = 160;

/// Words that make a user sentence a constraint.
const CONSTRAINT_WORDS: [&str; 16] = [
    "must",
    "never",
    "only",
    "at most",
    "at least",
    "without",
    "always",
    "do not",
    "don't",
    "no more than",
    "required",
    "should not",
    "shouldn't",
    "cannot",
    "can't",
    "avoid",
];
/// Words that make an assistant sentence a decision.
const DECISION_WORDS: [&str; 13] = [
    "decision", "will", "i'll", "we'll", "decided", "decide", "chose", "choose", "let's",
    "going to", "instead", "plan", "switch",
];
/// Words that make a line an error.
const ERROR_WORDS: [&str; 9] = [
    "error",
    "failed",
    "failure",
    "fails",
    "exception",
    "panic",
    "panicked",
    "traceback",
    "fatal",
];

/// The items of each section, oldest first.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Sections(pub(super) [Vec<String>; 6]);

impl Sections {
    /// Reads a rendered summary back (`## Section` headings, `- item` lines; other lines are
    /// not items).
    pub(super) fn parse(text: &str) -> Self {
        let mut s = Self::default();
        let mut at = None;
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix("## ") {
                at = SECTIONS
                    .iter()
                    .position(|s| s.eq_ignore_ascii_case(name.trim()));
            } else if let (Some(i), Some(item)) = (at, line.strip_prefix("- ")) {
                s.add(i, item);
            }
        }
        s
    }

    /// Adds `item` as the newest of section `i` (moving it there if present), dropping the
    /// oldest beyond the section's cap.
    pub(super) fn add(&mut self, i: usize, item: &str) {
        let item = scan::condense(item.trim(), ITEM_CHARS);
        if item.is_empty() || item == "…" {
            return;
        }
        let items = &mut self.0[i];
        items.retain(|x| *x != item);
        items.push(item);
        if items.len() > CAPS[i] {
            items.remove(0);
        }
    }

    /// Adds what the rules find in `span`; `goal` fills an empty Goal.
    pub(super) fn extract(&mut self, goal: Option<&str>, span: &[Message]) {
        if self.0[GOAL].is_empty()
            && let Some(goal) = goal
        {
            self.add(GOAL, goal);
        }
        let mut next = None;
        for m in span {
            match (&m.origin, m.role) {
                (Origin::Summary, _) => self.merge(Sections::parse(&m.content)),
                (Origin::Stub { .. }, _) => {}
                (_, Role::User) => self.sentences_with(CONSTRAINTS, &m.content, &CONSTRAINT_WORDS),
                (_, Role::Assistant) => {
                    self.sentences_with(DECISIONS, &m.content, &DECISION_WORDS);
                    for call in &m.tool_calls {
                        self.files_in(&call.arguments);
                    }
                    if !m.content.trim().is_empty() {
                        next = Some(m.content.as_str());
                    }
                }
                (_, Role::Tool) => self.files_in(&m.content),
                (_, Role::System) => {}
            }
            if matches!(m.origin, Origin::Original | Origin::Reduced { .. }) {
                for line in m
                    .content
                    .lines()
                    .filter(|l| scan::has_phrase(l, &ERROR_WORDS))
                {
                    self.add(ERRORS, line);
                }
            }
        }
        if let Some(text) = next {
            let sentences: Vec<&str> = scan::sentences(text).collect();
            self.0[NEXT].clear();
            let from = sentences.len().saturating_sub(CAPS[NEXT]);
            for s in &sentences[from..] {
                self.add(NEXT, s);
            }
        }
    }

    fn sentences_with(&mut self, i: usize, text: &str, words: &[&str]) {
        for s in scan::sentences(text).filter(|s| scan::has_phrase(s, words)) {
            self.add(i, s);
        }
    }

    fn files_in(&mut self, text: &str) {
        for path in scan::tokens(text).filter_map(scan::file_path) {
            self.add(FILES, path);
        }
    }

    /// Adds `other`'s items after this one's (a summary found inside the span).
    fn merge(&mut self, other: Sections) {
        for (i, items) in other.0.into_iter().enumerate() {
            for item in items {
                if i != GOAL || self.0[GOAL].is_empty() {
                    self.add(i, &item);
                }
            }
        }
    }

    pub(super) fn render_len(&self) -> usize {
        SECTIONS
            .iter()
            .zip(&self.0)
            .map(|(name, items)| {
                let body: usize = items.iter().map(|x| x.len() + 3).sum();
                name.len() + 4 + if items.is_empty() { 7 } else { body }
            })
            .sum::<usize>()
            .saturating_sub(1)
    }

    /// Drops the oldest item of the fullest section until the summary fits `max_chars`.
    pub(super) fn fit(&mut self, max_chars: usize) {
        while self.render_len() > max_chars {
            let fullest = (1..SECTIONS.len())
                .filter(|&i| !self.0[i].is_empty())
                .max_by_key(|&i| (self.0[i].len(), std::cmp::Reverse(i)));
            match fullest {
                Some(i) => {
                    self.0[i].remove(0);
                }
                None => {
                    self.0[GOAL].clear();
                    return;
                }
            }
        }
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::with_capacity(self.render_len() + 1);
        for (name, items) in SECTIONS.iter().zip(&self.0) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("## ");
            out.push_str(name);
            if items.is_empty() {
                out.push_str("\n(none)");
            }
            for item in items {
                out.push_str("\n- ");
                out.push_str(item);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_the_newest_stay() {
        let mut s = Sections::default();
        for i in 0..40 {
            s.add(FILES, &format!("src/m{i}.rs"));
            s.add(
                CONSTRAINTS,
                &format!("You must keep rule {i} {}", "x".repeat(300)),
            );
        }
        assert_eq!(s.0[FILES].len(), 25);
        assert_eq!(s.0[FILES].last().unwrap(), "src/m39.rs");
        assert!(s.0[CONSTRAINTS].iter().all(|c| c.len() <= ITEM_CHARS));
        s.fit(300);
        assert!(s.render().len() <= 300, "{}", s.render().len());
        assert_eq!(s.render_len(), s.render().len());
        assert_eq!(s.0[FILES].last().unwrap(), "src/m39.rs");
        s.fit(0);
        assert_eq!(s.render_len(), s.render().len());
    }
}
