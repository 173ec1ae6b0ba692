//! `supersede`. Same call, newer answer: when a tool is called again with the same name and
//! the same arguments (compared as text) in a later assistant message, and that later call has
//! returned, every earlier output of the call becomes
//! `[superseded: <tool> <arguments> was called again later]`, whether or not the output
//! changed. The newer output is taken to be the current state of the resource (a file read
//! after an edit, a test run after a fix), so the older one goes.
//!
//! Lossy, unlike `dedup`: an earlier output that differs from the newer one may hold facts the
//! newer one no longer says (the file before the edit, the first failure that was then fixed);
//! they are lost. Calls made together in one assistant message do not supersede each other,
//! and a call still waiting for its output supersedes nothing. The newest output of every call
//! stays whole, so the newest unit of the conversation is never cut.
//!
//! The message stays in place (the tool round stays valid) with origin [`Origin::Reduced`],
//! and only when the placeholder is shorter than the output. Outputs already reduced,
//! summaries and stubs are not rewritten, so a second run changes nothing.
//! `ctx.target_tokens` is not read.
//!
//! From SWE-agent's `closed_window` history processor, which replaces superseded file-viewer
//! windows (research doc §1).
//!
//! Parameters: none.

use std::collections::HashMap;

use scenario::StrategyName;

use crate::message::{Message, Origin, Role, ToolCall};
use crate::message_units::reduce;
use crate::strategy::{Ctx, Strategy};

/// `supersede`.
#[derive(Clone, Debug, Default)]
pub struct Supersede {}

impl Strategy for Supersede {
    fn name(&self) -> &'static str {
        StrategyName::Supersede.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        for (i, text) in plan(messages) {
            reduce(&mut messages[i], text, ctx.counter);
        }
    }
}

/// The placeholder of an output that a later output of `call` supersedes.
fn superseded(call: &ToolCall) -> String {
    let args = match call.arguments.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &call.arguments[..end]),
        None => call.arguments.clone(),
    };
    format!("[superseded: {} {args} was called again later]", call.name)
}

/// The outputs to replace, with their placeholders, found walking the outputs from the newest
/// back.
fn plan(messages: &[Message]) -> Vec<(usize, String)> {
    // Call id → the call and the index of the assistant message that made it.
    let calls: HashMap<&str, (&ToolCall, usize)> = messages
        .iter()
        .enumerate()
        .flat_map(|(i, m)| m.tool_calls.iter().map(move |c| (c.id.as_str(), (c, i))))
        .collect();
    // (tool, arguments) → the assistant message of the newest call that returned.
    let mut newest: HashMap<(&str, &str), usize> = HashMap::new();
    let mut plan = Vec::new();
    let outputs = messages.iter().enumerate().rev();
    for (i, m) in outputs.filter(|(_, m)| m.role == Role::Tool) {
        let Some(&(call, made_in)) = m.tool_call_id.as_deref().and_then(|id| calls.get(id)) else {
            continue;
        };
        let key = (call.name.as_str(), call.arguments.as_str());
        let latest = newest.entry(key).or_insert(made_in);
        *latest = (*latest).max(made_in);
        if *latest > made_in && m.origin == Origin::Original {
            plan.push((i, superseded(call)));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{
        C, call, lines, round, rounds_then_next, run, run_with, session, tool_contents,
    };

    const A: &str = r#"{"path":"src/a.rs"}"#;
    const B: &str = r#"{"path":"src/b.rs"}"#;

    const OUTDATED_A: &str =
        r#"[superseded: read_file {"path":"src/a.rs"} was called again later]"#;

    #[test]
    fn a_reread_supersedes_the_earlier_output_even_when_it_changed() {
        let v1 = format!("{}\nFACT-v1 only here", lines("a v1", 10));
        let before = rounds_then_next(&[
            ("c1", "read_file", A, &v1),
            ("c2", "read_file", B, &lines("b", 10)),
            ("c3", "read_file", A, &lines("a v2", 10)),
        ]);
        let after = run(&mut Supersede::default(), &before, 0);
        let c = tool_contents(&after);
        assert_eq!(c[0], OUTDATED_A);
        assert_eq!(c[1..], tool_contents(&before)[1..]);
        assert!(matches!(after[3].origin, Origin::Reduced { .. }));
        // Lossy: the fact only the first read held is gone (dedup keeps it).
        assert!(!after.iter().any(|m| m.content.contains("FACT-v1")));
        assert_eq!(run(&mut Supersede::default(), &after, 0), after);
        // A third read: the second is superseded too, the first placeholder stays as it is.
        let mut longer = after;
        longer.extend(round(&[("c4", "read_file", A, &lines("a v3", 10))]));
        let again = run(&mut Supersede::default(), &longer, 0);
        let c = tool_contents(&again);
        assert_eq!([c[0], c[2]], [OUTDATED_A; 2]);
        assert_eq!(
            (c[1], c[3]),
            (lines("b", 10).as_str(), lines("a v3", 10).as_str())
        );
    }

    #[test]
    fn other_arguments_calls_made_together_and_pending_calls_supersede_nothing() {
        // Same tool, other arguments.
        let before = rounds_then_next(&[
            ("c1", "read_file", A, &lines("a", 10)),
            ("c2", "read_file", B, &lines("b", 10)),
        ]);
        assert_eq!(run(&mut Supersede::default(), &before, 0), before);
        // The same call twice in one assistant message: neither is later.
        let mut together = session(0, 0);
        together.extend(round(&[
            ("c1", "read_file", A, &lines("x", 10)),
            ("c2", "read_file", A, &lines("y", 10)),
        ]));
        assert_eq!(run(&mut Supersede::default(), &together, 0), together);
        // A later call without its output yet.
        let mut pending = rounds_then_next(&[("c1", "read_file", A, &lines("a", 10))]);
        pending.push(Message::assistant("", vec![call("c2", "read_file", A)], &C));
        assert_eq!(run(&mut Supersede::default(), &pending, 0), pending);
    }

    #[test]
    fn leaves_short_and_odd_outputs_alone() {
        let before = rounds_then_next(&[("c1", "ls", "{}", "ok"), ("c2", "ls", "{}", "ok")]);
        assert_eq!(run(&mut Supersede::default(), &before, 0), before);
        let long_args = format!("{{\"path\":\"{}\"}}", "d/".repeat(100));
        let text = superseded(&call("x", "read_file", &long_args));
        assert!(text.len() < 150 && text.contains("..."), "{text}");
        let odd = vec![
            Message::tool("z", "ls", lines("z", 9), &C),
            Message::tool("z", "ls", lines("z", 9), &C),
            Message::user("hi", &C),
        ];
        assert_eq!(run_with(&mut Supersede::default(), &odd, 0, &C), odd);
        assert!(run(&mut Supersede::default(), &[], 0).is_empty());
    }
}
