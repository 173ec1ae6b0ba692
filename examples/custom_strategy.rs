//! A compression strategy of your own, next to the built-in ones (docs/compression.md, "Adding
//! a strategy").
//!
//! `keep-errors` masks old tool outputs like `observation-masking`, except the ones that report
//! an error: a compiler error, a failed test, a panic. Those stay whole, however old, because
//! an agent that forgets why the build broke tends to break it again. The newest `keep_last`
//! outputs stay whole too.
//!
//! The example evaluates it on a generated coding corpus (every other test run made to fail,
//! each failure's panic line planted as an `output-tail` fact) through the lab's own seam for
//! strategies of your own (`RowSpec::custom`): the same replay as `fleetbench compress`, turn
//! by turn, every compression checked against the invariants. It prints the lab's table for
//! the baseline, the built-in `observation-masking`, `keep-errors` alone, and `keep-errors` in
//! a pipeline with the built-in `clip` (which cuts the failing runs it kept to their head and
//! tail, where the failure is). A strategy in another language needs no Rust at all:
//! `fleetbench compress --strategy-cmd` (docs/compression.md, "External compressors").
//!
//! `cargo run --example custom_strategy`; `cargo test --example custom_strategy` runs its
//! tests.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use conversation::message_units::{original_tokens, reduce, thousands};
use conversation::{Ctx, Message, Origin, Role, Strategy, strategies};
use lab::corpus::{self, CorpusConversation, Fact, FactKind, Profile};
use lab::eval::{self, RowSpec};
use scenario::{Compression, Pipeline, StrategyName, Tokenizer};

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
        plant_failures(conv);
    }
    corpus
}

/// Plants each failure's panic line (unique: it names the test) as a fact of kind
/// `output-tail`, where a test runner prints it: the lab's retention table then counts the
/// failures a strategy kept, next to the generator's own tail facts.
fn plant_failures(conv: &mut CorpusConversation) {
    let mut turn = 0;
    for (message, m) in conv.messages.iter().enumerate() {
        if m.role == Role::Assistant {
            turn += 1;
        }
        let Some(line) = m.content.lines().find(|l| l.contains("panicked at")) else {
            continue;
        };
        conv.facts.push(Fact {
            id: format!("failure{message}"),
            kind: FactKind::OutputTail,
            value: line.to_owned(),
            turn,
            message,
            supersedes: None,
        });
    }
}

fn built_in(name: StrategyName) -> Box<dyn Strategy> {
    strategies::strategy(scenario::Compression::default().stage(name))
}

/// The rows: the baseline and `observation-masking` as the lab builds them, then
/// `keep-errors` and `keep-errors+clip` through the seam for strategies of your own, all under
/// trigger `tokens=8000`, `compact_to` 0.5, chars/4 tokens.
fn rows() -> Vec<RowSpec> {
    let base = Compression {
        tokenizer: Tokenizer::Chars,
        ..Compression::default()
    };
    let mut rows = eval::rows(
        &base,
        &[Pipeline::from(StrategyName::ObservationMasking)],
        &[],
    );
    rows.push(RowSpec::custom(&base, "keep-errors", || {
        conversation::Pipeline {
            stages: vec![Box::new(KeepErrors { keep_last: 5 })],
        }
    }));
    rows.push(RowSpec::custom(&base, "keep-errors+clip", || {
        conversation::Pipeline {
            stages: vec![
                Box::new(KeepErrors { keep_last: 5 }),
                built_in(StrategyName::Clip),
            ],
        }
    }));
    rows
}

fn main() {
    let report = eval::evaluate(&corpus_with_failures(), &rows()).without_timing();
    print!("{}", eval::table(&report));
    for row in &report.rows {
        assert_eq!(row.violations, 0, "{} broke an invariant", row.strategy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conversation::cold::ColdStore;
    use conversation::strategy::Work;
    use conversation::summarize::Extractive;
    use conversation::{CharsPerToken, ToolCall, invariants};

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
        let base = Compression {
            tokenizer: Tokenizer::Chars,
            ..Compression::default()
        };
        let rows: Vec<RowSpec> = StrategyName::ALL
            .into_iter()
            .map(|then| {
                RowSpec::custom(&base, format!("keep-errors+{then}"), move || {
                    conversation::Pipeline {
                        stages: vec![Box::new(KeepErrors { keep_last: 2 }), built_in(then)],
                    }
                })
            })
            .collect();
        for row in eval::evaluate(&corpus, &rows).rows {
            assert!(row.compressions > 0, "{}", row.strategy);
            assert_eq!(row.violations, 0, "{}", row.strategy);
        }
    }
}
