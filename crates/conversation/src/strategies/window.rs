//! `window`. A message window: the first `keep_first` and the last `keep_last` messages, the
//! middle dropped. The cut never splits a tool round: the kept tail reaches back to the
//! assistant message whose calls its first tool results answer, and a call at the end of the
//! head whose results fall past `keep_first` is dropped with them. The system message, the
//! first user message and the newest unit always stay (with `keep_last = 0` too: the newest
//! unit is the result the model just asked for). It counts messages, not tokens
//! (`ctx.target_tokens` is not read): the trigger decides how often it runs.
//!
//! From OpenHands' `recent` condenser (keep the first events and the newest `max_events`) and
//! LangChain's `trim_messages` with a message counter; the tool-pair rule is the one users ask
//! for in research doc §5.2 (OpenHands `conversation_window`, Roo-Code PR #10114).
//!
//! Parameters: `keep_first` (messages kept from the start, default 2: the system message and
//! the task), `keep_last` (messages kept from the end, default 10).

use scenario::compression::{StrategyName, WindowConfig};

use crate::message::Message;
use crate::message_units::{head_len, keep_head_tail, units};
use crate::strategy::{Ctx, Strategy};

/// `window`.
#[derive(Clone, Debug)]
pub struct Window {
    /// Messages kept from the start.
    pub keep_first: usize,
    /// Messages kept from the end.
    pub keep_last: usize,
}

impl Window {
    /// From its parameters in the scenario's `[compression]`.
    pub fn new(c: WindowConfig) -> Self {
        Self {
            keep_first: c.keep_first as usize,
            keep_last: c.keep_last as usize,
        }
    }
}

impl Strategy for Window {
    fn name(&self) -> &'static str {
        StrategyName::Window.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, _ctx: &mut Ctx<'_>) {
        let units = units(messages);
        let head = head_len(&units, self.keep_first);
        let cut = messages.len().saturating_sub(self.keep_last);
        // The first unit reaching into the last `keep_last` messages, whole, and at least the
        // newest unit.
        let tail_from = units
            .partition_point(|u| u.range.end <= cut)
            .min(units.len().saturating_sub(1));
        keep_head_tail(messages, &units, head, tail_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Role;
    use crate::message_units::fixtures::{C, round, run, session};

    fn window(keep_first: usize, keep_last: usize) -> Window {
        Window {
            keep_first,
            keep_last,
        }
    }

    #[test]
    fn keeps_head_and_tail() {
        // 2 + 5 × 4 messages; each round: call, result, remark, follow-up.
        let before = session(5, 3);
        let after = run(&mut window(2, 4), &before, 0);
        assert_eq!(after.len(), 6);
        assert_eq!(after[..2], before[..2]);
        assert_eq!(after[2..], before[before.len() - 4..]);
    }

    #[test]
    fn extends_the_tail_to_the_call() {
        let before = session(5, 3);
        // The last 3 messages start at a tool result: its call comes along.
        let after = run(&mut window(2, 3), &before, 0);
        assert_eq!(after.len(), 6);
        assert!(after[2].calls_tools());
        // A round of three results: keeping one keeps all four messages.
        let mut before = session(2, 3);
        before.extend(round(&[
            ("a", "ls", "{}", "1"),
            ("b", "ls", "{}", "2"),
            ("c", "ls", "{}", "3"),
        ]));
        let after = run(&mut window(2, 1), &before, 0);
        assert_eq!(after.len(), 6);
        assert_eq!(after[2..], before[before.len() - 4..]);
    }

    #[test]
    fn drops_a_head_call_whose_results_are_cut() {
        let before = session(3, 3);
        // keep_first = 3 ends between the first call and its result.
        let after = run(&mut window(3, 2), &before, 0);
        assert_eq!(after.len(), 4);
        assert!(
            after
                .iter()
                .all(|m| m.role != Role::Tool && !m.calls_tools())
        );
    }

    #[test]
    fn pins_and_the_newest_survive_zero_budgets_and_reruns_change_nothing() {
        let before = session(4, 3);
        let after = run(&mut window(0, 0), &before, 0);
        assert_eq!(after[..2], before[..2]);
        assert_eq!(after[2..], before[before.len() - 1..]);
        // The newest unit is a tool round: it stays whole.
        let mut before = session(4, 3);
        before.extend(round(&[("a", "ls", "{}", "1"), ("b", "ls", "{}", "2")]));
        let after = run(&mut window(0, 0), &before, 0);
        assert_eq!(after[2..], before[before.len() - 3..]);
        let once = run(&mut window(2, 5), &before, 0);
        assert_eq!(run(&mut window(2, 5), &once, 0), once);
        // Short conversations and odd inputs pass through.
        assert_eq!(run(&mut window(2, 10), &before[..5], 0), before[..5]);
        let odd = vec![
            Message::tool("x", "ls", "orphan", &C),
            Message::user("hi", &C),
        ];
        let _ = crate::message_units::fixtures::run_with(&mut window(0, 0), &odd, 0, &C);
    }
}
