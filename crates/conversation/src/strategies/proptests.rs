//! Property tests over every built-in strategy (by name, through [`super::strategy`], so a
//! strategy added to [`StrategyName::ALL`] is covered as it lands) and random two-stage
//! pipelines: on random valid conversations and random targets, no invariant breaks (the
//! newest unit kept among them, whatever the target and `keep_last`, `mask_keep_last`,
//! `clip_tokens` down to 0) and no tokens are added; the strategies that should be idempotent
//! are; `dedup` drops only what a later output repeats; `supersede` drops only outputs of a
//! call made again later that returned.

use proptest::prelude::*;

use scenario::StrategyName;

use super::strategy;
use crate::invariants::{check, check_against};
use crate::message::{Message, Role};
use crate::message_units::fixtures::{call, compress};
use crate::strategy::{Pipeline, total_tokens};
use crate::tokens::{CharsPerToken, Tiktoken, TokenCounter};

const TOOLS: [&str; 4] = ["read_file", "grep", "run_tests", "ls"];
const ARGS: [&str; 3] = [
    r#"{"path":"src/lib.rs"}"#,
    r#"{"path":"src/main.rs"}"#,
    "{}",
];
/// Outputs drawn from a small set, so duplicates happen.
const CANNED: [&str; 4] = [
    "ok",
    "error[E0308]: mismatched types\n  --> src/lib.rs:10:5\n   expected `u32`, found `i64`",
    "test result: ok. 12 passed; 0 failed; 0 ignored",
    "src/lib.rs\nsrc/main.rs\nCargo.toml\nREADME.md",
];

/// A tool output: a canned one, or `lines` lines of text varied by `seed`.
#[derive(Clone, Debug)]
enum Output {
    Canned(usize),
    Lines { lines: usize, seed: u16 },
}

/// One step after the first user message.
#[derive(Clone, Debug)]
enum Turn {
    User(usize),
    Text(usize),
    /// An assistant message calling tools (tool, arguments, output), then their results.
    Tools(Vec<(usize, usize, Output)>),
}

/// A conversation to build: with a system message or not, the turns, and how many calls the
/// last assistant message leaves waiting (0: none).
#[derive(Clone, Debug)]
struct Plan {
    system: bool,
    turns: Vec<Turn>,
    pending: usize,
}

fn output(max_lines: usize) -> impl Strategy<Value = Output> {
    prop_oneof![
        3 => (0..CANNED.len()).prop_map(Output::Canned),
        2 => (1..max_lines, any::<u16>()).prop_map(|(lines, seed)| Output::Lines { lines, seed }),
    ]
}

fn plan(max_turns: usize, max_lines: usize) -> impl Strategy<Value = Plan> {
    let calls = prop::collection::vec((0..TOOLS.len(), 0..ARGS.len(), output(max_lines)), 1..4);
    let turn = prop_oneof![
        1 => (1..60usize).prop_map(Turn::User),
        1 => (1..60usize).prop_map(Turn::Text),
        3 => calls.prop_map(Turn::Tools),
    ];
    (
        any::<bool>(),
        prop::collection::vec(turn, 0..max_turns),
        0..3usize,
    )
        .prop_map(|(system, turns, pending)| Plan {
            system,
            turns,
            pending,
        })
}

fn text(words: usize, seed: usize) -> String {
    (0..words)
        .map(|i| format!("w{}", (i * 7 + seed) % 97))
        .collect::<Vec<_>>()
        .join(" ")
}

fn build(plan: &Plan, counter: &dyn TokenCounter) -> Vec<Message> {
    let mut m = Vec::new();
    if plan.system {
        m.push(Message::system(
            "You are a coding agent. Be brief.",
            counter,
        ));
    }
    m.push(Message::user("Make the tests pass.", counter));
    let mut next_id = 0;
    let mut new_call = |tool: usize, args: usize| {
        next_id += 1;
        call(&format!("call_{next_id}"), TOOLS[tool], ARGS[args])
    };
    for (t, turn) in plan.turns.iter().enumerate() {
        match turn {
            Turn::User(words) => m.push(Message::user(text(*words, t), counter)),
            Turn::Text(words) => m.push(Message::assistant(text(*words, t), vec![], counter)),
            Turn::Tools(made) => {
                let calls: Vec<_> = made
                    .iter()
                    .map(|(tool, args, _)| new_call(*tool, *args))
                    .collect();
                m.push(Message::assistant("", calls.clone(), counter));
                for (c, (_, _, out)) in calls.iter().zip(made) {
                    let content = match out {
                        Output::Canned(i) => CANNED[*i].to_owned(),
                        Output::Lines { lines, seed } => (0..*lines)
                            .map(|l| format!("{seed}:{l} {}", text(6, l + usize::from(*seed))))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    };
                    m.push(Message::tool(&c.id, &c.name, content, counter));
                }
            }
        }
    }
    if plan.pending > 0 {
        let calls = (0..plan.pending).map(|i| new_call(i, i)).collect();
        m.push(Message::assistant("Checking.", calls, counter));
    }
    m
}

fn config() -> impl Strategy<Value = scenario::Compression> {
    (0..6u32, 0..15u32, 0..6u32, 0..300u32).prop_map(|(keep_first, keep_last, mask, clip)| {
        scenario::Compression {
            keep_first,
            keep_last,
            mask_keep_last: mask,
            clip_tokens: clip,
            ..scenario::Compression::default()
        }
    })
}

/// Runs the named stages as a pipeline and checks the result against `before`.
fn check_pipeline(
    names: &[StrategyName],
    c: &scenario::Compression,
    before: &[Message],
    target: u64,
    counter: &dyn TokenCounter,
) -> Result<Vec<Message>, TestCaseError> {
    let stages = names.iter().map(|&n| strategy(c.stage(n)));
    let mut pipeline = Pipeline {
        stages: stages.collect(),
    };
    let after = compress(before, target, counter, |m, ctx| pipeline.compress(m, ctx));
    let name = pipeline.name();
    let violations = check_against(before, &after);
    prop_assert!(violations.is_empty(), "{name}: {violations:?}");
    // A summary message may cost more than the few messages it replaces in a tiny
    // conversation, so summaries are exempt from "never more tokens".
    let summarizes = |n: &StrategyName| {
        matches!(
            n,
            StrategyName::RollingSummary | StrategyName::StructuredSummary
        )
    };
    if !names.iter().any(summarizes) {
        let (b, a) = (total_tokens(before), total_tokens(&after));
        prop_assert!(a <= b, "{name}: {b} tokens became {a}");
    }
    Ok(after)
}

/// `dedup` is lossless: every output it rewrote is now a reference to a later output that still
/// holds the same text.
fn dedup_is_lossless(before: &[Message], after: &[Message]) -> Result<(), TestCaseError> {
    prop_assert_eq!(before.len(), after.len(), "dedup rewrites in place");
    for (b, a) in before.iter().zip(after).filter(|(b, a)| a != b) {
        let target = a
            .content
            .strip_prefix("[same output as the later call ")
            .and_then(|t| t.strip_suffix(']'));
        let copy = after
            .iter()
            .find(|m| m.role == Role::Tool && m.tool_call_id.as_deref() == target);
        prop_assert!(
            copy.is_some_and(|c| c.content == b.content),
            "dedup lost {:?} (now {:?})",
            b.content,
            a.content
        );
    }
    Ok(())
}

/// `supersede` rewrites only outputs of a call that a later assistant message made again (same
/// tool, same arguments) and whose output is there, whole or reduced.
fn supersede_only_outdates(before: &[Message], after: &[Message]) -> Result<(), TestCaseError> {
    prop_assert_eq!(before.len(), after.len(), "supersede rewrites in place");
    let made_in = |id: Option<&str>| {
        before.iter().enumerate().find_map(|(i, m)| {
            let c = m.tool_calls.iter().find(|c| Some(c.id.as_str()) == id)?;
            Some((i, c))
        })
    };
    for (b, a) in before.iter().zip(after).filter(|(b, a)| a != b) {
        let (i, c) = made_in(b.tool_call_id.as_deref()).expect("a rewritten output has its call");
        let prefix = format!("[superseded: {} ", c.name);
        prop_assert!(a.content.starts_with(&prefix), "{:?}", a.content);
        let later = before.iter().filter(|m| m.role == Role::Tool).any(|m| {
            made_in(m.tool_call_id.as_deref())
                .is_some_and(|(j, d)| j > i && d.name == c.name && d.arguments == c.arguments)
        });
        prop_assert!(
            later,
            "supersede outdated {:?} with no later call",
            b.content
        );
    }
    Ok(())
}

fn any_name() -> impl Strategy<Value = StrategyName> {
    prop::sample::select(&StrategyName::ALL[..])
}

/// Strategies whose second run, with the same target, changes nothing.
const IDEMPOTENT: [StrategyName; 8] = [
    StrategyName::None,
    StrategyName::Window,
    StrategyName::TokenBudget,
    StrategyName::ObservationMasking,
    StrategyName::Clip,
    StrategyName::Dedup,
    StrategyName::Supersede,
    StrategyName::Amortized,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn every_strategy_keeps_the_invariants(
        plan in plan(40, 300),
        c in config(),
        fraction in 0.0..1.2f64,
    ) {
        let before = build(&plan, &CharsPerToken(4.0));
        prop_assert_eq!(check(&before), vec![], "the generator makes valid conversations");
        let target = (total_tokens(&before) as f64 * fraction) as u64;
        for name in StrategyName::ALL {
            let after = check_pipeline(&[name], &c, &before, target, &CharsPerToken(4.0))?;
            if name == StrategyName::Dedup {
                dedup_is_lossless(&before, &after)?;
            }
            if name == StrategyName::Supersede {
                supersede_only_outdates(&before, &after)?;
            }
            if IDEMPOTENT.contains(&name) {
                let again = check_pipeline(&[name], &c, &after, target, &CharsPerToken(4.0))?;
                prop_assert_eq!(again, after, "{} is idempotent", name);
            }
        }
    }

    #[test]
    fn pipelines_keep_the_invariants(
        plan in plan(40, 300),
        c in config(),
        fraction in 0.0..1.2f64,
        pairs in prop::collection::vec((any_name(), any_name()), 1..4),
    ) {
        let before = build(&plan, &CharsPerToken(4.0));
        let target = (total_tokens(&before) as f64 * fraction) as u64;
        for (a, b) in pairs {
            check_pipeline(&[a, b], &c, &before, target, &CharsPerToken(4.0))?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn every_strategy_keeps_the_invariants_under_o200k(
        plan in plan(16, 120),
        c in config(),
        fraction in 0.0..1.2f64,
    ) {
        let before = build(&plan, &Tiktoken::O200k);
        let target = (total_tokens(&before) as f64 * fraction) as u64;
        for name in StrategyName::ALL {
            check_pipeline(&[name], &c, &before, target, &Tiktoken::O200k)?;
        }
    }
}

#[test]
fn odd_inputs_do_not_panic() {
    let counter = CharsPerToken(4.0);
    let inputs = [
        vec![],
        vec![Message::system("only", &counter)],
        vec![Message::tool("x", "ls", "no call", &counter)],
        vec![
            Message::user("a", &counter),
            Message::tool("y", "ls", "orphan ".repeat(300), &counter),
            Message::system("late", &counter),
            Message::assistant("", vec![call("y", "ls", "{}")], &counter),
        ],
    ];
    let c = scenario::Compression::default();
    for input in &inputs {
        for name in StrategyName::ALL {
            let mut s = strategy(c.stage(name));
            for target in [0, 10, u64::MAX] {
                let _ = compress(input, target, &counter, |m, ctx| s.compress(m, ctx));
            }
        }
    }
}
