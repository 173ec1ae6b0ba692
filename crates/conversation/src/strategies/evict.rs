//! Which span the evicting strategies (`rolling-summary`, `structured-summary`, `offload`)
//! take out, and how a summary replaces it. One rule for all three, after OpenHands'
//! `conversation_window` and summarizing condensers (keep the head, keep the newest half,
//! never split a tool call from its results):
//!
//! ```text
//! [ head ][ anchors ][ span: evicted ][ tail: newest units within target/2 ]
//! ```
//!
//! - head: the system message and everything up to the first user message, or the first
//!   `keep_first` messages if more (a tool round is never cut);
//! - anchors: the summary and the offload stubs earlier runs left right after the head;
//! - tail: the newest units (see [`crate::message_units`]) that fit half the target, and always the
//!   newest unit (it may be a call still waiting for its results).
//!
//! The summary (one in all, right after the head) is a `user` message starting with
//! [`SUMMARY_PREFIX`]: a system message may only come first (the invariants), and an assistant
//! message would put the summary in the model's own mouth. The exception is a conversation
//! with no user message at all: there a user-role summary would become "the first user
//! message" the invariants pin, and the next fold would replace it, so it is an assistant
//! message.

use crate::message::{Message, Origin, Role};
use crate::message_units::{Unit, head_len, newest_fitting_or_last, units};
use crate::strategy::{Ctx, total_tokens};

pub(super) use crate::message::SUMMARY_PREFIX;
/// The body of a summary with nothing in it (not folded into the next one).
const EMPTY_BODY: &str = "(no identifiers, numbers or paths to keep)";

/// Where the parts of the message list lie, as message indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    /// `messages[..head]` is kept as it is.
    pub(super) head: usize,
    /// `messages[head..start]` are anchors: earlier summaries and stubs.
    pub(super) start: usize,
    /// `messages[start..end]` is evicted; `messages[end..]` is the tail.
    pub(super) end: usize,
}

fn is_anchor(u: &Unit, messages: &[Message]) -> bool {
    u.range.len() == 1
        && matches!(
            messages[u.range.start].origin,
            Origin::Summary | Origin::Stub { .. }
        )
}

/// The span to evict from `messages` toward `target` tokens, or `None` when they fit or
/// nothing lies between the head (with its anchors) and the newest unit.
pub(super) fn plan(messages: &[Message], target: u64, keep_first: usize) -> Option<Plan> {
    if total_tokens(messages) <= target {
        return None;
    }
    let us = units(messages);
    let last_pinned = us.iter().rposition(|u| u.pinned).map_or(0, |i| i + 1);
    let head = last_pinned.max(head_len(&us, keep_first));
    let start = head
        + us[head..]
            .iter()
            .take_while(|u| is_anchor(u, messages))
            .count();
    // The newest unit stays whatever its size.
    let tail = newest_fitting_or_last(&us, start, target / 2);
    if tail <= start {
        return None;
    }
    let at = |unit: usize| us.get(unit).map_or(messages.len(), |u| u.range.start);
    Some(Plan {
        head: at(head),
        start: at(start),
        end: at(tail),
    })
}

/// The role of a message inserted after `head`: `user`, unless no user message precedes it
/// (see the module's doc).
pub(super) fn role_after(messages: &[Message], head: usize) -> Role {
    if messages[..head].iter().any(|m| m.role == Role::User) {
        Role::User
    } else {
        Role::Assistant
    }
}

/// A message of `role` made by a strategy, with `origin`.
pub(super) fn made(role: Role, text: String, origin: Origin, ctx: &Ctx<'_>) -> Message {
    let mut m = match role {
        Role::User => Message::user(text, ctx.counter),
        _ => Message::assistant(text, Vec::new(), ctx.counter),
    };
    m.origin = origin;
    m
}

/// Replaces the planned span and the earlier summary by one summary that `write` makes from
/// the earlier summary's text (without its prefix) and the span, right after the head; the
/// stubs among the anchors stay after it. Counts the summarizer's work; leaves `messages` as
/// they were if the summary would not make them smaller.
pub(super) fn summarize_oldest(
    messages: &mut Vec<Message>,
    ctx: &mut Ctx<'_>,
    keep_first: usize,
    write: impl FnOnce(Option<&str>, &[Message], &mut Ctx<'_>) -> String,
) {
    let Some(p) = plan(messages, ctx.target_tokens, keep_first) else {
        return;
    };
    let (summaries, stubs): (Vec<&Message>, Vec<&Message>) = messages[p.head..p.start]
        .iter()
        .partition(|m| m.origin == Origin::Summary);
    let previous = summaries
        .iter()
        .map(|m| m.content.strip_prefix(SUMMARY_PREFIX).unwrap_or(&m.content))
        .filter(|body| *body != EMPTY_BODY)
        .collect::<Vec<_>>()
        .join("\n");
    let previous = (!previous.trim().is_empty()).then_some(previous);
    let span = &messages[p.start..p.end];
    let text = write(previous.as_deref(), span, ctx);
    ctx.work.summaries += 1;
    ctx.work.summarizer_tokens_in += total_tokens(span)
        + previous
            .as_deref()
            .map_or(0, |t| u64::from(ctx.counter.count(t)));
    ctx.work.summarizer_tokens_out += u64::from(ctx.counter.count(&text));
    let body = if text.trim().is_empty() {
        EMPTY_BODY
    } else {
        &text
    };
    let summary = made(
        role_after(messages, p.head),
        format!("{SUMMARY_PREFIX}{body}"),
        Origin::Summary,
        ctx,
    );
    let stubs: Vec<Message> = stubs.into_iter().cloned().collect();
    let removed = total_tokens(&messages[p.head..p.end]);
    if u64::from(summary.tokens) + total_tokens(&stubs) >= removed {
        return;
    }
    let replacement = std::iter::once(summary).chain(stubs);
    messages.splice(p.head..p.end, replacement);
}

/// A context for the tests: counter [`C`](crate::message_units::fixtures::C), no work yet.
#[cfg(test)]
pub(super) fn test_ctx<'a>(
    target_tokens: u64,
    cold: &'a mut crate::cold::ColdStore,
    summarizer: &'a mut dyn crate::strategy::Summarizer,
) -> Ctx<'a> {
    Ctx {
        counter: &crate::message_units::fixtures::C,
        target_tokens,
        cold,
        summarizer,
        work: crate::strategy::Work::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{C, round, session};

    #[test]
    fn the_span_lies_between_head_and_the_newest_half() {
        let m = session(6, 10);
        let total = total_tokens(&m);
        let p = plan(&m, total / 2, 2).unwrap();
        assert_eq!((p.head, p.start), (2, 2));
        assert!(total_tokens(&m[p.end..]) <= total / 4);
        assert_eq!(
            m[p.end].role,
            Role::Assistant,
            "the tail starts with a round"
        );
        assert_eq!(plan(&m, total, 2), None, "fits already");
        // keep_first widens the head, never into the middle of a round.
        assert_eq!(plan(&m, total / 2, 3).unwrap().head, 2);
        assert_eq!(plan(&m, total / 2, 5).unwrap().head, 5);
    }

    #[test]
    fn the_newest_unit_stays_even_when_too_big() {
        let mut m = session(2, 2);
        m.extend(round(&[("big", "cat", "{}", &"x".repeat(4_000))]));
        let p = plan(&m, 10, 2).unwrap();
        assert_eq!(p.end, m.len() - 2);
        // A pending call (no result yet) is the newest unit and stays too.
        m.push(Message::assistant(
            "",
            vec![crate::message_units::fixtures::call("p", "ls", "{}")],
            &C,
        ));
        assert_eq!(plan(&m, 10, 2).unwrap().end, m.len() - 1);
    }

    #[test]
    fn anchors_are_skipped_and_odd_input_plans_nothing() {
        let mut m = session(4, 5);
        let mut stub = Message::user("stub", &C);
        stub.origin = Origin::Stub { handle: 0 };
        m.insert(2, stub);
        let p = plan(&m, 10, 2).unwrap();
        assert_eq!((p.head, p.start), (2, 3));
        assert_eq!(plan(&[], 0, 2), None);
        assert_eq!(plan(&m[..1], 0, 2), None, "only a system message");
        let no_user = vec![
            Message::system("s", &C),
            Message::assistant("a".repeat(400), vec![], &C),
            Message::assistant("b", vec![], &C),
        ];
        let p = plan(&no_user, 5, 0).unwrap();
        assert_eq!((p.head, p.start, p.end), (1, 1, 2));
        assert_eq!(role_after(&no_user, p.head), Role::Assistant);
        assert_eq!(role_after(&m, 2), Role::User);
    }

    #[test]
    fn one_summary_after_the_head_stubs_after_it_empty_ones_not_folded() {
        use crate::cold::ColdStore;
        use crate::message_units::fixtures::FixedSummary;
        let mut m = session(6, 10);
        let mut stub = Message::user("[stub]", &C);
        stub.origin = Origin::Stub { handle: 3 };
        m.insert(2, stub.clone());
        let mut cold = ColdStore::default();
        let mut fixed = FixedSummary;
        let target = total_tokens(&m) / 2;
        let mut ctx = test_ctx(target, &mut cold, &mut fixed);
        let mut seen = Vec::new();
        for _ in 0..2 {
            summarize_oldest(&mut m, &mut ctx, 0, |previous, _, _| {
                seen.push(previous.map(str::to_owned));
                String::new()
            });
            m.extend(session(3, 10).split_off(2).into_iter().map(|mut x| {
                x.tool_call_id = x.tool_call_id.map(|id| format!("{id}'"));
                x.tool_calls.iter_mut().for_each(|c| c.id.push('\''));
                x
            }));
            ctx.target_tokens = total_tokens(&m) / 2;
        }
        assert_eq!(seen, vec![None, None], "an empty summary is not folded");
        assert_eq!(m[2].content, format!("{SUMMARY_PREFIX}{EMPTY_BODY}"));
        assert_eq!(m[3], stub);
        assert_eq!(ctx.work.summaries, 2);
        // A summary bigger than what it replaces is not written (the work still counts).
        let before = m.clone();
        summarize_oldest(&mut m, &mut ctx, 0, |_, _, _| "x".repeat(100_000));
        assert_eq!(m, before);
        assert_eq!(ctx.work.summaries, 3);
    }

    /// Random valid conversations through the three evicting strategies, with the real
    /// extractive summarizer (the shared property tests use a fixed one), twice each.
    mod random {
        use proptest::prelude::*;

        use super::*;
        use crate::cold::ColdStore;
        use crate::invariants::check_against;
        use crate::strategies::{Offload, RollingSummary, StructuredSummary};
        use crate::strategy::Strategy;
        use crate::summarize::Extractive;

        fn conversation(turns: &[(u8, u8)], system: bool, pending: bool) -> Vec<Message> {
            let mut m = Vec::new();
            if system {
                m.push(Message::system("You are an agent.", &C));
            }
            m.push(Message::user("Ship order QX7-4471-KP.", &C));
            for (t, &(kind, size)) in turns.iter().enumerate() {
                let text = format!("Note {t}: id ID{t:04}X. {}", "filler ".repeat(size.into()));
                match kind % 3 {
                    0 => m.push(Message::user(text, &C)),
                    1 => m.push(Message::assistant(text, vec![], &C)),
                    _ => {
                        let calls: Vec<_> = (0..=size % 3)
                            .map(|k| (format!("c{t}_{k}"), "grep", r#"{"q":"x"}"#, text.clone()))
                            .collect();
                        let refs: Vec<_> = calls
                            .iter()
                            .map(|(id, n, a, o)| (id.as_str(), *n, *a, o.as_str()))
                            .collect();
                        m.extend(round(&refs));
                    }
                }
            }
            if pending {
                m.push(Message::assistant(
                    "",
                    vec![crate::message_units::fixtures::call("p", "ls", "{}")],
                    &C,
                ));
            }
            m
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn invariants_one_summary_and_exact_recall(
                turns in prop::collection::vec((0u8..3, 0u8..60), 0..40),
                system in any::<bool>(),
                pending in any::<bool>(),
                fraction in 0.0..1.1f64,
                keep_first in 0usize..5,
            ) {
                let before = conversation(&turns, system, pending);
                let target = (total_tokens(&before) as f64 * fraction) as u64;
                // Each with whether it recalls what it evicts, exactly.
                let strategies: [(Box<dyn Strategy>, bool); 3] = [
                    (Box::new(RollingSummary { keep_first }), false),
                    (Box::new(StructuredSummary { keep_first, ..Default::default() }), false),
                    (Box::new(Offload { keep_first, ..Default::default() }), true),
                ];
                for (mut s, recalls) in strategies {
                    let mut cold = ColdStore::default();
                    let mut summarizer = Extractive::default();
                    let mut after = before.clone();
                    for _ in 0..2 {
                        let mut ctx = test_ctx(target, &mut cold, &mut summarizer);
                        let input = after.clone();
                        s.compress(&mut after, &mut ctx);
                        prop_assert_eq!(check_against(&input, &after), vec![], "{}", s.name());
                        prop_assert!(total_tokens(&after) <= total_tokens(&input));
                    }
                    let summaries = after.iter().filter(|m| m.origin == Origin::Summary).count();
                    prop_assert!(summaries <= 1, "{}: {} summaries", s.name(), summaries);
                    // Every stub brings its span back: expanding them all gives `before`.
                    let mut expanded = Vec::new();
                    for m in &after {
                        match m.origin {
                            Origin::Stub { handle } => expanded.extend(cold.get(handle).unwrap()),
                            _ => expanded.push(m.clone()),
                        }
                    }
                    if recalls {
                        prop_assert_eq!(&expanded, &before);
                    }
                }
            }
        }
    }
}
