//! `amortized`. Amortized forgetting: when the conversation holds more than
//! `ctx.target_tokens`, drop its middle so that what stays fits in half the target: the
//! system message, the first user message, the head (the first `keep_first` messages) and
//! as many of the newest messages as fit in the rest of that half. Cutting to half rather than
//! to the target means the next rewrite, and so the next prompt-cache bust, comes many turns
//! later. A tool round is kept or dropped whole; the head, the pins and the newest unit (the
//! result the model just asked for) stay even when they alone exceed the half.
//!
//! From OpenHands' `amortized` condenser (over `max_size` events, forget down to `max_size / 2`
//! keeping `keep_first`); research doc §5.3 (cache awareness) and §7.7.
//!
//! Parameters: `keep_first` (messages kept from the start, default 2); the target comes from
//! the trigger and `compact_to`.

use scenario::compression::{AmortizedConfig, StrategyName};

use crate::message::Message;
use crate::message_units::{fixed_tokens, head_len, keep_head_tail, newest_fitting_or_last, units};
use crate::strategy::{Ctx, Strategy, total_tokens};

/// `amortized`.
#[derive(Clone, Debug)]
pub struct Amortized {
    /// Messages kept from the start.
    pub keep_first: usize,
}

impl Amortized {
    /// From its parameters in the scenario's `[compression]`.
    pub fn new(c: AmortizedConfig) -> Self {
        Self {
            keep_first: c.keep_first as usize,
        }
    }
}

impl Strategy for Amortized {
    fn name(&self) -> &'static str {
        StrategyName::Amortized.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        if total_tokens(messages) <= ctx.target_tokens {
            return;
        }
        let units = units(messages);
        let head = head_len(&units, self.keep_first);
        let budget = (ctx.target_tokens / 2).saturating_sub(fixed_tokens(&units, head));
        let tail_from = newest_fitting_or_last(&units, head, budget);
        keep_head_tail(messages, &units, head, tail_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{ends_in_big_output, run, session};

    fn amortized(keep_first: usize) -> Amortized {
        Amortized { keep_first }
    }

    #[test]
    fn drops_the_middle_down_to_half() {
        let before = session(10, 10);
        let target = total_tokens(&before) / 2;
        let after = run(&mut amortized(4), &before, target);
        assert!(total_tokens(&after) <= target / 2);
        // The head: the first round (messages 2 and 3) is within keep_first = 4.
        assert_eq!(after[..4], before[..4]);
        assert_eq!(after.last(), before.last());
        // Under the target now, so the next run changes nothing: rewrites are rare.
        assert_eq!(run(&mut amortized(4), &after, target), after);
    }

    #[test]
    fn keeps_the_newest_unit_even_when_it_alone_is_over_half_the_target() {
        let before = ends_in_big_output(3, 9_000, "FAILED: 3 tests, see TAIL-FACT-7731");
        let last = units(&before).pop().expect("a last unit");
        // Just over the target: half of it is less than the newest round.
        for target in [0, 1, 4_000, total_tokens(&before) - 1] {
            let after = run(&mut amortized(2), &before, target);
            assert_eq!(after[..2], before[..2]);
            assert_eq!(after[2..], before[last.range.clone()]);
            assert!(
                after
                    .last()
                    .is_some_and(|m| m.content.ends_with("TAIL-FACT-7731"))
            );
            assert_eq!(run(&mut amortized(2), &after, target), after);
        }
    }

    #[test]
    fn keeps_head_pins_and_newest_when_they_alone_are_too_big() {
        let before = session(4, 10);
        let after = run(&mut amortized(3), &before, 10);
        // keep_first = 3 would cut the first round: it goes; the pins and the newest message
        // (a user follow-up) stay.
        assert_eq!(after[..2], before[..2]);
        assert_eq!(after[2..], before[before.len() - 1..]);
        let small = run(&mut amortized(2), &before, u64::MAX);
        assert_eq!(small, before);
        assert!(run(&mut amortized(2), &[], 0).is_empty());
    }
}
