//! `token-budget`. Token-budget truncation: when the conversation holds more than
//! `ctx.target_tokens`, keep the system message, the first user message and the newest
//! messages that fit in what is left of the target; drop everything older. A tool round is
//! kept or dropped whole. The newest unit always stays, even when it alone is over the target
//! (a 9k-token test output when 4k are left): it is the result the model just asked for, and
//! the pins and it, over the target, are still a valid history.
//!
//! From LangChain's `trim_messages` (`strategy = "last"`, `max_tokens`, `include_system`) and
//! OpenHands' token-aware condensation (research doc §5.1, §7.3). There is no partial-message
//! tail (`allow_partial`): a message is kept whole or not at all.
//!
//! Parameters: none of its own; the target comes from the trigger and `compact_to`.

use scenario::StrategyName;

use crate::message::Message;
use crate::message_units::{fixed_tokens, keep_head_tail, newest_fitting_or_last, units};
use crate::strategy::{Ctx, Strategy, total_tokens};

/// `token-budget`.
#[derive(Clone, Debug, Default)]
pub struct TokenBudget {}

impl Strategy for TokenBudget {
    fn name(&self) -> &'static str {
        StrategyName::TokenBudget.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        if total_tokens(messages) <= ctx.target_tokens {
            return;
        }
        let units = units(messages);
        let budget = ctx.target_tokens.saturating_sub(fixed_tokens(&units, 0));
        let tail_from = newest_fitting_or_last(&units, 0, budget);
        keep_head_tail(messages, &units, 0, tail_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{ends_in_big_output, run, session};

    #[test]
    fn keeps_the_newest_that_fit() {
        let before = session(6, 10);
        let total = total_tokens(&before);
        // Under the target: nothing happens.
        assert_eq!(run(&mut TokenBudget::default(), &before, total), before);
        let target = total / 3;
        let after = run(&mut TokenBudget::default(), &before, target);
        assert!(total_tokens(&after) <= target);
        assert!(after.len() < before.len());
        assert_eq!(after[..2], before[..2]);
        assert_eq!(after.last(), before.last());
        // As many as fit: the next older unit would not have.
        let first_kept = before.len() - (after.len() - 2);
        let older = units(&before)
            .into_iter()
            .find(|u| u.range.end == first_kept)
            .expect("a unit ends where the kept tail begins");
        assert!(total_tokens(&after) + older.tokens > target);
        // Idempotent.
        assert_eq!(run(&mut TokenBudget::default(), &after, target), after);
    }

    #[test]
    fn keeps_the_newest_unit_even_when_it_alone_is_over_the_target() {
        // The test output the model just asked for, ~9k tokens, its verdict on the last line.
        let before = ends_in_big_output(3, 9_000, "FAILED: 3 tests, see TAIL-FACT-7731");
        let last = units(&before).pop().expect("a last unit");
        assert!(last.tokens > 8_000);
        for target in [0, 1, 4_000] {
            let after = run(&mut TokenBudget::default(), &before, target);
            // The pins and the newest round stay, over the target; the rest goes.
            assert_eq!(after[..2], before[..2]);
            assert_eq!(after[2..], before[last.range.clone()]);
            assert!(
                after
                    .last()
                    .is_some_and(|m| m.content.ends_with("TAIL-FACT-7731"))
            );
            assert_eq!(run(&mut TokenBudget::default(), &after, target), after);
        }
    }

    #[test]
    fn keeps_only_the_pins_and_the_newest_when_nothing_else_fits() {
        let before = session(3, 10);
        let after = run(&mut TokenBudget::default(), &before, 1);
        // The session ends in a user follow-up: the newest unit.
        assert_eq!(after[..2], before[..2]);
        assert_eq!(after[2..], before[before.len() - 1..]);
        assert!(run(&mut TokenBudget::default(), &[], 0).is_empty());
        assert_eq!(
            run(&mut TokenBudget::default(), &before[..1], 0),
            before[..1]
        );
    }
}
