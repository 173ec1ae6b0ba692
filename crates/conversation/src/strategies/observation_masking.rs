//! `observation-masking`. Every tool output older than the newest `mask_keep_last` ones has its
//! content replaced by a one-line placeholder naming the tool and the output's original size,
//! `[output of search omitted: 1,234 tokens]`; the message stays, so the tool round stays
//! valid and the model still sees what it did, only not what it saw. The message's origin
//! becomes [`Origin::Reduced`]. Outputs already masked, summaries and stubs are left alone, as
//! is any output the placeholder would not shrink, so running it twice changes nothing. It
//! masks whatever the target (`ctx.target_tokens` is not read).
//!
//! From SWE-agent's `last_n_observations` (the paper keeps 5), OpenHands' `observation_masking`
//! condenser and Anthropic's context editing (`clear_tool_uses`, keep the last 3); "The
//! Complexity Trap" (arXiv 2508.21433) found it halves cost at equal solve rates (research doc
//! §1, §7.4).
//!
//! Parameters: `mask_keep_last` (tool outputs kept whole, the newest ones; default 5).

use scenario::compression::{MaskingConfig, StrategyName};

use crate::message::{Message, Origin, Role};
use crate::message_units::{original_tokens, reduce, thousands};
use crate::strategy::{Ctx, Strategy};

/// `observation-masking`.
#[derive(Clone, Debug)]
pub struct ObservationMasking {
    /// Tool outputs kept whole, the newest ones.
    pub keep_last: usize,
}

impl ObservationMasking {
    /// From its parameters in the scenario's `[compression]`.
    pub fn new(c: MaskingConfig) -> Self {
        Self {
            keep_last: c.keep_last as usize,
        }
    }
}

/// The placeholder for an output of `tool` that was `tokens` long.
fn placeholder(tool: &str, tokens: u32) -> String {
    format!(
        "[output of {tool} omitted: {} tokens]",
        thousands(tokens.into())
    )
}

impl Strategy for ObservationMasking {
    fn name(&self) -> &'static str {
        StrategyName::ObservationMasking.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        let outputs = messages.iter().filter(|m| m.role == Role::Tool).count();
        let older = outputs.saturating_sub(self.keep_last);
        for m in messages
            .iter_mut()
            .filter(|m| m.role == Role::Tool)
            .take(older)
            .filter(|m| matches!(m.origin, Origin::Original | Origin::Reduced { .. }))
        {
            let text = placeholder(m.name.as_deref().unwrap_or("a tool"), original_tokens(m));
            if m.content != text {
                reduce(m, text, ctx.counter);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{C, lines, round, run, session};
    use crate::strategy::total_tokens;

    fn masking(keep_last: usize) -> ObservationMasking {
        ObservationMasking { keep_last }
    }

    #[test]
    fn masks_all_but_the_newest() {
        let before = session(5, 40);
        let after = run(&mut masking(2), &before, 0);
        assert_eq!(after.len(), before.len());
        let tools: Vec<_> = after.iter().filter(|m| m.role == Role::Tool).collect();
        let original = before[3].tokens - crate::message::PER_MESSAGE_TOKENS;
        assert_eq!(
            tools[0].content,
            format!(
                "[output of read_file omitted: {} tokens]",
                thousands(original.into())
            )
        );
        assert_eq!(
            tools[0].origin,
            Origin::Reduced {
                original_tokens: original
            }
        );
        assert!(
            tools[..3]
                .iter()
                .all(|m| m.content.starts_with("[output of"))
        );
        assert!(tools[3..].iter().all(|m| m.origin == Origin::Original));
        assert!(total_tokens(&after) < total_tokens(&before));
        // Idempotent, and a later run masks only what has aged since.
        assert_eq!(run(&mut masking(2), &after, 0), after);
        let mut longer = after.clone();
        longer.extend(round(&[("n", "grep", "{}", &lines("n", 30))]));
        let again = run(&mut masking(2), &longer, 0);
        let masked = |c: &[Message]| {
            c.iter()
                .filter(|m| m.content.starts_with("[output"))
                .count()
        };
        assert_eq!(masked(&again), 4);
    }

    #[test]
    fn leaves_short_outputs_and_odd_inputs_alone() {
        let mut before = session(1, 3);
        before.extend(round(&[("x", "ls", "{}", "ok"), ("y", "ls", "{}", "ok")]));
        assert_eq!(run(&mut masking(0), &before[..4], 0).len(), 4);
        let short = run(&mut masking(0), &before, 0);
        assert_eq!(
            short[7..],
            before[7..],
            "a placeholder longer than an output is not used"
        );
        assert!(short[3].content.starts_with("[output of read_file"));
        assert!(run(&mut masking(0), &[], 0).is_empty());
        let orphan = vec![Message::tool("z", "ls", lines("z", 50), &C)];
        let _ = crate::message_units::fixtures::run_with(&mut masking(0), &orphan, 0, &C);
    }
}
