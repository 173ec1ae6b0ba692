//! `offload`: when the conversation is over the target, the oldest span after the head (the
//! same span the summaries take, see [`super::evict`]) moves losslessly to the cold store, a
//! zstd frame (see [`crate::cold`]), and one stub message takes its place, naming the handle,
//! how many messages and tokens it stands for, and how to bring them back. MemGPT's recall
//! storage and Deep Agents' offloading (`research/compression.md` §7 item 10).
//!
//! [`Conversation::assemble`](crate::Conversation::assemble) with the handle puts the
//! messages back byte for byte. Stubs from earlier runs stay, oldest first, right after the
//! head (and the summary, if a summary strategy runs too); they are small and each recalls
//! its own span. A stub is never written when it would not be smaller than its span.
//!
//! Parameters from `[compression]`: `zstd_level` (of the frames written, default 3) and
//! `keep_first` (messages always kept from the start).

use scenario::compression::{OffloadConfig, StrategyName};

use super::evict;
use crate::cold::DEFAULT_LEVEL;
use crate::message::{Message, Origin};
use crate::message_units::thousands;
use crate::strategy::{Ctx, Strategy, total_tokens};

/// `offload`.
#[derive(Clone, Debug)]
pub struct Offload {
    /// Messages always kept from the start (whole tool rounds only).
    pub keep_first: usize,
    /// zstd level of the frames it writes.
    pub zstd_level: i32,
}

impl Default for Offload {
    fn default() -> Self {
        Self {
            keep_first: 0,
            zstd_level: DEFAULT_LEVEL,
        }
    }
}

impl Offload {
    /// From its parameters in the scenario's `[compression]`.
    pub fn new(c: OffloadConfig) -> Self {
        Self {
            keep_first: c.keep_first as usize,
            zstd_level: c.zstd_level,
        }
    }
}

/// The stub's text: what it stands for and how to recall it.
fn stub_text(handle: u64, span: &[Message]) -> String {
    format!(
        "[{} earlier messages ({} tokens) were moved to cold storage under handle {handle}. \
         Recall handle {handle} to bring them back verbatim.]",
        span.len(),
        thousands(total_tokens(span)),
    )
}

impl Strategy for Offload {
    fn name(&self) -> &'static str {
        StrategyName::Offload.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        let Some(p) = evict::plan(messages, ctx.target_tokens, self.keep_first) else {
            return;
        };
        let span = &messages[p.start..p.end];
        let handle = ctx.cold.next_handle();
        let role = evict::role_after(messages, p.head);
        let stub = evict::made(role, stub_text(handle, span), Origin::Stub { handle }, ctx);
        if u64::from(stub.tokens) >= total_tokens(span) {
            return;
        }
        ctx.cold.set_level(self.zstd_level);
        let stored = ctx.cold.put(span);
        debug_assert_eq!(stored, handle, "the store hands out next_handle");
        messages.splice(p.start..p.end, [stub]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cold::ColdStore;
    use crate::conversation::Conversation;
    use crate::invariants::check_against;
    use crate::message::Role;
    use crate::message_units::fixtures::{C, FixedSummary, round, session};
    use crate::strategies::evict::test_ctx;
    use crate::strategy::{Pipeline, Trigger, Work};

    fn offload(before: &[Message], target: u64, cold: &mut ColdStore) -> Vec<Message> {
        let mut summarizer = FixedSummary;
        let mut ctx = test_ctx(target, cold, &mut summarizer);
        let mut after = before.to_vec();
        Offload::default().compress(&mut after, &mut ctx);
        assert_eq!(check_against(before, &after), vec![]);
        assert!(total_tokens(&after) <= total_tokens(before));
        assert_eq!(ctx.work, Work::default(), "offloading summarizes nothing");
        after
    }

    #[test]
    fn the_span_moves_to_a_stub_that_names_its_handle() {
        let before = session(8, 20);
        let mut cold = ColdStore::default();
        let after = offload(&before, total_tokens(&before) / 2, &mut cold);
        assert_eq!(after[..2], before[..2]);
        assert_eq!(after[2].origin, Origin::Stub { handle: 0 });
        assert_eq!(after[2].role, Role::User);
        let moved = before.len() - after.len() + 1;
        assert!(
            after[2]
                .content
                .starts_with(&format!("[{moved} earlier messages ("))
        );
        assert!(after[2].content.contains("handle 0"));
        assert_eq!(cold.get(0).unwrap(), before[2..2 + moved]);
        assert_eq!(after[3..], before[2 + moved..]);
        assert!(cold.ratio() > 1.0);
    }

    #[test]
    fn assemble_brings_every_span_back_byte_for_byte() {
        let stages: Vec<Box<dyn Strategy>> = vec![Box::new(Offload::default())];
        let mut c = Conversation::new(
            Pipeline { stages },
            Trigger::Tokens(1_000),
            0.5,
            Box::new(FixedSummary),
            Box::new(C),
        );
        let mut all = Vec::new();
        for m in session(20, 15) {
            all.push(m.clone());
            c.push(m);
            c.maybe_compress();
        }
        let stubs: Vec<u64> = c
            .messages()
            .iter()
            .filter_map(|m| match m.origin {
                Origin::Stub { handle } => Some(handle),
                _ => None,
            })
            .collect();
        assert!(stubs.len() >= 3, "{stubs:?}");
        assert!(c.tokens() < total_tokens(&all) / 2);
        let back = c.assemble(&stubs);
        assert_eq!(back, all);
        let as_json = |m: &[Message]| serde_json::to_vec(m).unwrap();
        assert_eq!(as_json(&back), as_json(&all));
        // Recalling one handle brings back only its span.
        let one = c.assemble(&stubs[..1]);
        assert!(one.len() > c.messages().len() && one.len() < all.len());
    }

    #[test]
    fn the_level_is_applied_and_tiny_spans_stay() {
        let before = session(6, 30);
        let mut cold = ColdStore::default();
        let mut ctx_summarizer = FixedSummary;
        let mut ctx = test_ctx(total_tokens(&before) / 2, &mut cold, &mut ctx_summarizer);
        let mut after = before;
        let mut o = Offload {
            keep_first: 0,
            zstd_level: 19,
        };
        o.compress(&mut after, &mut ctx);
        assert_eq!(cold.level(), 19);
        // A span smaller than its stub is left where it is.
        let mut small = vec![Message::system("s", &C), Message::user("u", &C)];
        small.extend(round(&[("a", "ls", "{}", "x")]));
        small.push(Message::assistant("ok", vec![], &C));
        let mut cold = ColdStore::default();
        assert_eq!(offload(&small, 1, &mut cold), small);
        assert!(cold.is_empty());
    }

    #[test]
    fn odd_input_changes_nothing() {
        let mut cold = ColdStore::default();
        for odd in [
            vec![],
            vec![Message::system("s", &C)],
            vec![Message::user("u", &C)],
        ] {
            assert_eq!(offload(&odd, 0, &mut cold), odd);
        }
        assert!(cold.is_empty());
        let mut no_user = vec![Message::system("s", &C)];
        no_user.extend(
            (0..20).map(|i| Message::assistant(format!("{i} {}", "y".repeat(200)), vec![], &C)),
        );
        let after = offload(&no_user, 100, &mut cold);
        assert_eq!(
            (after[1].role, &after[1].origin),
            (Role::Assistant, &Origin::Stub { handle: 0 })
        );
    }
}
