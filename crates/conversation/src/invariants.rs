//! What no strategy may break: the system message and the first user message are kept, the
//! newest unit stays (the result the model just asked for), every tool result stays with its
//! tool call (no orphan results, no unanswered calls before the last assistant message), ids
//! are unique, and roles come in a legal order.

use std::collections::HashSet;
use std::fmt;

use crate::message::{Message, Origin, Role};
use crate::message_units::units;

/// A broken invariant, naming the message by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The conversation opened with a system message and lost it, or it moved.
    SystemLost,
    /// The first user message of the original is gone (`first_user` is its content).
    FirstUserLost,
    /// A tool message answers no earlier tool call.
    OrphanResult { index: usize, id: String },
    /// A tool call has no result, and a later message follows (only the newest assistant
    /// message may still wait for its results).
    UnansweredCall { index: usize, id: String },
    /// Two tool calls (or two results) share an id.
    DuplicateId { index: usize, id: String },
    /// A tool result is separated from its call by a user or system message.
    SplitPair { index: usize, id: String },
    /// A system message after the first position.
    SystemNotFirst { index: usize },
    /// The newest unit of the original (its last tool round with every result, or its last
    /// message), starting at message `index` there, is not the end of the compressed list.
    NewestLost { index: usize },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::SystemLost => write!(f, "the system message was removed or moved"),
            Violation::FirstUserLost => write!(f, "the first user message was removed"),
            Violation::OrphanResult { index, id } => {
                write!(f, "message {index}: tool result `{id}` answers no call")
            }
            Violation::UnansweredCall { index, id } => {
                write!(f, "message {index}: tool call `{id}` has no result")
            }
            Violation::DuplicateId { index, id } => {
                write!(f, "message {index}: id `{id}` is used twice")
            }
            Violation::SplitPair { index, id } => {
                write!(
                    f,
                    "message {index}: tool result `{id}` is separated from its call"
                )
            }
            Violation::SystemNotFirst { index } => {
                write!(f, "message {index}: a system message after the first")
            }
            Violation::NewestLost { index } => write!(
                f,
                "message {index}: the newest tool round or message (what the model just asked \
                 for) was dropped or rewritten"
            ),
        }
    }
}

/// Checks `messages` on their own (pairing, ids, order).
pub fn check(messages: &[Message]) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut call_ids = HashSet::new();
    let mut result_ids = HashSet::new();
    // Calls of the current tool round, waiting for results.
    let mut open: Vec<(usize, String)> = Vec::new();
    for (index, m) in messages.iter().enumerate() {
        match m.role {
            Role::System if index > 0 => v.push(Violation::SystemNotFirst { index }),
            Role::System => {}
            Role::Tool => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                if !result_ids.insert(id.clone()) {
                    v.push(Violation::DuplicateId {
                        index,
                        id: id.clone(),
                    });
                }
                if let Some(pos) = open.iter().position(|(_, open_id)| *open_id == id) {
                    open.remove(pos);
                } else if call_ids.contains(&id) {
                    v.push(Violation::SplitPair { index, id });
                } else {
                    v.push(Violation::OrphanResult { index, id });
                }
            }
            Role::User | Role::Assistant => {
                for (at, id) in open.drain(..) {
                    v.push(Violation::UnansweredCall { index: at, id });
                }
                for call in &m.tool_calls {
                    if !call_ids.insert(call.id.clone()) {
                        v.push(Violation::DuplicateId {
                            index,
                            id: call.id.clone(),
                        });
                    }
                    open.push((index, call.id.clone()));
                }
            }
        }
    }
    v
}

/// Checks `after` against the conversation it was compressed from: everything [`check`] does,
/// plus the system message and the first user message kept in place and the newest unit kept
/// at the end.
pub fn check_against(before: &[Message], after: &[Message]) -> Vec<Violation> {
    let mut v = check(after);
    if let Some(first) = before.first().filter(|m| m.role == Role::System)
        && after
            .first()
            .is_none_or(|m| m.role != Role::System || m.content != first.content)
    {
        v.push(Violation::SystemLost);
    }
    if let Some(user) = before.iter().find(|m| m.role == Role::User)
        && !after
            .iter()
            .any(|m| m.role == Role::User && m.content == user.content)
    {
        v.push(Violation::FirstUserLost);
    }
    if let Some(index) = newest_lost(before, after) {
        v.push(Violation::NewestLost { index });
    }
    v
}

/// Where the newest unit of `before` starts, if `after` does not end with it. Within it, a tool
/// result may have been reduced in place (masked, clipped, deduplicated: the message and its
/// pairing stay, [`Origin::Reduced`] records the cut); any other change counts as lost. Only
/// the newest unit is checked: dropping older ones is what selections are for.
fn newest_lost(before: &[Message], after: &[Message]) -> Option<usize> {
    let newest = units(before).pop()?.range;
    let kept = after
        .len()
        .checked_sub(newest.len())
        .map(|from| &after[from..]);
    let same = |b: &Message, a: &Message| {
        a == b
            || (matches!(a.origin, Origin::Reduced { .. })
                && a.role == b.role
                && a.tool_call_id == b.tool_call_id
                && a.tool_calls == b.tool_calls)
    };
    let whole = kept.is_some_and(|kept| {
        before[newest.clone()]
            .iter()
            .zip(kept)
            .all(|(b, a)| same(b, a))
    });
    (!whole).then_some(newest.start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;
    use crate::tokens::CharsPerToken;

    const C: CharsPerToken = CharsPerToken(4.0);

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.to_owned(),
            name: "search".to_owned(),
            arguments: "{}".to_owned(),
        }
    }

    fn convo() -> Vec<Message> {
        vec![
            Message::system("be brief", &C),
            Message::user("find the order", &C),
            Message::assistant("", vec![call("a"), call("b")], &C),
            Message::tool("a", "search", "found A", &C),
            Message::tool("b", "search", "found B", &C),
            Message::assistant("done", vec![], &C),
        ]
    }

    #[test]
    fn a_valid_conversation_passes() {
        assert_eq!(check(&convo()), vec![]);
        assert_eq!(check_against(&convo(), &convo()), vec![]);
        // The newest assistant message may still wait for its results.
        assert_eq!(check(&convo()[..3]), vec![]);
    }

    #[test]
    fn each_violation_is_caught() {
        let c = convo();
        let mut orphan = c.clone();
        orphan.remove(2);
        assert!(matches!(
            check(&orphan)[0],
            Violation::OrphanResult { index: 2, .. }
        ));
        let mut unanswered = c.clone();
        unanswered.remove(4);
        assert!(matches!(
            check(&unanswered)[0],
            Violation::UnansweredCall { index: 2, .. }
        ));
        let mut split = c.clone();
        split.insert(4, Message::user("hi", &C));
        assert!(
            check(&split)
                .iter()
                .any(|v| matches!(v, Violation::SplitPair { .. }))
        );
        let mut late_system = c.clone();
        late_system.push(Message::system("again", &C));
        assert!(check(&late_system).contains(&Violation::SystemNotFirst { index: 6 }));
        assert!(check_against(&c, &c[1..]).contains(&Violation::SystemLost));
        let mut no_user = c.clone();
        no_user.remove(1);
        assert!(check_against(&c, &no_user).contains(&Violation::FirstUserLost));
        let mut dup = c;
        dup.push(Message::assistant("", vec![call("a")], &C));
        assert!(
            check(&dup)
                .iter()
                .any(|v| matches!(v, Violation::DuplicateId { .. }))
        );
    }

    #[test]
    fn the_newest_unit_must_stay() {
        let c = convo();
        // The newest unit is the final assistant message; dropping it, or the round before
        // it once that round is the newest, is caught.
        assert_eq!(
            check_against(&c, &c[..5]),
            vec![Violation::NewestLost { index: 5 }]
        );
        let round = &c[..5];
        assert_eq!(
            check_against(round, &c[..2]),
            vec![Violation::NewestLost { index: 2 }]
        );
        // Half a round is not the round (the pairing invariant fires too).
        assert!(check_against(round, &c[..4]).contains(&Violation::NewestLost { index: 2 }));
        // Its outputs may be reduced in place (masked, clipped); not otherwise rewritten.
        let mut masked = round.to_vec();
        masked[4].content = "[output of search omitted: 2 tokens]".to_owned();
        masked[4].origin = crate::message::Origin::Reduced { original_tokens: 2 };
        assert_eq!(check_against(round, &masked), vec![]);
        masked[4].origin = crate::message::Origin::Original;
        assert!(check_against(round, &masked).contains(&Violation::NewestLost { index: 2 }));
        // A middle that goes is no concern of this invariant; nothing to lose, nothing caught.
        let mut middle = c.clone();
        middle.drain(2..5);
        assert_eq!(check_against(&c, &middle), vec![]);
        assert_eq!(check_against(&[], &[]), vec![]);
    }
}
