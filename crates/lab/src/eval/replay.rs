//! Replaying one conversation under one row's settings, turn by turn, as an agent would: the
//! turn's inputs are appended, the trigger may compress, the prompt is assembled, then the
//! model's answer (the corpus's next assistant message) is appended.

use std::time::{Duration, Instant};

use conversation::Conversation;
use conversation::invariants;
use conversation::message::{Message, Role};
use conversation::strategies;
use conversation::strategy::{Summarizer, Trigger, Work, total_tokens};
use conversation::tokens;
use scenario::Compression;

use super::score::{Needles, Tally};
use crate::corpus::CorpusConversation;

/// What one conversation under one row came to.
#[derive(Debug, Default)]
pub(crate) struct Run {
    pub(crate) prompts: u64,
    pub(crate) peak_tokens: u64,
    pub(crate) cumulative_tokens: u64,
    pub(crate) busted_tokens: u64,
    pub(crate) uncached_tokens: u64,
    pub(crate) hot_bytes: u64,
    pub(crate) cold_bytes: u64,
    pub(crate) cold_raw_bytes: u64,
    pub(crate) compressions: u64,
    pub(crate) work: Work,
    pub(crate) violations: u64,
    pub(crate) first_violation: Option<String>,
    pub(crate) final_retention: Tally,
    pub(crate) turn_retention: Tally,
    pub(crate) compress_times: Vec<Duration>,
    pub(crate) build_times: Vec<Duration>,
}

/// The previous prompt and which needles each of its messages holds.
#[derive(Debug, Default)]
struct Previous {
    prompt: Vec<Message>,
    marks: Vec<Vec<usize>>,
}

/// Replays `conv`, whose messages are `messages` (counted by `config`'s tokenizer).
pub(crate) fn replay(
    conv: &CorpusConversation,
    messages: &[Message],
    config: &Compression,
    summarizer: Box<dyn Summarizer>,
) -> Run {
    let mut state = Conversation::new(
        strategies::build(config),
        Trigger::from_scenario(config),
        config.compact_to.0,
        summarizer,
        tokens::counter_for(config.tokenizer, config.chars_per_token.0),
    );
    let needles = Needles::new(conv);
    let mut run = Run::default();
    let mut prev = Previous::default();
    let mut pushed = 0;
    for (i, m) in messages.iter().enumerate() {
        if m.role != Role::Assistant {
            continue;
        }
        for input in &messages[pushed..i] {
            state.push(input.clone());
        }
        let prompt = run.step(&mut state, &conv.id, i);
        let present = prev.advance(prompt, &needles, &mut run);
        run.turn_retention.add(&needles, &present, i);
        state.push(m.clone());
        pushed = i + 1;
    }
    for input in &messages[pushed..] {
        state.push(input.clone());
    }
    let last = run.step(&mut state, &conv.id, messages.len());
    let present = prev.advance_quietly(last, &needles);
    run.final_retention.add(&needles, &present, messages.len());
    run.hot_bytes = state.hot_bytes();
    run.cold_bytes = state.cold().bytes();
    run.cold_raw_bytes = state.cold().raw_bytes();
    run
}

impl Run {
    /// Compresses if the trigger fires (timed, checked), then assembles the prompt (timed).
    fn step(&mut self, state: &mut Conversation, id: &str, turn_end: usize) -> Vec<Message> {
        // The same test as `Conversation::maybe_compress`, made here to keep the messages
        // before for the invariant check.
        if state.trigger().fires(state.messages()) {
            let before = state.messages().to_vec();
            let start = Instant::now();
            let done = state.compress_now();
            self.compress_times.push(start.elapsed());
            self.compressions += 1;
            self.work += done.work;
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
    /// and returns which needles it holds.
    fn advance(&mut self, prompt: Vec<Message>, needles: &Needles<'_>, run: &mut Run) -> Vec<bool> {
        let tokens = total_tokens(&prompt);
        run.prompts += 1;
        run.peak_tokens = run.peak_tokens.max(tokens);
        run.cumulative_tokens += tokens;
        let shared = self.shared_prefix(&prompt);
        run.busted_tokens += total_tokens(&self.prompt[shared..]);
        run.uncached_tokens += total_tokens(&prompt[shared..]);
        self.advance_quietly(prompt, needles)
    }

    /// As [`Previous::advance`], without counting (the context after the last message).
    fn advance_quietly(&mut self, prompt: Vec<Message>, needles: &Needles<'_>) -> Vec<bool> {
        let shared = self.shared_prefix(&prompt);
        self.marks.truncate(shared);
        self.marks
            .extend(prompt[shared..].iter().map(|m| needles.marks(m)));
        self.prompt = prompt;
        let mut present = vec![false; needles.len()];
        for i in self.marks.iter().flatten() {
            present[*i] = true;
        }
        present
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
