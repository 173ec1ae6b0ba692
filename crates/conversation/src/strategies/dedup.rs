//! `dedup`. Duplicate elision, for tool outputs: when a later output has exactly the same
//! text (found by hash, then compared), every earlier copy becomes a reference to the newest,
//! `[same output as the later call <id>]` (references left by an earlier run are pointed on to
//! the newest copy, so there are no chains). The calls may differ (two greps finding the same
//! lines) or be the same (a file read twice, unchanged). An output that differs from every
//! later one stays whole, even when the same call with the same arguments came again: a file
//! read before and after an edit holds what the second read no longer says, so "superseded"
//! is not "repeated" and dedup does not outdate it.
//!
//! The message stays in place (the tool round stays valid) with origin [`Origin::Reduced`],
//! and only when the reference is shorter than the output. Outputs already reduced, summaries
//! and stubs are not rewritten, so a second run changes nothing. `ctx.target_tokens` is not
//! read.
//!
//! From SWE-agent's `closed_window` history processor and the "artifact trail" findings of
//! Factory's evaluation (research doc §1, §7.6), narrowed to what is lossless: what is dropped
//! is exactly what a later message repeats.
//!
//! Parameters: none.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use scenario::StrategyName;

use crate::message::{Message, Origin, Role};
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

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// The rewrites, found walking the tool outputs from the newest back.
fn plan(messages: &[Message]) -> Vec<(usize, Rewrite)> {
    // Content hash → the newest original output with that content (and an id to name).
    let mut newest: HashMap<u64, usize> = HashMap::new();
    // Id of an output that is (or now becomes) a reference → the id of the newest copy.
    let mut redirect: HashMap<&str, &str> = HashMap::new();
    let mut plan = Vec::new();
    let outputs = messages.iter().enumerate().rev();
    for (i, m) in outputs.filter(|(_, m)| m.role == Role::Tool) {
        let id = m.tool_call_id.as_deref();
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
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{
        C, lines, round, rounds_then_next, run, run_with, tool_contents,
    };
    use crate::tokens::TokenCounter;

    const A: &str = r#"{"path":"src/a.rs"}"#;
    const B: &str = r#"{"path":"src/b.rs"}"#;

    #[test]
    fn identical_outputs_point_to_the_newest() {
        let out = lines("grep", 20);
        let before = rounds_then_next(&[
            ("c1", "grep", "{\"q\":\"x\"}", &out),
            ("c2", "read_file", B, "fn b() {}\n".repeat(20).as_str()),
            ("c3", "grep", "{\"q\":\"y\"}", &out),
            ("c4", "grep", "{\"q\":\"z\"}", &out),
        ]);
        let after = run(&mut Dedup::default(), &before, 0);
        let c = tool_contents(&after);
        assert_eq!(c[0], "[same output as the later call c4]");
        assert_eq!(c[2], "[same output as the later call c4]");
        assert_eq!((c[1], c[3]), (tool_contents(&before)[1], out.as_str()));
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
        let c = tool_contents(&again);
        let to_c5 = "[same output as the later call c5]";
        assert_eq!([c[0], c[2], c[3]], [to_c5; 3]);
    }

    #[test]
    fn a_reread_with_a_changed_output_keeps_both() {
        // The file changed between the reads: the first output says something the second
        // does not (a fact only it holds), so neither is a copy and both stay whole.
        let before = rounds_then_next(&[
            (
                "c1",
                "read_file",
                A,
                &format!("{}\nFACT-v1 only here", lines("a v1", 10)),
            ),
            ("c2", "read_file", B, &lines("b", 10)),
            ("c3", "read_file", A, &lines("a v2", 10)),
        ]);
        assert_eq!(run(&mut Dedup::default(), &before, 0), before);
        // Same call and same output: the earlier one becomes a reference to the newer copy.
        let same = rounds_then_next(&[
            ("c1", "read_file", A, &lines("a", 10)),
            ("c2", "read_file", A, &lines("a", 10)),
        ]);
        let after = run(&mut Dedup::default(), &same, 0);
        assert_eq!(
            tool_contents(&after),
            ["[same output as the later call c2]", &lines("a", 10)]
        );
        assert_eq!(run(&mut Dedup::default(), &after, 0), after);
    }

    #[test]
    fn leaves_short_and_odd_outputs_alone() {
        let before = rounds_then_next(&[("c1", "ls", "{}", "ok"), ("c2", "ls", "{}", "ok")]);
        assert_eq!(run(&mut Dedup::default(), &before, 0), before);
        let odd = vec![
            Message::tool("z", "ls", lines("z", 9), &C),
            Message::tool("z", "ls", lines("z", 9), &C),
            Message::user("hi", &C),
        ];
        let _ = run_with(&mut Dedup::default(), &odd, 0, &C);
        assert!(run(&mut Dedup::default(), &[], 0).is_empty());
    }
}
