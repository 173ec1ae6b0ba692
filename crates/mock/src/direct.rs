//! Chat answers for in-process callers without the wire: [`MockServer::chat_direct`].
//!
//! Why: under the virtual clock the whole fleet and the mock share one thread, and a streamed
//! answer through the router costs CPU per token: a chunk serialized as SSE, sent through the
//! body, parsed back by the client's event-stream decoder and JSON parser, and a timer wakeup
//! each, which made the mock most of a virtual run's cost. The direct path runs the same
//! admission as `POST /v1/chat/completions` (parse, validate, plan, `/stats`, faults) and the
//! same latency model and slot queue, but hands over the planned answer with the time each
//! token would have reached the client, sleeping only until the first token and until the
//! end. The live clock still goes over HTTP, so the wire format is exercised wherever timing
//! is real; the router stays the reference the direct path is tested against.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::answer::Answer;
use crate::app::{Ending, MockServer, Rejection, Shared};
use crate::attribution::Watch;
use crate::chat::{Admitted, acquire, admit, fault_index, first_due, generate_whole};
use crate::stats::{LlmApi, key_fingerprint};

/// An answer as a client receives it, without the wire.
#[derive(Clone, Debug)]
pub struct ChatDelivery {
    /// The planned answer: text, tool calls, finish reason, usage (`prompt_tokens` and
    /// [`Answer::completion_tokens`]), and whether it was streamed.
    pub answer: Answer,
    /// For a stream, when each token reached the client, in order, up to a fault: token `i`
    /// is a word of the text or a piece of a tool call, as [`Answer`] streams them. Tokens
    /// that would share one network read share one instant. Empty for a non-streamed answer.
    pub arrivals: Vec<Instant>,
    /// How the response ended.
    pub ending: Ending,
    /// When the response ended: its last byte (for a stream, with its last token), the cut
    /// of a `truncate` fault, or the broken chunk of a `malformed` one.
    pub ended: Instant,
}

impl MockServer {
    /// Answers a chat completion request body in-process, as `POST /v1/chat/completions`
    /// would, without HTTP or SSE: the same answer for the same bytes, the same `/stats`, the
    /// same faults (a rejection for a status, a reset or a `stall`'s end), the same queue
    /// for a generation slot and the same timing. The future completes when the response
    /// would have ended, holding the slot until then; a `stall` completes only at
    /// `stall_limit` or shutdown, so a caller's timeout fires first. Dropping the future
    /// frees the slot, like a client going away. `api_key` is the bearer token, for `/stats`.
    pub async fn chat_direct(
        &self,
        body: &[u8],
        api_key: Option<&str>,
    ) -> Result<ChatDelivery, Rejection> {
        self.chat_direct_as(LlmApi::Chat, body, api_key).await
    }

    /// [`MockServer::chat_direct`] for a call that stands for a request to `api`: `/stats`
    /// counts it under that API's requests (`responses_requests` for
    /// [`LlmApi::Responses`]); the answer, faults and timing are the chat body's, as
    /// `POST /v1/responses` gives them for the same conversation. The body stays in the chat
    /// form: in-process there is no wire, so no Responses framing to build and parse.
    pub async fn chat_direct_as(
        &self,
        api: LlmApi,
        body: &[u8],
        api_key: Option<&str>,
    ) -> Result<ChatDelivery, Rejection> {
        let s = &*self.shared;
        let admitted = admit(s, api, body, &key_fingerprint(api_key), &mut Watch::off()).await?;
        deliver(s, admitted).await
    }
}

/// The answer to an admitted request, delivered when the response would have ended (see
/// [`MockServer::chat_direct`]).
pub(crate) async fn deliver(s: &Shared, admitted: Admitted) -> Result<ChatDelivery, Rejection> {
    if !admitted.answer.stream {
        let (answer, ending) = generate_whole(s, admitted).await;
        return Ok(ChatDelivery {
            answer,
            arrivals: Vec::new(),
            ending,
            ended: Instant::now(),
        });
    }
    let Admitted {
        answer,
        degrade,
        in_flight,
    } = admitted;
    let slot = acquire(s).await;
    let due = first_due(&answer, degrade);
    if due > Instant::now() {
        sleep_until(due).await;
    }
    let tokens = answer.emission_count();
    // The stream ends with its last token, or at the fault's token (a stream without
    // tokens still sends one empty chunk, when the first token would be due).
    let last = match degrade.ending {
        Ending::Complete => tokens.saturating_sub(1),
        Ending::Truncated | Ending::Malformed => fault_index(tokens),
    };
    let mut arrivals = arrivals(due, Instant::now(), &answer.timing.gaps, last + 1);
    let ended = arrivals[last];
    arrivals.truncate(match degrade.ending {
        Ending::Complete => tokens,
        Ending::Truncated | Ending::Malformed => last,
    });
    if ended > Instant::now() {
        sleep_until(ended).await;
    }
    drop(slot);
    drop(in_flight);
    Ok(ChatDelivery {
        answer,
        arrivals,
        ending: degrade.ending,
        ended,
    })
}

/// When the first `count` tokens of a stream reach the client, the first being due at `due`
/// and sent at `first`. This replays the streaming handler (`chat::step`) without its
/// sleeps: a token already due when a frame is sent goes in that frame; any other is sent
/// when tokio's timer fires for it, on the first millisecond tick at or after its due time.
/// Ticks are whole milliseconds from `first`, itself a tick (the paused clock only moves
/// from tick to tick).
fn arrivals(mut due: Instant, first: Instant, gaps: &[Duration], count: usize) -> Vec<Instant> {
    let mut out = Vec::with_capacity(count);
    out.push(first);
    let mut frame = first;
    for gap in gaps.iter().take(count.saturating_sub(1)) {
        due += *gap;
        if due > frame {
            frame = first + ceil_ms(due - first);
        }
        out.push(frame);
    }
    out
}

/// `d` rounded up to whole milliseconds.
fn ceil_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

mod prompt;

pub use prompt::{MessageParts, PromptDigest, RequestFrame};

#[cfg(test)]
mod tests;
