//! Messages grouped into units that strategies keep or drop whole, and the in-place rewrite
//! strategies use to shrink one message.
//!
//! A unit is a lone message, or an assistant message that calls tools together with the tool
//! results that follow it. In a valid conversation any order-preserving selection of units
//! that keeps the pinned ones (the system message and the first user message) is valid again:
//! no result loses its call, no call loses its results, and a call still waiting for results
//! can only be the last unit kept. `window`, `token-budget` and `amortized` are selections of
//! units; `observation-masking`, `clip` and `dedup` are [`reduce`]s of tool results.

use std::ops::Range;

use crate::message::{Message, Origin, PER_MESSAGE_TOKENS, Role};
use crate::tokens::TokenCounter;

/// Messages that must be kept or dropped together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Where the unit's messages sit in the list.
    pub range: Range<usize>,
    /// Their tokens.
    pub tokens: u64,
    /// Whether no strategy may drop it: it holds the leading system message or the first
    /// user message (the invariants require both).
    pub pinned: bool,
}

/// Groups `messages` into units, in order. Tool results with no assistant message right before
/// them (an invalid input) form units of their own.
pub fn units(messages: &[Message]) -> Vec<Unit> {
    let first_user = messages.iter().position(|m| m.role == Role::User);
    let mut out = Vec::new();
    let mut i = 0;
    while i < messages.len() {
        let start = i;
        i += 1;
        if messages[start].calls_tools() {
            while i < messages.len() && messages[i].role == Role::Tool {
                i += 1;
            }
        }
        out.push(Unit {
            range: start..i,
            tokens: messages[start..i].iter().map(|m| u64::from(m.tokens)).sum(),
            pinned: (start == 0 && messages[0].role == Role::System) || first_user == Some(start),
        });
    }
    out
}

/// How many leading units lie wholly within the first `keep_first` messages (a tool round the
/// cut would split is left out, not extended).
pub fn head_len(units: &[Unit], keep_first: usize) -> usize {
    units
        .iter()
        .take_while(|u| u.range.end <= keep_first)
        .count()
}

/// Where the newest units that fit `budget` tokens begin, looking no further back than unit
/// `floor`: the index of the oldest unit of the longest suffix of `units[floor..]` whose
/// unpinned units hold at most `budget` tokens (pinned units are kept anyway, so they cost
/// nothing here). `units.len()` when not even the newest unit fits.
pub fn newest_fitting(units: &[Unit], floor: usize, budget: u64) -> usize {
    let mut used = 0u64;
    let mut from = units.len();
    while from > floor {
        let unit = &units[from - 1];
        if !unit.pinned {
            if used + unit.tokens > budget {
                break;
            }
            used += unit.tokens;
        }
        from -= 1;
    }
    from
}

/// [`newest_fitting`], but never past the newest unit: it holds the result the model just
/// asked for (or a call still waiting for its results), so a selection keeps it even when it
/// alone is over the budget; a history over its target is still valid, one without its newest
/// observation is not what the model asked for.
pub fn newest_fitting_or_last(units: &[Unit], floor: usize, budget: u64) -> usize {
    newest_fitting(units, floor, budget).min(units.len().saturating_sub(1))
}

/// Tokens of the units a selection keeps whatever else it does: the pinned ones and the first
/// `head` ones.
pub fn fixed_tokens(units: &[Unit], head: usize) -> u64 {
    units
        .iter()
        .enumerate()
        .filter(|(i, u)| u.pinned || *i < head)
        .map(|(_, u)| u.tokens)
        .sum()
}

/// Keeps the pinned units, the first `head` units and the units from `tail_from` on; drops the
/// rest. `units` must be `units(messages)`.
pub fn keep_head_tail(messages: &mut Vec<Message>, units: &[Unit], head: usize, tail_from: usize) {
    let mut keep = vec![false; messages.len()];
    for (i, unit) in units.iter().enumerate() {
        if unit.pinned || i < head || i >= tail_from {
            keep[unit.range.clone()].fill(true);
        }
    }
    let mut flags = keep.into_iter();
    messages.retain(|_| flags.next().expect("one flag per message"));
}

/// Tokens of a tool result's content as the conversation first had it: what
/// [`Origin::Reduced`] recorded, or the message's tokens without framing (tool results carry
/// no tool calls, so that is the content's count).
pub fn original_tokens(m: &Message) -> u32 {
    match m.origin {
        Origin::Reduced { original_tokens } => original_tokens,
        _ => m.tokens.saturating_sub(PER_MESSAGE_TOKENS),
    }
}

/// Replaces `m`'s content by `text` when that makes the message strictly smaller, recording
/// the original size in [`Origin::Reduced`]. Returns whether it did; otherwise `m` is unchanged
/// (so no rewrite ever adds tokens).
pub fn reduce(m: &mut Message, text: String, counter: &dyn TokenCounter) -> bool {
    let original_tokens = original_tokens(m);
    let done = replace_if(m, text, counter, |new, old| new < old);
    if done {
        m.origin = Origin::Reduced { original_tokens };
    }
    done
}

/// Replaces `m`'s content by `text` if `accept(new_tokens, old_tokens)`; otherwise puts the
/// old content back. Returns whether the new content stayed.
pub fn replace_if(
    m: &mut Message,
    text: String,
    counter: &dyn TokenCounter,
    accept: impl FnOnce(u32, u32) -> bool,
) -> bool {
    let (tokens, bytes) = (m.tokens, m.bytes);
    let old = std::mem::take(&mut m.content);
    m.set_content(text, counter);
    if accept(m.tokens, tokens) {
        return true;
    }
    m.content = old;
    (m.tokens, m.bytes) = (tokens, bytes);
    false
}

/// `1234567` as `1,234,567`, for placeholders people read.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Conversations, a summarizer and a runner for the strategies' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::cold::ColdStore;
    use crate::invariants::check_against;
    use crate::message::{Message, ToolCall};
    use crate::strategy::{Ctx, Strategy, Summarizer, Work, total_tokens};
    use crate::tokens::{CharsPerToken, TokenCounter};

    /// The fast counter most tests use.
    pub(crate) const C: CharsPerToken = CharsPerToken(4.0);

    /// A summarizer that writes the same short text every time.
    #[derive(Debug)]
    pub(crate) struct FixedSummary;

    impl Summarizer for FixedSummary {
        fn summarize(&mut self, _previous: Option<&str>, _span: &[Message]) -> String {
            "summary: the work so far".to_owned()
        }
    }

    /// A tool call.
    pub(crate) fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        }
    }

    /// An assistant message making `calls` (`(id, tool, arguments, output)`) and their results.
    pub(crate) fn round(calls: &[(&str, &str, &str, &str)]) -> Vec<Message> {
        let made = calls.iter().map(|(id, name, args, _)| call(id, name, args));
        let mut out = vec![Message::assistant("", made.collect(), &C)];
        for (id, name, _, output) in calls {
            out.push(Message::tool(*id, *name, *output, &C));
        }
        out
    }

    /// `n` lines of filler text (about 40 characters each), numbered so no two differ only
    /// by position.
    pub(crate) fn lines(tag: &str, n: usize) -> String {
        (0..n)
            .map(|i| format!("{tag} line {i:04}: lorem ipsum dolor sit amet"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// System, task, then `rounds` times: a `read_file` of a different file with an output of
    /// `output_lines` lines, an assistant remark and a user follow-up.
    pub(crate) fn session(rounds: usize, output_lines: usize) -> Vec<Message> {
        let mut m = vec![
            Message::system("You are a coding agent.", &C),
            Message::user("Fix the failing test in src/lib.rs.", &C),
        ];
        for r in 0..rounds {
            let id = format!("r{r}");
            let args = format!("{{\"path\":\"src/f{r}.rs\"}}");
            m.extend(round(&[(
                &id,
                "read_file",
                &args,
                &lines(&id, output_lines),
            )]));
            m.push(Message::assistant(format!("Looked at f{r}."), vec![], &C));
            m.push(Message::user(format!("Go on after {r}."), &C));
        }
        m
    }

    /// An empty [`session`], then each of `rounds` (a call with its output, as [`round`]
    /// takes them) followed by a user's "next".
    pub(crate) fn rounds_then_next(rounds: &[(&str, &str, &str, &str)]) -> Vec<Message> {
        let mut m = session(0, 0);
        for r in rounds {
            m.extend(round(&[*r]));
            m.push(Message::user("next", &C));
        }
        m
    }

    /// The contents of the tool messages of `m`, in order.
    pub(crate) fn tool_contents(m: &[Message]) -> Vec<&str> {
        let tools = m.iter().filter(|m| m.role == crate::message::Role::Tool);
        tools.map(|m| m.content.as_str()).collect()
    }

    /// [`session`] of `rounds` rounds ending in a `run_tests` round whose output is about
    /// `tokens` tokens (under [`C`]) with `fact` on its last line: the result the model just
    /// asked for, bigger than a small target.
    pub(crate) fn ends_in_big_output(rounds: usize, tokens: usize, fact: &str) -> Vec<Message> {
        let mut m = session(rounds, 10);
        let body = lines("test", tokens * 4 / 43);
        let output = format!("{body}\n{fact}");
        m.extend(round(&[("big", "run_tests", "{}", &output)]));
        m
    }

    /// Runs `compress` on a copy of `before` toward `target` tokens, with a fresh cold store
    /// and [`FixedSummary`].
    pub(crate) fn compress(
        before: &[Message],
        target: u64,
        counter: &dyn TokenCounter,
        compress: impl FnOnce(&mut Vec<Message>, &mut Ctx<'_>),
    ) -> Vec<Message> {
        let mut cold = ColdStore::default();
        let mut summarizer = FixedSummary;
        let mut ctx = Ctx {
            counter,
            target_tokens: target,
            cold: &mut cold,
            summarizer: &mut summarizer,
            work: Work::default(),
        };
        let mut after = before.to_vec();
        compress(&mut after, &mut ctx);
        after
    }

    /// Runs `s` on a copy of `before` toward `target` tokens.
    pub(crate) fn run_with(
        s: &mut dyn Strategy,
        before: &[Message],
        target: u64,
        counter: &dyn TokenCounter,
    ) -> Vec<Message> {
        compress(before, target, counter, |m, ctx| s.compress(m, ctx))
    }

    /// [`run_with`] under [`C`], asserting the invariants hold and no tokens were added.
    pub(crate) fn run(s: &mut dyn Strategy, before: &[Message], target: u64) -> Vec<Message> {
        let after = run_with(s, before, target, &C);
        assert_eq!(check_against(before, &after), vec![], "{}", s.name());
        assert!(total_tokens(&after) <= total_tokens(before), "{}", s.name());
        after
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{C, round, session};
    use super::*;

    #[test]
    fn rounds_are_one_unit_and_pins_are_marked() {
        let mut m = session(1, 2);
        m.extend(round(&[("x", "ls", "{}", "a"), ("y", "ls", "{}", "b")]));
        let u = units(&m);
        let ranges: Vec<_> = u.iter().map(|u| u.range.clone()).collect();
        assert_eq!(ranges, vec![0..1, 1..2, 2..4, 4..5, 5..6, 6..9]);
        assert_eq!(u.iter().filter(|u| u.pinned).count(), 2);
        assert_eq!(u[2].tokens, u64::from(m[2].tokens + m[3].tokens));
        // An orphan result is a unit of its own; nothing panics on odd input.
        let orphan = vec![Message::tool("z", "ls", "x", &C)];
        assert_eq!(units(&orphan)[0].range, 0..1);
        assert!(units(&[]).is_empty());
    }

    #[test]
    fn selections() {
        let m = session(3, 2);
        let u = units(&m);
        assert_eq!(
            head_len(&u, 3),
            2,
            "a round cut in two stays out of the head"
        );
        assert_eq!(head_len(&u, 4), 3);
        assert_eq!(newest_fitting(&u, 0, 0), u.len());
        let last_two = u[u.len() - 2].tokens + u[u.len() - 1].tokens;
        assert_eq!(newest_fitting(&u, 0, last_two), u.len() - 2);
        assert_eq!(newest_fitting(&u, u.len() - 1, u64::MAX), u.len() - 1);
        let mut kept = m.clone();
        keep_head_tail(&mut kept, &u, 0, u.len() - 1);
        assert_eq!(kept.len(), 3);
        assert_eq!(fixed_tokens(&u, 0), u64::from(m[0].tokens + m[1].tokens));
    }

    #[test]
    fn reduce_never_grows() {
        let mut m = Message::tool("a", "ls", "x".repeat(100), &C);
        let before = m.clone();
        assert!(!reduce(&mut m, "y".repeat(200), &C));
        assert_eq!(m, before);
        assert!(reduce(&mut m, "short".to_owned(), &C));
        assert_eq!(
            m.origin,
            Origin::Reduced {
                original_tokens: 25
            }
        );
        assert_eq!(m.tokens, PER_MESSAGE_TOKENS + 2);
        // A second reduction remembers the first size.
        assert!(reduce(&mut m, "s".to_owned(), &C));
        assert_eq!(original_tokens(&m), 25);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
