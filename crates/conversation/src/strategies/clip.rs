//! `clip`. Per-output head/tail clip: each tool output longer than `clip_tokens` keeps about
//! `clip_tokens / 2` tokens from its start and as many from its end, cut on a line break (or
//! else a space) near the cut, with a marker between them naming the tokens elided:
//! `[... 1,234 tokens elided ...]`. Errors and summaries tend to sit at the two ends of a
//! command's output, the middle is what goes. The message's origin becomes
//! [`Origin::Reduced`]; outputs already reduced are not clipped again, so it is idempotent.
//! `ctx.target_tokens` is not read.
//!
//! Cuts are found with `ctx.counter` without tokenizing character by character: a first guess
//! from the output's bytes per token, a few secant steps, then bisection, each step counting
//! one candidate piece of about `clip_tokens / 2` tokens (five or six counts an output on
//! ordinary text). Measured on 750 messages with 250 long outputs: 0.3 ms under `chars/4`,
//! 90 ms under o200k, a seventh of what counting the conversation once costs.
//!
//! From fak #3204 (`elideHeadTail`) and OpenHands' `maybe_truncate` of long observations
//! (research doc §7.5).
//!
//! Parameters: `clip_tokens` (tokens kept of one tool output, head and tail together;
//! default 400).

use scenario::compression::{ClipConfig, StrategyName};

use crate::message::{Message, Origin, Role};
use crate::message_units::{original_tokens, reduce, thousands};
use crate::strategy::{Ctx, Strategy};
use crate::tokens::TokenCounter;

/// `clip`.
#[derive(Clone, Debug)]
pub struct Clip {
    /// Tokens kept of one tool output, head and tail together.
    pub clip_tokens: u32,
}

impl Clip {
    /// From its parameters in the scenario's `[compression]`.
    pub fn new(c: ClipConfig) -> Self {
        Self {
            clip_tokens: c.clip_tokens,
        }
    }
}

impl Strategy for Clip {
    fn name(&self) -> &'static str {
        StrategyName::Clip.as_str()
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        for m in messages
            .iter_mut()
            .filter(|m| m.role == Role::Tool && m.origin == Origin::Original)
        {
            let tokens = original_tokens(m);
            if tokens <= self.clip_tokens {
                continue;
            }
            if let Some(text) = clip(&m.content, tokens, self.clip_tokens, ctx.counter) {
                reduce(m, text, ctx.counter);
            }
        }
    }
}

/// `text`, `tokens` long, cut to about `keep` tokens of head and tail around an elision
/// marker; `None` when there is nothing to elide.
fn clip(text: &str, tokens: u32, keep: u32, counter: &dyn TokenCounter) -> Option<String> {
    let bytes_per_token = text.len() as f64 / f64::from(tokens.max(1));
    let head = longest(text.len(), bytes_per_token, keep / 2, |k| {
        counter.count(&text[..text.floor_char_boundary(k)])
    });
    let head = snap_back(text, text.floor_char_boundary(head));
    let tail = longest(text.len() - head, bytes_per_token, keep - keep / 2, |k| {
        counter.count(&text[text.ceil_char_boundary(text.len() - k)..])
    });
    let tail = snap_forward(text, text.ceil_char_boundary(text.len() - tail));
    if tail <= head {
        return None;
    }
    let (head, tail) = (&text[..head], &text[tail..]);
    let elided = tokens.saturating_sub(counter.count(head) + counter.count(tail));
    let mut out = String::with_capacity(head.len() + tail.len() + 40);
    if !head.is_empty() {
        out.push_str(head);
        out.push('\n');
    }
    out.push_str(&format!(
        "[... {} tokens elided ...]",
        thousands(elided.into())
    ));
    if !tail.is_empty() {
        out.push('\n');
        out.push_str(tail);
    }
    Some(out)
}

/// The largest length `k <= max` whose piece counts at most `budget` tokens by `measure`
/// (counts grow with length), to within about 3 %: a guess from `bytes_per_token`, up to four
/// secant steps (one or two do on ordinary text), then bisection of the bracket left.
fn longest(max: usize, bytes_per_token: f64, budget: u32, measure: impl Fn(usize) -> u32) -> usize {
    // `lo` fits; `hi` does not, or lies past the end.
    let (mut lo, mut hi) = (0, max + 1);
    let close_enough = budget - budget / 32;
    let mut k = (f64::from(budget) * bytes_per_token) as usize;
    for _ in 0..4 {
        if k <= lo || k >= hi {
            break;
        }
        let count = measure(k);
        if count <= budget {
            lo = k;
            if count >= close_enough {
                return lo;
            }
        } else {
            hi = k;
        }
        k = (k as f64 * f64::from(budget) / f64::from(count.max(1))) as usize;
    }
    while hi - lo > (lo / 32).max(1) {
        let mid = lo + (hi - lo) / 2;
        if measure(mid) <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Where a head ending at `end` ends once moved back to a line break, or else a space, within
/// its last quarter (the break itself is dropped); `end` when there is none.
fn snap_back(text: &str, end: usize) -> usize {
    let from = end - end / 4;
    let window = &text.as_bytes()[from..(end + 1).min(text.len())];
    let at = window.iter().rposition(|&b| b == b'\n');
    let at = at.or_else(|| window.iter().rposition(u8::is_ascii_whitespace));
    at.map_or(end, |i| from + i)
}

/// Where a tail starting at `start` starts once moved forward past a line break, or else a
/// space, within its first quarter; `start` when there is none.
fn snap_forward(text: &str, start: usize) -> usize {
    let from = start.saturating_sub(1);
    let window = &text.as_bytes()[from..start + (text.len() - start) / 4];
    let at = window.iter().position(|&b| b == b'\n');
    let at = at.or_else(|| window.iter().position(u8::is_ascii_whitespace));
    at.map_or(start, |i| from + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::PER_MESSAGE_TOKENS;
    use crate::message_units::fixtures::{C, lines, round, run, run_with, session};
    use crate::strategy::total_tokens;
    use crate::tokens::Tiktoken;

    fn clipped(output: &str, clip_tokens: u32) -> Message {
        let mut before = session(0, 0);
        before.extend(round(&[("a", "run_tests", "{}", output)]));
        run(&mut Clip { clip_tokens }, &before, 0).remove(3)
    }

    #[test]
    fn keeps_head_and_tail_on_line_breaks() {
        let output = lines("t", 200);
        let m = clipped(&output, 100);
        let (head, rest) = m.content.split_once("\n[... ").expect("a marker");
        let (marker, tail) = rest.split_once(" ...]\n").expect("a marker");
        assert!(output.starts_with(head) && output.ends_with(tail));
        assert!(output.contains(&format!("{head}\n")) && output.contains(&format!("\n{tail}")));
        let (h, t) = (C.count(head), C.count(tail));
        assert!((40..=50).contains(&h) && (40..=50).contains(&t), "{h} {t}");
        let original = C.count(&output);
        assert_eq!(
            m.origin,
            Origin::Reduced {
                original_tokens: original
            }
        );
        let elided: u32 = marker
            .trim_end_matches(" tokens elided")
            .replace(',', "")
            .parse()
            .expect("a number");
        assert_eq!(elided, original - h - t);
        assert!(m.tokens < 110 + PER_MESSAGE_TOKENS);
    }

    #[test]
    fn cuts_words_or_characters_when_there_are_no_lines() {
        let words = "alpha beta gamma delta ".repeat(100);
        let m = clipped(words.trim_end(), 40);
        let head = m.content.split_once('\n').expect("a head").0;
        assert!(
            words.starts_with(&format!("{head} ")),
            "cut on a space: {head:?}"
        );
        // No white space at all, and multi-byte characters: cut anywhere, still valid.
        for text in ["x".repeat(4000), "é🦀".repeat(1500)] {
            let m = clipped(&text, 40);
            assert!(m.content.contains("tokens elided") && m.tokens < 60);
        }
    }

    #[test]
    fn short_outputs_reruns_and_zero_budgets() {
        let before = session(4, 5);
        assert_eq!(run(&mut Clip { clip_tokens: 400 }, &before, 0), before);
        let long = session(4, 100);
        let once = run(&mut Clip { clip_tokens: 50 }, &long, 0);
        assert!(total_tokens(&once) < total_tokens(&long));
        assert_eq!(run(&mut Clip { clip_tokens: 50 }, &once, 0), once);
        let m = clipped(&lines("z", 50), 0);
        assert!(m.content.starts_with("[... ") && m.content.ends_with(" tokens elided ...]"));
        assert!(run(&mut Clip { clip_tokens: 0 }, &[], 0).is_empty());
    }

    #[test]
    fn measures_with_the_real_tokenizer() {
        let counter = Tiktoken::O200k;
        let output = (0..300)
            .map(|i| format!("test module_{i}::case_{i} ... ok ({i} ms)"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut before = vec![
            Message::system("sys", &counter),
            Message::user("run the tests", &counter),
        ];
        before.push(Message::assistant(
            "",
            vec![crate::message_units::fixtures::call("a", "run_tests", "{}")],
            &counter,
        ));
        before.push(Message::tool("a", "run_tests", output, &counter));
        let after = run_with(&mut Clip { clip_tokens: 200 }, &before, 0, &counter);
        let content_tokens = after[3].tokens - PER_MESSAGE_TOKENS;
        assert!((180..=230).contains(&content_tokens), "{content_tokens}");
        assert!(
            after[3].content.contains("module_0::") && after[3].content.contains("module_299::")
        );
    }
}
