//! `dedup`. Duplicate and superseded elision, for tool outputs:
//! - identical outputs (same content, found by hash): every earlier copy becomes a reference
//!   to the newest, `[same output as the later call <id>]` (references left by an earlier run
//!   are pointed on to the newest copy, so there are no chains);
//! - superseded reads: when a tool is called again with identical arguments (the same
//!   resource: `read_file` of one path, the same `grep`), every earlier output of that call is
//!   marked `[outdated: <tool> <arguments> was read again later]`.
//!
//! Both leave the message in place (the tool round stays valid) with origin
//! [`Origin::Reduced`], and only when the text is shorter than the output. Outputs already
//! reduced, summaries and stubs are not rewritten, so a second run changes nothing.
//! Arguments are compared as text; `ctx.target_tokens` is not read.
//!
//! From SWE-agent's `closed_window` history processor (replace superseded file-viewer windows)
//! and the "artifact trail" findings of Factory's evaluation (research doc §1, §7.6): what is
//! dropped is exactly what a later message repeats.
//!
//! Parameters: none.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use scenario::StrategyName;

use crate::message::{Message, Origin, Role, ToolCall};
use crate::message_units::{reduce, replace_if};
use crate::strategy::{Ctx, Strategy};

/// `dedup`.
#[derive(Clone, Debug, Default)]
pub struct Dedup {}

impl Strategy for Dedup {
    fn name(&self) -> &'static str {
        StrategyName::Dedup.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        for (i, rewrite) in plan(messages) {
            let m = &mut messages[i];
            match rewrite {
                Rewrite::Reduce(text) => {
                    reduce(m, text, ctx.counter);
                }
                Rewrite::Redirect(text) => {
                    replace_if(m, text, ctx.counter, |new, old| new <= old);
                }
            }
        }
    }
}

/// What to do to one output.
enum Rewrite {
    /// Replace an original output by this reference or mark.
    Reduce(String),
    /// Point a reference left by an earlier run at the newest copy.
    Redirect(String),
}

const SAME: &str = "[same output as the later call ";

fn same_as(id: &str) -> String {
    format!("{SAME}{id}]")
}

/// The call id a reference made by [`same_as`] names.
fn referenced(content: &str) -> Option<&str> {
    content.strip_prefix(SAME)?.strip_suffix(']')
}

fn outdated(call: &ToolCall) -> String {
    let args = match call.arguments.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &call.arguments[..end]),
        None => call.arguments.clone(),
    };
    format!("[outdated: {} {args} was read again later]", call.name)
}

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// The rewrites, found walking the tool outputs from the newest back.
fn plan(messages: &[Message]) -> Vec<(usize, Rewrite)> {
    let calls: HashMap<&str, &ToolCall> = messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .map(|c| (c.id.as_str(), c))
        .collect();
    // Content hash → the newest original output with that content (and an id to name).
    let mut newest: HashMap<u64, usize> = HashMap::new();
    // (tool, arguments) of the calls answered later than the output at hand.
    let mut later: HashSet<(&str, &str)> = HashSet::new();
    // Id of an output that is (or now becomes) a reference → the id of the newest copy.
    let mut redirect: HashMap<&str, &str> = HashMap::new();
    let mut plan = Vec::new();
    let outputs = messages.iter().enumerate().rev();
    for (i, m) in outputs.filter(|(_, m)| m.role == Role::Tool) {
        let id = m.tool_call_id.as_deref();
        let call = id.and_then(|id| calls.get(id));
        match m.origin {
            Origin::Original => {
                let h = hash(&m.content);
                let copy = newest
                    .get(&h)
                    .map(|&j| &messages[j])
                    .filter(|n| n.content == m.content)
                    .and_then(|n| n.tool_call_id.as_deref());
                if let Some(target) = copy {
                    plan.push((i, Rewrite::Reduce(same_as(target))));
                    if let Some(id) = id {
                        redirect.insert(id, target);
                    }
                } else if let Some(c) = call
                    && later.contains(&(c.name.as_str(), c.arguments.as_str()))
                {
                    plan.push((i, Rewrite::Reduce(outdated(c))));
                } else if id.is_some() {
                    newest.entry(h).or_insert(i);
                }
            }
            Origin::Reduced { .. } => {
                if let Some(target) = referenced(&m.content)
                    && let Some(&last) = redirect.get(target)
                {
                    plan.push((i, Rewrite::Redirect(same_as(last))));
                    if let Some(id) = id {
                        redirect.insert(id, last);
                    }
                }
            }
            Origin::Summary | Origin::Stub { .. } => {}
        }
        if let Some(c) = call {
            later.insert((c.name.as_str(), c.arguments.as_str()));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{C, lines, round, run, run_with, session};
    use crate::tokens::TokenCounter;

    const A: &str = r#"{"path":"src/a.rs"}"#;
    const B: &str = r#"{"path":"src/b.rs"}"#;

    fn convo(rounds: &[(&str, &str, &str, &str)]) -> Vec<Message> {
        let mut m = session(0, 0);
        for r in rounds {
            m.extend(round(&[*r]));
            m.push(Message::user("next", &C));
        }
        m
    }

    fn contents(m: &[Message]) -> Vec<&str> {
        let tools = m.iter().filter(|m| m.role == Role::Tool);
        tools.map(|m| m.content.as_str()).collect()
    }

    #[test]
    fn identical_outputs_point_to_the_newest() {
        let out = lines("grep", 20);
        let before = convo(&[
            ("c1", "grep", "{\"q\":\"x\"}", &out),
            ("c2", "read_file", B, "fn b() {}\n".repeat(20).as_str()),
            ("c3", "grep", "{\"q\":\"y\"}", &out),
            ("c4", "grep", "{\"q\":\"z\"}", &out),
        ]);
        let after = run(&mut Dedup::default(), &before, 0);
        let c = contents(&after);
        assert_eq!(c[0], "[same output as the later call c4]");
        assert_eq!(c[2], "[same output as the later call c4]");
        assert_eq!((c[1], c[3]), (contents(&before)[1], out.as_str()));
        assert_eq!(
            after[3].origin,
            Origin::Reduced {
                original_tokens: C.count(&out)
            }
        );
        // Idempotent; a newer copy later takes over every reference.
        assert_eq!(run(&mut Dedup::default(), &after, 0), after);
        let mut longer = after;
        longer.extend(round(&[("c5", "grep", "{}", &out)]));
        let again = run(&mut Dedup::default(), &longer, 0);
        let c = contents(&again);
        let to_c5 = "[same output as the later call c5]";
        assert_eq!([c[0], c[2], c[3]], [to_c5; 3]);
    }

    #[test]
    fn rereads_mark_earlier_outputs_outdated() {
        let before = convo(&[
            ("c1", "read_file", A, &lines("a v1", 10)),
            ("c2", "read_file", B, &lines("b", 10)),
            ("c3", "read_file", A, &lines("a v2", 10)),
        ]);
        let after = run(&mut Dedup::default(), &before, 0);
        let c = contents(&after);
        assert_eq!(
            c[0],
            r#"[outdated: read_file {"path":"src/a.rs"} was read again later]"#
        );
        assert_eq!(c[1..], contents(&before)[1..]);
        assert_eq!(run(&mut Dedup::default(), &after, 0), after);
        // Same call and same output: the reference to the newer copy wins.
        let same = convo(&[
            ("c1", "read_file", A, &lines("a", 10)),
            ("c2", "read_file", A, &lines("a", 10)),
        ]);
        let c = run(&mut Dedup::default(), &same, 0);
        assert_eq!(contents(&c)[0], "[same output as the later call c2]");
    }

    #[test]
    fn leaves_short_and_odd_outputs_alone() {
        let before = convo(&[("c1", "ls", "{}", "ok"), ("c2", "ls", "{}", "ok")]);
        assert_eq!(run(&mut Dedup::default(), &before, 0), before);
        let long_args = format!("{{\"path\":\"{}\"}}", "d/".repeat(100));
        let text = outdated(&crate::message_units::fixtures::call(
            "x",
            "read_file",
            &long_args,
        ));
        assert!(text.len() < 140 && text.contains("..."));
        let odd = vec![
            Message::tool("z", "ls", lines("z", 9), &C),
            Message::tool("z", "ls", lines("z", 9), &C),
            Message::user("hi", &C),
        ];
        let _ = run_with(&mut Dedup::default(), &odd, 0, &C);
        assert!(run(&mut Dedup::default(), &[], 0).is_empty());
    }
}
