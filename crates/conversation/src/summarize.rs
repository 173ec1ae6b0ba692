//! The built-in, deterministic summarizer: extractive, the offline stand-in for an LLM
//! summarizer (OpenHands' `llm` condenser, MemGPT's recursive summary, LangChain's summary
//! buffer; `research/compression.md` §7 item 8).
//!
//! From the evicted span it keeps the sentences (of prose) and lines (of tool output) that
//! carry a fact: an identifier (`QX7-4471-KP`, a UUID, a hash, an order id, an error code), a
//! path, a URL or a number. Each becomes one line `- <who>: <sentence>` (`user`, `assistant`,
//! `tool <name>`, `call <name>` for a call's arguments). Lines already in `previous` come first,
//! so facts accumulate across runs; a line seen again moves to its newest place (dedupe keeps
//! the last). When the lines exceed the cap, the oldest go first, lines without a fact before
//! lines with only numbers, and those before lines with an identifier.
//!
//! Parameters: [`Extractive::max_chars`], the cap ([`DEFAULT_MAX_CHARS`] unless set), and
//! [`MAX_LINE_CHARS`], the longest single line (a longer sentence keeps only its values).
//! One pass over the text, linear in its size (the `scan` module: no regexes, no backtracking).

pub mod prompt;
pub(crate) mod scan;

use std::collections::HashSet;

use crate::message::{Message, Origin, Role};
use crate::strategy::Summarizer;
use scan::Fact;

/// The default cap of a summary, in characters (bytes of UTF-8).
///
/// 1,500 characters are about 480 tokens at the 3.1 bytes per token measured on coding-agent
/// JSON (`research/compression.md` §4). With the default trigger (8,000 tokens) and
/// `compact_to` (0.5) a compression aims at 4,000 tokens: half for the newest messages, the
/// other half for the head (system prompt and task, often 1,000–1,500 tokens) and the summary.
/// So the summary gets about an eighth of the target, 15–25 fact lines of 60–100 characters.
pub const DEFAULT_MAX_CHARS: usize = 1_500;

/// The longest line kept whole; a longer sentence keeps only its fact-bearing tokens.
pub const MAX_LINE_CHARS: usize = 200;

/// Keeps the sentences with identifiers, numbers, paths and URLs. Deterministic.
#[derive(Clone, Debug)]
pub struct Extractive {
    /// Most characters a summary may hold (at least one line is always possible to drop, so
    /// the cap holds exactly).
    pub max_chars: usize,
}

impl Default for Extractive {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CHARS)
    }
}

impl Extractive {
    /// A summarizer capping summaries at `max_chars` characters.
    pub fn new(max_chars: usize) -> Self {
        Self { max_chars }
    }
}

/// One candidate line and how much it matters.
struct Line {
    text: String,
    /// `None`: no fact (only possible for lines of a previous summary written by someone
    /// else); dropped first.
    rank: Option<Fact>,
    kept: bool,
}

impl Summarizer for Extractive {
    fn summarize(&mut self, previous: Option<&str>, span: &[Message]) -> String {
        let mut lines = Vec::new();
        for text in previous.into_iter().flat_map(str::lines) {
            let text = text.trim();
            let text = text.strip_prefix("- ").unwrap_or(text).trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            lines.push(Line {
                text: scan::condense(text, MAX_LINE_CHARS),
                rank: scan::strongest(text),
                kept: true,
            });
        }
        for m in span {
            facts_of(m, &mut lines);
        }
        dedupe_keeping_newest(&mut lines);
        cap(&mut lines, self.max_chars);
        let mut out = String::with_capacity(self.max_chars.min(64 * 1024));
        for line in lines.iter().filter(|l| l.kept) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("- ");
            out.push_str(&line.text);
        }
        out
    }
}

/// Who wrote `m`, as a line prefix; `None` for a summary, whose lines carry their own.
fn who(m: &Message) -> Option<String> {
    Some(match (m.role, &m.origin) {
        (_, Origin::Summary) => return None,
        (Role::System, _) => "system".to_owned(),
        (Role::User, _) => "user".to_owned(),
        (Role::Assistant, _) => "assistant".to_owned(),
        (Role::Tool, _) => format!("tool {}", m.name.as_deref().unwrap_or("?")),
    })
}

/// Appends the fact-bearing sentences of `m` (its content, its calls' arguments).
fn facts_of(m: &Message, out: &mut Vec<Line>) {
    let mut push = |who: Option<&str>, sentence: &str| {
        if let Some(rank) = scan::strongest(sentence) {
            let sentence = scan::condense(
                sentence.strip_prefix("- ").unwrap_or(sentence),
                MAX_LINE_CHARS,
            );
            out.push(Line {
                text: match who {
                    Some(who) => format!("{who}: {sentence}"),
                    None => sentence,
                },
                rank: Some(rank),
                kept: true,
            });
        }
    };
    match who(m) {
        Some(who) => scan::sentences(&m.content).for_each(|s| push(Some(&who), s)),
        None => m.content.lines().map(str::trim).for_each(|l| push(None, l)),
    }
    for call in &m.tool_calls {
        let args = call.arguments.trim();
        if !args.is_empty() && args != "{}" {
            push(Some(&format!("call {}", call.name)), args);
        }
    }
}

/// Drops every line that appears again later, so each fact sits at its newest place.
fn dedupe_keeping_newest(lines: &mut [Line]) {
    let mut seen = HashSet::with_capacity(lines.len());
    let repeated: Vec<bool> = lines
        .iter()
        .rev()
        .map(|l| !seen.insert(l.text.as_str()))
        .collect();
    for (line, repeated) in lines.iter_mut().rev().zip(repeated) {
        line.kept &= !repeated;
    }
}

/// Drops lines, weakest rank first and oldest first within a rank, until the kept lines (each
/// `- ` + text + newline) fit `max_chars`.
fn cap(lines: &mut [Line], max_chars: usize) {
    let size = |l: &Line| l.text.len() + 3;
    let mut total: usize = lines.iter().filter(|l| l.kept).map(size).sum();
    for rank in [None, Some(Fact::Number), Some(Fact::Identifier)] {
        for line in lines.iter_mut().filter(|l| l.kept && l.rank == rank) {
            if total <= max_chars + 1 {
                return;
            }
            total -= size(line);
            line.kept = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{C, round};

    fn span() -> Vec<Message> {
        let mut m = vec![Message::user(
            "Please look up order QX7-4471-KP. The customer is upset.",
            &C,
        )];
        m.extend(round(&[(
            "c1",
            "lookup",
            r#"{"order":"QX7-4471-KP"}"#,
            "status: shipped\ntracking 550e8400-e29b-41d4-a716-446655440000\nnothing else",
        )]));
        m.push(Message::assistant(
            "It shipped on 2024-05-01 from https://shop.example/o/1. I will tell them.",
            vec![],
            &C,
        ));
        m
    }

    #[test]
    fn keeps_sentences_with_facts_and_labels_them() {
        let s = Extractive::default().summarize(None, &span());
        assert_eq!(
            s,
            "- user: Please look up order QX7-4471-KP.\n\
             - call lookup: {\"order\":\"QX7-4471-KP\"}\n\
             - tool lookup: tracking 550e8400-e29b-41d4-a716-446655440000\n\
             - assistant: It shipped on 2024-05-01 from https://shop.example/o/1."
        );
    }

    #[test]
    fn folds_the_previous_summary_and_dedupes() {
        let mut x = Extractive::default();
        let first = x.summarize(None, &span());
        let later = vec![Message::user(
            "Also refund ORD-20931, and check the order QX7-4471-KP.",
            &C,
        )];
        let second = x.summarize(Some(&first), &later);
        assert!(second.starts_with(&first), "{second}");
        assert!(
            second.ends_with("- user: Also refund ORD-20931, and check the order QX7-4471-KP.")
        );
        // The same span again adds nothing new: each line once, at its newest place.
        let third = x.summarize(Some(&second), &span());
        assert_eq!(third.lines().count(), second.lines().count());
        assert!(third.ends_with("https://shop.example/o/1."), "{third}");
    }

    #[test]
    fn overflow_drops_numbers_before_identifiers_and_old_before_new() {
        let mut span: Vec<Message> = (0..50)
            .map(|i| Message::user(format!("We have {i} apples in the basket."), &C))
            .collect();
        span.insert(0, Message::user("The old key is KEY-0001-AA.", &C));
        span.push(Message::user("The new key is KEY-9999-ZZ.", &C));
        let s = Extractive::new(200).summarize(None, &span);
        assert!(s.len() <= 200, "{} > 200", s.len());
        assert!(
            s.contains("KEY-0001-AA") && s.contains("KEY-9999-ZZ"),
            "{s}"
        );
        assert!(s.contains("49 apples") && !s.contains(" 0 apples"), "{s}");
        // Identifiers beyond the cap: the newest win.
        let ids: Vec<Message> = (0..100)
            .map(|i| Message::user(format!("Ticket TCK-{i:04}-Q."), &C))
            .collect();
        let s = Extractive::new(300).summarize(None, &ids);
        assert!(s.len() <= 300 && s.contains("TCK-0099-Q") && !s.contains("TCK-0000-Q"));
    }

    #[test]
    fn odd_input_gives_an_empty_summary() {
        let mut x = Extractive::new(0);
        assert_eq!(x.summarize(None, &[]), "");
        assert_eq!(x.summarize(Some("- user: id AB12-CD"), &span()), "");
        let no_facts = vec![
            Message::user("hello there", &C),
            Message::assistant("", vec![], &C),
        ];
        assert_eq!(Extractive::default().summarize(None, &no_facts), "");
    }

    #[test]
    fn long_lines_keep_their_values_and_time_stays_linear() {
        let blob = format!(
            "{{\"data\":\"{}\",\"id\":\"QX7-4471-KP\"}}",
            "x".repeat(5_000)
        );
        let m = vec![Message::tool("c", "fetch", blob, &C)];
        let s = Extractive::default().summarize(None, &m);
        assert_eq!(s, "- tool fetch: … QX7-4471-KP");
        // A megabyte of one line without stops (a minified dump) is scanned once.
        let big = vec![Message::tool("c", "dump", "a1 ".repeat(350_000), &C)];
        let s = Extractive::default().summarize(None, &big);
        assert!(s.len() <= DEFAULT_MAX_CHARS);
    }
}
