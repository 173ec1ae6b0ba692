//! `structured-summary`: like `rolling-summary` (same span, same single summary right after
//! the head, see [`super::evict`]), but the summary has fixed sections, merged incrementally
//! with the previous one: Factory's anchored iterative summary and OpenHands' `structured`
//! condenser (`research/compression.md` §1, §7 item 9). Factory found the artifact trail (files
//! touched) the weakest part of every summary, so files get the largest section.
//!
//! The sections are filled by rules, offline and deterministic:
//! - Goal: the first sentence of the first user message (anchored: once set, kept);
//! - Constraints: user sentences with must, never, only, at most, without, always, …;
//! - Decisions: assistant sentences with will, decided, chose, let's, instead, …;
//! - Files touched: paths in tool-call arguments and tool outputs;
//! - Errors: lines with error, failed, exception, panic, traceback, …;
//! - Next steps: the last sentences of the span's last assistant text (a state, not a log:
//!   they replace the previous next steps).
//!
//! The previous summary is parsed back into its sections (see `sections`); each section is a
//! union in order of last mention (a repeated item moves to the end), capped at `CAPS` items,
//! newest kept; items are cut at `ITEM_CHARS`. If the whole is still over `max_chars`, the
//! section with the most items loses its oldest until it fits.
//!
//! Parameters: `keep_first` from `[compression]`, `max_chars` (`DEFAULT_MAX_CHARS`, 2,000).

use scenario::compression::{StrategyName, SummaryConfig};

use super::evict;
use crate::message::{Message, Origin, Role};
use crate::strategy::{Ctx, Strategy};
use crate::summarize::scan;
use sections::Sections;

mod sections;

/// The default cap of the whole summary, in characters: the extractive summary's 1,500 plus
/// room for the six headings, since files are short items.
const DEFAULT_MAX_CHARS: usize = 2_000;

/// `structured-summary`.
#[derive(Clone, Debug)]
pub struct StructuredSummary {
    /// Messages always kept from the start (whole tool rounds only).
    pub keep_first: usize,
    /// Most characters of a summary.
    pub max_chars: usize,
}

impl Default for StructuredSummary {
    fn default() -> Self {
        Self {
            keep_first: 0,
            max_chars: DEFAULT_MAX_CHARS,
        }
    }
}

impl StructuredSummary {
    /// From its parameters in the scenario's `[compression]` (`max_chars` is not a key).
    pub fn new(c: SummaryConfig) -> Self {
        Self {
            keep_first: c.keep_first as usize,
            ..Self::default()
        }
    }
}

impl Strategy for StructuredSummary {
    fn name(&self) -> &'static str {
        StrategyName::StructuredSummary.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        let goal = messages
            .iter()
            .find(|m| m.role == Role::User && m.origin == Origin::Original)
            .and_then(|m| scan::sentences(&m.content).next())
            .map(str::to_owned);
        let max_chars = self.max_chars;
        evict::summarize_oldest(messages, ctx, self.keep_first, |previous, span, _| {
            let mut s = previous.map(Sections::parse).unwrap_or_default();
            s.extract(goal.as_deref(), span);
            s.fit(max_chars);
            s.render()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::sections::{CONSTRAINTS, DECISIONS, ERRORS, FILES, GOAL, NEXT};
    use super::*;
    use crate::message_units::fixtures::{C, round, run, session};
    use crate::strategy::total_tokens;

    fn agent_session() -> Vec<Message> {
        let mut m = vec![
            Message::system("You are a coding agent.", &C),
            Message::user("Fix the flaky test in tests/net.rs. Thanks!", &C),
            Message::user("You must not touch Cargo.lock. Keep it small.", &C),
        ];
        m.extend(round(&[(
            "a",
            "run_tests",
            r#"{"cmd":"cargo test"}"#,
            "test net::retry ... FAILED\nthread panicked at src/net/retry.rs:41:9\nerror: test failed, to rerun pass `--lib`",
        )]));
        m.push(Message::assistant(
            "I will add a backoff to src/net/retry.rs instead of a sleep. Next I rerun the tests.",
            vec![],
            &C,
        ));
        m.extend(session(8, 10).split_off(2));
        m
    }

    #[test]
    fn sections_are_filled_by_the_rules() {
        let before = agent_session();
        let after = run(
            &mut StructuredSummary::default(),
            &before,
            total_tokens(&before) / 2,
        );
        assert_eq!(after[2].origin, Origin::Summary);
        let s = Sections::parse(&after[2].content);
        assert_eq!(s.0[GOAL], vec!["Fix the flaky test in tests/net.rs."]);
        assert_eq!(s.0[CONSTRAINTS], vec!["You must not touch Cargo.lock."]);
        assert_eq!(
            s.0[DECISIONS],
            vec!["I will add a backoff to src/net/retry.rs instead of a sleep."]
        );
        assert!(
            s.0[FILES].contains(&"src/net/retry.rs".to_owned()),
            "{:?}",
            s.0[FILES]
        );
        assert!(s.0[FILES].contains(&"src/f0.rs".to_owned()));
        assert_eq!(s.0[ERRORS][0], "test net::retry ... FAILED");
        assert_eq!(s.0[ERRORS].len(), 3);
        assert!(
            s.0[NEXT].iter().any(|x| x.starts_with("Looked at f")),
            "{:?}",
            s.0[NEXT]
        );
        assert_eq!(Sections::parse(&s.render()), s, "renders and parses back");
    }

    #[test]
    fn a_second_run_merges_the_sections() {
        let before = agent_session();
        let mut after = run(
            &mut StructuredSummary::default(),
            &before,
            total_tokens(&before) / 2,
        );
        after.push(Message::user("Never retry more than 3 times.", &C));
        after.extend(round(&[(
            "z",
            "edit",
            r#"{"path":"src/net/backoff.rs"}"#,
            "ok",
        )]));
        for i in 0..8 {
            let (id, args) = (format!("n{i}"), format!(r#"{{"path":"docs/n{i}.md"}}"#));
            after.extend(round(&[(
                &id,
                "read_file",
                &args,
                &"lorem ipsum ".repeat(40),
            )]));
        }
        let again = run(
            &mut StructuredSummary::default(),
            &after,
            total_tokens(&after) / 2,
        );
        assert_eq!(
            again.iter().filter(|m| m.origin == Origin::Summary).count(),
            1
        );
        let s = Sections::parse(&again[2].content);
        assert_eq!(s.0[GOAL], vec!["Fix the flaky test in tests/net.rs."]);
        assert_eq!(
            s.0[CONSTRAINTS],
            vec![
                "You must not touch Cargo.lock.",
                "Never retry more than 3 times."
            ]
        );
        assert!(s.0[FILES].contains(&"src/net/retry.rs".to_owned()));
        assert!(s.0[FILES].contains(&"src/net/backoff.rs".to_owned()));
        assert_eq!(s.0[ERRORS].len(), 3, "kept from the first summary");
    }

    #[test]
    fn odd_input_keeps_invariants() {
        for odd in [
            vec![],
            vec![Message::system("s", &C)],
            vec![Message::user("u", &C)],
        ] {
            assert_eq!(run(&mut StructuredSummary::default(), &odd, 0), odd);
        }
        let mut no_user = vec![Message::system("s", &C)];
        no_user.extend(
            (0..20).map(|i| Message::assistant(format!("{i} {}", "y".repeat(200)), vec![], &C)),
        );
        let after = run(&mut StructuredSummary::default(), &no_user, 100);
        assert_eq!(
            (after[1].role, &after[1].origin),
            (Role::Assistant, &Origin::Summary)
        );
    }
}
