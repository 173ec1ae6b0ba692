//! `rolling-summary`: when the conversation is over the target, the oldest span after the head
//! becomes one summary message that folds in the previous summary, so there is only ever one,
//! right after the head (`research/compression.md` §7 item 8: OpenHands' `llm` condenser,
//! LangChain's summary buffer, MemGPT's recursive summary, vendors' compaction).
//!
//! The span, the head and the kept tail are chosen by [`super::evict`]; the text comes from
//! the conversation's [`Summarizer`](crate::strategy::Summarizer): the deterministic
//! [`Extractive`](crate::summarize::Extractive) offline, an LLM in a higher crate.
//!
//! Parameters: `keep_first` (messages always kept from the start, besides the system message
//! and the first user message) from `[compression]`; the target comes with each run.

use scenario::compression::{StrategyName, SummaryConfig};

use super::evict;
use crate::message::Message;
use crate::strategy::{Ctx, Strategy};

/// `rolling-summary`.
#[derive(Clone, Debug, Default)]
pub struct RollingSummary {
    /// Messages always kept from the start (whole tool rounds only).
    pub keep_first: usize,
}

impl RollingSummary {
    /// From its parameters in the scenario's `[compression]`.
    pub fn new(c: SummaryConfig) -> Self {
        Self {
            keep_first: c.keep_first as usize,
        }
    }
}

impl Strategy for RollingSummary {
    fn name(&self) -> &'static str {
        StrategyName::RollingSummary.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        evict::summarize_oldest(messages, ctx, self.keep_first, |previous, span, ctx| {
            ctx.summarizer.summarize(previous, span)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cold::ColdStore;
    use crate::invariants::check_against;
    use crate::message::{Origin, Role};
    use crate::message_units::fixtures::{C, round, run, session};
    use crate::strategies::evict::test_ctx;
    use crate::strategy::{Work, total_tokens};
    use crate::summarize::Extractive;
    use crate::tokens::TokenCounter;

    /// Runs rolling-summary with the extractive summarizer; checks the invariants.
    fn summarize(before: &[Message], target: u64) -> (Vec<Message>, Work) {
        let mut cold = ColdStore::default();
        let mut summarizer = Extractive::default();
        let mut ctx = test_ctx(target, &mut cold, &mut summarizer);
        let mut after = before.to_vec();
        RollingSummary::default().compress(&mut after, &mut ctx);
        assert_eq!(check_against(before, &after), vec![]);
        assert!(total_tokens(&after) <= total_tokens(before));
        (after, ctx.work)
    }

    fn with_facts() -> Vec<Message> {
        let mut m = session(1, 3);
        m.push(Message::user("The order id is QX7-4471-KP, keep it.", &C));
        m.extend(round(&[(
            "g",
            "grep",
            r#"{"q":"panic"}"#,
            "src/pay.rs:88: panic!(\"E0433\")",
        )]));
        m.extend(session(8, 12).split_off(2));
        m
    }

    #[test]
    fn the_old_span_becomes_one_summary_after_the_head() {
        let before = with_facts();
        let target = total_tokens(&before) / 2;
        let (after, work) = summarize(&before, target);
        assert_eq!(after[..2], before[..2]);
        assert_eq!(after[2].origin, Origin::Summary);
        assert_eq!(after[2].role, Role::User);
        assert_eq!(
            after.iter().filter(|m| m.origin == Origin::Summary).count(),
            1
        );
        // The tail fits half the target; the capped summary may overshoot the rest.
        let cap = crate::summarize::DEFAULT_MAX_CHARS as u64 / 4 + 20;
        assert!(
            total_tokens(&after) <= target + cap,
            "{} > {target}",
            total_tokens(&after)
        );
        assert_eq!(after.last(), before.last());
        let s = &after[2].content;
        assert!(s.starts_with("Summary of earlier conversation:\n"));
        for fact in ["QX7-4471-KP", "src/pay.rs:88", "E0433", "src/f0.rs"] {
            assert!(s.contains(fact), "{fact} lost: {s}");
        }
        assert_eq!(work.summaries, 1);
        assert_eq!(
            work.summarizer_tokens_out,
            u64::from(C.count(s.split_once('\n').unwrap().1))
        );
        assert!(work.summarizer_tokens_in > work.summarizer_tokens_out);
    }

    #[test]
    fn a_second_run_folds_the_first_summary() {
        let before = with_facts();
        let (mut after, _) = summarize(&before, total_tokens(&before) / 2);
        let first = after[2].content.clone();
        after.push(Message::user(
            "Next, ship ORD-20931 to /srv/out/ship.json.",
            &C,
        ));
        after.extend(session(6, 12).split_off(2));
        let (again, work) = summarize(&after, total_tokens(&after) / 2);
        assert_eq!(
            again.iter().filter(|m| m.origin == Origin::Summary).count(),
            1
        );
        let second = &again[2].content;
        assert!(
            second.contains("QX7-4471-KP") && second.contains("ORD-20931"),
            "{second}"
        );
        assert_ne!(second, &first);
        let previous_tokens =
            u64::from(C.count(first.strip_prefix(evict::SUMMARY_PREFIX).unwrap()));
        assert!(work.summarizer_tokens_in > previous_tokens);
    }

    #[test]
    fn under_target_or_odd_input_changes_nothing() {
        let before = session(3, 3);
        assert_eq!(summarize(&before, u64::MAX).0, before);
        for odd in [
            vec![],
            vec![Message::system("s", &C)],
            vec![Message::user("u", &C)],
        ] {
            assert_eq!(summarize(&odd, 0).0, odd);
        }
        // No user message: the summary is an assistant message, and a second run folds it.
        let mut no_user = vec![Message::system("s", &C)];
        for i in 0..30 {
            no_user.push(Message::assistant(
                format!("Step {i} wrote out/{i}.log. Then it looked at the workspace again."),
                vec![],
                &C,
            ));
        }
        let (once, _) = summarize(&no_user, 60);
        assert_eq!(
            (once[1].role, &once[1].origin),
            (Role::Assistant, &Origin::Summary)
        );
        let mut more = once;
        more.extend(no_user[1..].iter().cloned().map(|mut m| {
            m.content.push('!');
            m
        }));
        let (twice, _) = summarize(&more, 60);
        assert_eq!(
            twice.iter().filter(|m| m.origin == Origin::Summary).count(),
            1
        );
    }

    #[test]
    fn the_fixture_summarizer_keeps_invariants_too() {
        let before = session(10, 8);
        let after = run(
            &mut RollingSummary::default(),
            &before,
            total_tokens(&before) / 3,
        );
        assert!(after.len() < before.len());
    }
}
