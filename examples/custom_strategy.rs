//! A compression strategy of your own, next to the built-in ones (docs/compression.md, "Adding
//! a strategy").
//!
//! `keep-errors` masks old tool outputs like `observation-masking`, except the ones that report
//! an error: a compiler error, a failed test, a panic. Those stay whole, however old, because
//! an agent that forgets why the build broke tends to break it again. The newest `keep_last`
//! outputs stay whole too.
//!
//! The example replays a generated coding corpus (every other test run made to fail) turn by
//! turn, as `fleetbench compress` does: the trigger decides before each model call, and every
//! compression is checked against the invariants. It runs the baseline, the built-in
//! `observation-masking`, `keep-errors` alone, and `keep-errors` in a pipeline with the
//! built-in `clip` (which cuts the failing runs it kept to their head and tail, where the
//! failure is), and prints tokens, planted facts and failures kept, and violations.
//! `fleetbench compress` cannot run it: the evaluation and scenarios name built-ins only.
//!
//! `cargo run --example custom_strategy`; `cargo test --example custom_strategy` runs its
//! tests.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use conversation::message_units::{original_tokens, reduce, thousands};
use conversation::summarize::Extractive;
use conversation::{
    CharsPerToken, Conversation, Ctx, Message, Origin, Pipeline, Role, Strategy, TokenCounter,
    Trigger, invariants, strategies,
};
use lab::corpus::{self, CorpusConversation, Profile};
use scenario::StrategyName;

/// `keep-errors`: tool outputs older than the newest `keep_last` become a one-line
/// placeholder, unless they report an error.
#[derive(Clone, Debug)]
struct KeepErrors {
    /// Tool outputs kept whole, the newest ones, errors or not.
    keep_last: usize,
}

/// Whether a tool output reports an error: a line that starts like a compiler's or a test
/// runner's error (`error[E0308]: …`, `error: …`), a panic, or a failed test. Matching the bare
/// word "error" would keep most Rust sources (`Result<_, Error>`), and "failed" every passing
/// test run ("0 failed").
fn reports_error(output: &str) -> bool {
    output.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("error:")
            || line.starts_with("error[")
            || line.contains("panicked at")
            || line.contains("FAILED")
            || line.starts_with("failures:")
    })
}

impl Strategy for KeepErrors {
    fn name(&self) -> &'static str {
        "keep-errors"
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        let outputs = messages.iter().filter(|m| m.role == Role::Tool).count();
        let older = outputs.saturating_sub(self.keep_last);
        for m in messages
            .iter_mut()
            .filter(|m| m.role == Role::Tool)
            .take(older)
        {
            // Only originals: an output another stage reduced, a summary or a stub is left
            // alone, so a second run changes nothing.
            if m.origin != Origin::Original || reports_error(&m.content) {
                continue;
            }
            let text = format!(
                "[output of {} omitted: {} tokens, no error in it]",
                m.name.as_deref().unwrap_or("a tool"),
                thousands(original_tokens(m).into())
            );
            // Rewrites only when the placeholder is shorter; records the size in the origin.
            reduce(m, text, ctx.counter);
        }
        // The message stays, so every tool result keeps its call: no invariant can break.
    }
}

/// What one pipeline came to over the corpus.
#[derive(Debug, Default)]
struct Figures {
    prompts: u64,
    cumulative_tokens: u64,
    peak_tokens: u64,
    compressions: u64,
    violations: u64,
    final_tokens: u64,
    facts: u64,
    facts_kept: u64,
    failures: u64,
    failures_kept: u64,
}

fn counter() -> Box<dyn TokenCounter> {
    Box::new(CharsPerToken(4.0))
}

/// Replays `corpus` under pipelines made by `make`, trigger `tokens=8000`, `compact_to` 0.5.
fn replay(corpus: &[CorpusConversation], make: &dyn Fn() -> Pipeline) -> Figures {
    let trigger = Trigger::Tokens(8000);
    let mut f = Figures::default();
    for conv in corpus {
        let messages = conv.to_messages(counter().as_ref());
        let mut state = Conversation::new(
            make(),
            trigger,
            0.5,
            Box::new(Extractive::default()),
            counter(),
        );
        let step = |state: &mut Conversation, f: &mut Figures| {
            if trigger.fires(state.messages()) {
                let before = state.messages().to_vec();
                state.compress_now();
                f.compressions += 1;
                f.violations += invariants::check_against(&before, state.messages()).len() as u64;
            }
            state.tokens()
        };
        let mut pushed = 0;
        for (i, m) in messages.iter().enumerate() {
            if m.role != Role::Assistant {
                continue;
            }
            for input in &messages[pushed..i] {
                state.push(input.clone());
            }
            let tokens = step(&mut state, &mut f);
            f.prompts += 1;
            f.cumulative_tokens += tokens;
            f.peak_tokens = f.peak_tokens.max(tokens);
            state.push(m.clone());
            pushed = i + 1;
        }
        for input in &messages[pushed..] {
            state.push(input.clone());
        }
        f.final_tokens += step(&mut state, &mut f);
        let context = state.assemble(&[]);
        let present = |value: &str| {
            context.iter().any(|m| {
                m.content.contains(value)
                    || m.tool_calls.iter().any(|c| c.arguments.contains(value))
            })
        };
        f.facts += conv.facts.len() as u64;
        f.facts_kept += conv.facts.iter().filter(|x| present(&x.value)).count() as u64;
        // Each planted failure's panic line is unique: is it still in the context?
        let failures: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == Role::Tool)
            .flat_map(|m| m.content.lines())
            .filter(|l| l.contains("panicked at"))
            .collect();
        f.failures += failures.len() as u64;
        f.failures_kept += failures.iter().filter(|l| present(l)).count() as u64;
    }
    f
}

/// A coding corpus where every other `run_tests` fails: the generator's test runs always
/// pass, so without this `keep-errors` would have nothing to keep.
fn corpus_with_failures() -> Vec<CorpusConversation> {
    let mut corpus = corpus::generate(Profile::Coding, 10, 40, 1);
    for conv in &mut corpus {
        let test_runs: Vec<String> = conv
            .messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .filter(|c| c.function.name == "run_tests")
            .map(|c| c.id.clone())
            .step_by(2)
            .collect();
        for m in &mut conv.messages {
            let Some(id) = m.tool_call_id.as_ref().filter(|id| test_runs.contains(id)) else {
                continue;
            };
            let Some(result) = m.content.rfind("test result: ok.") else {
                continue;
            };
            let failure = format!(
                "\nfailures:\n\n---- tests::{id} stdout ----\n\
                 thread 'tests::{id}' panicked at src/lib.rs:42:9:\n\
                 assertion `left == right` failed\n  left: 3\n right: 4\n\n\
                 test result: FAILED. 11 passed; 1 failed; 0 ignored"
            );
            m.content.truncate(result);
            m.content.push_str(failure.trim_start());
        }
    }
    corpus
}

fn built_in(name: StrategyName) -> Box<dyn Strategy> {
    strategies::strategy(scenario::Compression::default().stage(name))
}

fn main() {
    let corpus = corpus_with_failures();
    let rows: [(&str, &dyn Fn() -> Pipeline); 4] = [
        ("none", &|| Pipeline {
            stages: vec![built_in(StrategyName::None)],
        }),
        ("observation-masking", &|| Pipeline {
            stages: vec![built_in(StrategyName::ObservationMasking)],
        }),
        ("keep-errors", &|| Pipeline {
            stages: vec![Box::new(KeepErrors { keep_last: 5 })],
        }),
        ("keep-errors+clip", &|| Pipeline {
            stages: vec![
                Box::new(KeepErrors { keep_last: 5 }),
                built_in(StrategyName::Clip),
            ],
        }),
    ];
    let messages: usize = corpus.iter().map(|c| c.messages.len()).sum();
    println!(
        "{} coding conversations, {messages} messages; chars/4 tokens; trigger tokens=8000, compact_to 0.5\n",
        corpus.len()
    );
    println!(
        "{:<28} {:>8} {:>11} {:>7} {:>12} {:>11} {:>12} {:>10}",
        "pipeline",
        "peak",
        "cumulative",
        "ratio",
        "final tokens",
        "facts kept",
        "failures kept",
        "violations"
    );
    let mut baseline = None;
    for (name, make) in rows {
        let f = replay(&corpus, make);
        let base = *baseline.get_or_insert(f.cumulative_tokens);
        println!(
            "{name:<28} {:>8} {:>11} {:>6.2}x {:>12} {:>10.0}% {:>12} {:>10}",
            f.peak_tokens,
            f.cumulative_tokens,
            base as f64 / f.cumulative_tokens as f64,
            f.final_tokens,
            f.facts_kept as f64 / f.facts as f64 * 100.0,
            format!("{}/{}", f.failures_kept, f.failures),
            f.violations
        );
        assert_eq!(f.violations, 0, "{name} broke an invariant");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conversation::ToolCall;
    use conversation::cold::ColdStore;
    use conversation::strategy::Work;

    fn round(id: &str, output: &str) -> Vec<Message> {
        let c = CharsPerToken(4.0);
        let call = ToolCall {
            id: id.to_owned(),
            name: "run_tests".to_owned(),
            arguments: "{}".to_owned(),
        };
        vec![
            Message::assistant("", vec![call], &c),
            Message::tool(id, "run_tests", output, &c),
        ]
    }

    #[test]
    fn old_outputs_are_masked_unless_they_report_an_error() {
        let c = CharsPerToken(4.0);
        let ok = "test a ... ok\n".repeat(40);
        let failed = format!("{ok}error[E0308]: mismatched types");
        let mut before = vec![Message::system("be brief", &c), Message::user("fix it", &c)];
        before.extend(round("a", &ok));
        before.extend(round("b", &failed));
        before.extend(round("c", &ok));
        let mut after = before.clone();
        let mut cold = ColdStore::default();
        let mut summarizer = Extractive::default();
        let mut ctx = Ctx {
            counter: &c,
            target_tokens: 0,
            cold: &mut cold,
            summarizer: &mut summarizer,
            work: Work::default(),
        };
        let mut s = KeepErrors { keep_last: 1 };
        s.compress(&mut after, &mut ctx);
        assert_eq!(invariants::check_against(&before, &after), vec![]);
        assert!(after[3].content.starts_with("[output of run_tests omitted"));
        assert_eq!(after[5], before[5], "the error stays whole");
        assert_eq!(after[7], before[7], "the newest output stays whole");
        let again = after.clone();
        s.compress(&mut after, &mut ctx);
        assert_eq!(after, again, "a second run changes nothing");
    }

    #[test]
    fn replays_keep_the_invariants() {
        let mut corpus = corpus_with_failures();
        corpus.truncate(3);
        for then in StrategyName::ALL {
            let f = replay(&corpus, &|| Pipeline {
                stages: vec![Box::new(KeepErrors { keep_last: 2 }), built_in(then)],
            });
            assert!(f.compressions > 0);
            assert_eq!(f.violations, 0, "keep-errors+{then}");
        }
    }
}
