//! Replaying one conversation under one row's settings, turn by turn, as an agent would: the
//! turn's inputs are appended, the trigger may compress, the prompt is assembled, then the
//! model's answer (the corpus's next assistant message) is appended.
//!
//! A summarizer's call is a prompt too: its input counts in the tokens sent and prefilled
//! uncached when it is written (docs/compression.md, "Tokens and bytes").

use std::collections::HashMap;
use std::time::{Duration, Instant};

use conversation::Conversation;
use conversation::cold::ColdStore;
use conversation::invariants;
use conversation::message::{Message, Origin, Role};
use conversation::strategy::{Pipeline, Summarizer, Trigger, Work, total_tokens};
use conversation::tokens;
use scenario::Compression;

use super::keep::{IdTally, Identifier};
use super::score::{Needles, Tally};
use crate::corpus::CorpusConversation;

/// What one conversation under one row came to.
#[derive(Debug, Default)]
pub(crate) struct Run {
    pub(crate) prompts: u64,
    pub(crate) peak_tokens: u64,
    /// Prompts over the context window.
    pub(crate) overflows: u64,
    pub(crate) cumulative_tokens: u64,
    pub(crate) busted_tokens: u64,
    pub(crate) uncached_tokens: u64,
    /// Tokens of the answers (the assistant messages after each prompt).
    pub(crate) output_tokens: u64,
    pub(crate) hot_bytes: u64,
    pub(crate) cold_bytes: u64,
    pub(crate) cold_raw_bytes: u64,
    pub(crate) compressions: u64,
    pub(crate) work: Work,
    pub(crate) violations: u64,
    pub(crate) first_violation: Option<String>,
    pub(crate) final_retention: Tally,
    pub(crate) turn_retention: Tally,
    /// `--keep-pattern`'s identifiers kept.
    pub(crate) ids: IdTally,
    pub(crate) compress_times: Vec<Duration>,
    pub(crate) build_times: Vec<Duration>,
    /// The context after the last message (what `--reader` is asked about).
    pub(crate) last_prompt: Vec<Message>,
}

/// The previous prompt and which needles each of its messages holds.
#[derive(Debug, Default)]
struct Previous {
    prompt: Vec<Message>,
    marks: Vec<Vec<usize>>,
    /// The needles each offloaded span holds, by handle (a frame never changes once written).
    recalled: HashMap<u64, Vec<usize>>,
    /// Prompts over this many tokens overflow.
    window: u64,
}

/// Replays `conv`, whose messages are `messages` (counted by `config`'s tokenizer) holding
/// the identifiers `ids`, through `pipeline` under `config`'s trigger and target.
pub(crate) fn replay(
    conv: &CorpusConversation,
    messages: &[Message],
    ids: &[Identifier],
    config: &Compression,
    pipeline: Pipeline,
    summarizer: Box<dyn Summarizer>,
) -> Run {
    let mut state = Conversation::new(
        pipeline,
        Trigger::from_scenario(config),
        config.compact_to.0,
        summarizer,
        tokens::counter_for(config.tokenizer, config.chars_per_token.0),
    );
    let needles = Needles::with_ids(conv, ids);
    let mut run = Run::default();
    run.ids.identified(ids);
    let mut prev = Previous {
        window: u64::from(config.context_window),
        ..Previous::default()
    };
    let mut pushed = 0;
    for (i, m) in messages.iter().enumerate() {
        if m.role != Role::Assistant {
            continue;
        }
        for input in &messages[pushed..i] {
            state.push(input.clone());
        }
        let prompt = run.step(&mut state, &conv.id, i);
        let (present, recallable) = prev.advance(prompt, state.cold(), &needles, &mut run);
        run.turn_retention.add(&needles, &present, &recallable, i);
        run.ids.turn(ids, &present[needles.ids_start()..], i);
        run.output_tokens += u64::from(m.tokens);
        state.push(m.clone());
        pushed = i + 1;
    }
    for input in &messages[pushed..] {
        state.push(input.clone());
    }
    let last = run.step(&mut state, &conv.id, messages.len());
    let (present, recallable) = prev.advance_quietly(last, state.cold(), &needles);
    run.final_retention
        .add(&needles, &present, &recallable, messages.len());
    run.ids.last(ids, &present[needles.ids_start()..]);
    run.hot_bytes = state.hot_bytes();
    run.cold_bytes = state.cold().bytes();
    run.cold_raw_bytes = state.cold().raw_bytes();
    run.last_prompt = std::mem::take(&mut prev.prompt);
    run
}

impl Run {
    /// Compresses if the trigger fires (timed, checked), then assembles the prompt (timed).
    fn step(&mut self, state: &mut Conversation, id: &str, turn_end: usize) -> Vec<Message> {
        // The same test as `Conversation::maybe_compress`, made here to keep the messages
        // before for the invariant check.
        if state.due() {
            let before = state.messages().to_vec();
            let start = Instant::now();
            let done = state.compress_now();
            self.compress_times.push(start.elapsed());
            self.compressions += 1;
            self.work += done.work;
            // The summarizer's prompt: sent, and prefilled whole (no earlier prompt shares
            // its prefix).
            self.cumulative_tokens += done.work.summarizer_tokens_in;
            self.uncached_tokens += done.work.summarizer_tokens_in;
            let broken = invariants::check_against(&before, state.messages());
            self.violations += broken.len() as u64;
            if let (None, Some(v)) = (&self.first_violation, broken.first()) {
                self.first_violation = Some(format!(
                    "conversation `{id}`, compressing before message {turn_end}: {v}"
                ));
            }
        }
        let start = Instant::now();
        let prompt = state.assemble(&[]);
        self.build_times.push(start.elapsed());
        prompt
    }
}

impl Previous {
    /// Takes `prompt` as the new previous prompt, counting its tokens and what it re-sends,
    /// and returns which needles it holds and which a recall of its stubs from `cold` brings.
    fn advance(
        &mut self,
        prompt: Vec<Message>,
        cold: &ColdStore,
        needles: &Needles<'_>,
        run: &mut Run,
    ) -> (Vec<bool>, Vec<bool>) {
        let tokens = total_tokens(&prompt);
        run.prompts += 1;
        run.peak_tokens = run.peak_tokens.max(tokens);
        run.overflows += u64::from(tokens > self.window);
        run.cumulative_tokens += tokens;
        let shared = self.shared_prefix(&prompt);
        run.busted_tokens += total_tokens(&self.prompt[shared..]);
        run.uncached_tokens += total_tokens(&prompt[shared..]);
        self.advance_quietly(prompt, cold, needles)
    }

    /// As [`Previous::advance`], without counting (the context after the last message).
    fn advance_quietly(
        &mut self,
        prompt: Vec<Message>,
        cold: &ColdStore,
        needles: &Needles<'_>,
    ) -> (Vec<bool>, Vec<bool>) {
        let shared = self.shared_prefix(&prompt);
        self.marks.truncate(shared);
        self.marks
            .extend(prompt[shared..].iter().map(|m| needles.marks(m)));
        let mut present = vec![false; needles.len()];
        for i in self.marks.iter().flatten() {
            present[*i] = true;
        }
        let mut recallable = vec![false; needles.len()];
        for m in &prompt {
            if let Origin::Stub { handle } = m.origin {
                for &i in self.recall(handle, cold, needles) {
                    recallable[i] = true;
                }
            }
        }
        self.prompt = prompt;
        (present, recallable)
    }

    /// The needles the span offloaded under `handle` holds, stubs inside it followed.
    fn recall(&mut self, handle: u64, cold: &ColdStore, needles: &Needles<'_>) -> &[usize] {
        self.recalled.entry(handle).or_insert_with(|| {
            let mut found = Vec::new();
            let mut pending = vec![handle];
            let mut seen = Vec::new();
            while let Some(h) = pending.pop() {
                if seen.contains(&h) {
                    continue;
                }
                seen.push(h);
                for m in cold.get(h).unwrap_or_default() {
                    found.extend(needles.marks(&m));
                    if let Origin::Stub { handle } = m.origin {
                        pending.push(handle);
                    }
                }
            }
            found.sort_unstable();
            found.dedup();
            found
        })
    }

    /// Messages at the start of `prompt` that the previous prompt had in the same place: the
    /// first changed byte lies in the message after them (a prompt cache reuses them).
    fn shared_prefix(&self, prompt: &[Message]) -> usize {
        self.prompt
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
    }
}
