//! A streamed Responses answer: `event: TYPE` / `data: JSON` pairs, each with its `type` and a
//! `sequence_number` from 0.
//!
//! `response.created` and `response.in_progress` go out at once. Then, token by token at the
//! times and in the write batches of the chat stream (`chat::step`, which this follows step
//! for step): a text answer opens its message (`response.output_item.added`,
//! `response.content_part.added`) with its first token, and each token is a
//! `response.output_text.delta`; a function call opens its item with its first token and each
//! further token is a `response.function_call_arguments.delta`. After the last token the open
//! item is closed (`…text.done`, `…content_part.done` / `…arguments.done`, then
//! `response.output_item.done`; a call is closed when the next one opens), and
//! `response.completed` (`response.incomplete` when `max_output_tokens` cut the text) carries
//! the whole response with its usage. Nothing follows it: OpenAI sends no `data: [DONE]` on
//! this API, and clients stop at the end of the body.

use std::io;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until};

use crate::answer::{Answer, Emission};
use crate::app::{Degrade, Ending, Shared, cut};
use crate::attribution::Watch;
use crate::chat::{Admitted, acquire, fault_index, first_due};
use crate::responses::object::{self, Ids, Item, ItemState, OutputText, Progress};
use crate::responses::request::Echo;
use crate::stats::InFlight;

/// Where a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Sending `response.created` and `response.in_progress`.
    Start,
    /// Waiting for a generation slot.
    Queue,
    /// Sending token `next` (and any others already due).
    Emit,
    /// The frame before the cut was sent; the cut comes next.
    Truncated,
    /// Closing the open item and sending `response.completed`.
    Finish,
    /// Nothing more.
    End,
}

struct StreamState {
    shared: Arc<Shared>,
    answer: Answer,
    emissions: Vec<Emission>,
    degrade: Degrade,
    phase: Phase,
    next: usize,
    /// When the next token is due (absolute, so delays never drift).
    due: Instant,
    slot: Option<OwnedSemaphorePermit>,
    _in_flight: InFlight,
    echo: Echo,
    ids: Ids,
    /// The answer's whole text, which the done events carry.
    text: String,
    created_at: u32,
    events: Events,
    /// The output item opened last and not yet closed.
    open: Option<usize>,
    /// Attribution's watch: recorded when the stream ends or the client drops it.
    watch: Watch,
}

pub(super) fn response(
    s: Arc<Shared>,
    admitted: Admitted,
    echo: Echo,
    created_at: u32,
    watch: Watch,
) -> Response {
    let Admitted {
        answer,
        degrade,
        in_flight,
    } = admitted;
    let state = StreamState {
        shared: s,
        emissions: answer.emissions(),
        ids: Ids::of(&answer),
        text: answer.text(),
        answer,
        degrade,
        phase: Phase::Start,
        next: 0,
        due: Instant::now(),
        slot: None,
        _in_flight: in_flight,
        echo,
        created_at,
        events: Events::default(),
        open: None,
        watch,
    };
    let body = Body::from_stream(stream::unfold(state, step));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body).into_response()
}

async fn step(mut st: StreamState) -> Option<(Result<Bytes, io::Error>, StreamState)> {
    loop {
        match st.phase {
            Phase::Start => {
                st.phase = Phase::Queue;
                let mut frame = Vec::with_capacity(2048);
                st.whole("response.created", Progress::InProgress, &mut frame);
                st.whole("response.in_progress", Progress::InProgress, &mut frame);
                return Some((Ok(Bytes::from(frame)), st));
            }
            Phase::Queue => {
                st.slot = Some(acquire(&st.shared).await);
                st.due = first_due(&st.answer, st.degrade);
                st.phase = Phase::Emit;
            }
            Phase::Emit => {
                if st.due > Instant::now() {
                    sleep_until(st.due).await;
                }
                // As on the chat stream: every token already due goes out in one frame.
                let mut frame = Vec::with_capacity(512);
                loop {
                    let i = st.next;
                    let at_fault = i == fault_index(st.emissions.len());
                    if st.degrade.ending == Ending::Truncated && at_fault {
                        st.phase = Phase::End;
                        if frame.is_empty() {
                            return Some((Err(cut().await), st));
                        }
                        st.phase = Phase::Truncated;
                        break;
                    }
                    let broken = st.degrade.ending == Ending::Malformed && at_fault;
                    st.emission(i, broken, &mut frame);
                    st.next += 1;
                    if st.next == st.emissions.len().max(1) {
                        st.phase = Phase::Finish;
                        break;
                    }
                    st.due += st.answer.timing.gaps[st.next - 1];
                    if st.due > Instant::now() {
                        break;
                    }
                }
                return Some((Ok(Bytes::from(frame)), st));
            }
            Phase::Truncated => {
                st.phase = Phase::End;
                return Some((Err(cut().await), st));
            }
            Phase::Finish => {
                st.phase = Phase::End;
                let mut frame = Vec::with_capacity(2048);
                st.close(&mut frame);
                let kind = if st.answer.finish_reason == crate::FinishReason::Length {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                st.whole(kind, Progress::Done, &mut frame);
                st.slot = None;
                st.watch.finish();
                return Some((Ok(Bytes::from(frame)), st));
            }
            Phase::End => return None,
        }
    }
}

/// An event whose data is not valid JSON, for the `malformed` fault.
const MALFORMED: &[u8] = b"event: response.output_text.delta\n\
    data: {\"type\":\"response.output_text.delta\",\"delta\":\"unterminated\n\n";

/// Numbers and writes events.
#[derive(Debug, Default)]
struct Events {
    /// The next event's `sequence_number`.
    sequence: u64,
}

impl Events {
    /// Appends `event: kind` and `data: {"type": kind, "sequence_number": n, ...body}`.
    fn write(&mut self, kind: &'static str, body: &impl Serialize, out: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct Event<'a, T> {
            #[serde(rename = "type")]
            kind: &'static str,
            sequence_number: u64,
            #[serde(flatten)]
            body: &'a T,
        }
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        let event = Event {
            kind,
            sequence_number: self.sequence,
            body,
        };
        serde_json::to_writer(&mut *out, &event).expect("an event always serializes");
        out.extend_from_slice(b"\n\n");
        self.sequence += 1;
    }

    /// Appends [`MALFORMED`] in place of an event, taking its number.
    fn malformed(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(MALFORMED);
        self.sequence += 1;
    }
}

impl StreamState {
    /// An event carrying the whole `response`.
    fn whole(&mut self, kind: &'static str, progress: Progress, out: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct Whole<'a> {
            response: object::ResponseObject<'a>,
        }
        let times = (self.created_at, self.shared.created());
        let response = object::response(
            &self.answer,
            &self.echo,
            &self.ids,
            &self.text,
            progress,
            times,
        );
        self.events.write(kind, &Whole { response }, out);
    }

    /// Appends the events of token `i` (for an answer without tokens, of its empty message);
    /// `broken`: its delta, or the opening of its call, is replaced by [`MALFORMED`].
    fn emission(&mut self, i: usize, broken: bool, out: &mut Vec<u8>) {
        let emission = self.emissions.get(i).copied();
        let index = match emission {
            Some(Emission::CallStart(c) | Emission::CallArgs { call: c, .. }) => c,
            Some(Emission::Word(_)) | None => 0,
        };
        if self.open.is_some_and(|open| open != index) {
            self.close(out);
        }
        let opens_with_token = matches!(emission, Some(Emission::CallStart(_)));
        if self.open.is_none() && !opens_with_token {
            // A message opens before its first delta; a call opens with its first token.
            self.open_item(index, out);
        }
        if broken {
            self.open = Some(index);
            self.events.malformed(out);
            return;
        }
        match emission {
            Some(Emission::Word(w)) => {
                let word = self.answer.words[w];
                let spaced;
                let delta = if w == 0 {
                    word
                } else {
                    spaced = format!(" {word}");
                    &spaced
                };
                let delta = TextDelta {
                    item_id: &self.ids.message,
                    output_index: 0,
                    content_index: 0,
                    delta,
                    logprobs: [],
                };
                self.events.write("response.output_text.delta", &delta, out);
            }
            Some(Emission::CallStart(_)) => self.open_item(index, out),
            Some(Emission::CallArgs { call, start, end }) => {
                let delta = ArgsDelta {
                    item_id: &self.ids.calls[call],
                    output_index: index,
                    delta: &self.answer.tool_calls[call].arguments[start..end],
                };
                self.events
                    .write("response.function_call_arguments.delta", &delta, out);
            }
            None => {}
        }
    }

    /// Opens output item `index`: `response.output_item.added`, and for a message its
    /// `response.content_part.added`.
    fn open_item(&mut self, index: usize, out: &mut Vec<u8>) {
        self.open = Some(index);
        let item = object::item(&self.answer, &self.ids, index, &self.text, ItemState::Added);
        let is_message = matches!(item, Item::Message { .. });
        let added = ItemEvent {
            output_index: index,
            item,
        };
        self.events.write("response.output_item.added", &added, out);
        if is_message {
            let part = PartEvent {
                item_id: &self.ids.message,
                output_index: index,
                content_index: 0,
                part: OutputText::of(""),
            };
            self.events.write("response.content_part.added", &part, out);
        }
    }

    /// Closes the open output item, if any: the done events of its text or arguments, then
    /// `response.output_item.done`.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(index) = self.open.take() else {
            return;
        };
        let item = object::item(&self.answer, &self.ids, index, &self.text, ItemState::Done);
        match &item {
            Item::Message { id, .. } => {
                let done = TextDone {
                    item_id: id,
                    output_index: index,
                    content_index: 0,
                    text: &self.text,
                    logprobs: [],
                };
                self.events.write("response.output_text.done", &done, out);
                let part = PartEvent {
                    item_id: id,
                    output_index: index,
                    content_index: 0,
                    part: OutputText::of(&self.text),
                };
                self.events.write("response.content_part.done", &part, out);
            }
            Item::FunctionCall {
                id,
                arguments,
                name,
                ..
            } => {
                let done = ArgsDone {
                    item_id: id,
                    output_index: index,
                    name,
                    arguments,
                };
                self.events
                    .write("response.function_call_arguments.done", &done, out);
            }
        }
        let done = ItemEvent {
            output_index: index,
            item,
        };
        self.events.write("response.output_item.done", &done, out);
    }
}

#[derive(Serialize)]
struct ItemEvent<'a> {
    output_index: usize,
    item: Item<'a>,
}

#[derive(Serialize)]
struct PartEvent<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    part: OutputText<'a>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    delta: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct TextDone<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    text: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct ArgsDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    delta: &'a str,
}

#[derive(Serialize)]
struct ArgsDone<'a> {
    item_id: &'a str,
    output_index: usize,
    name: &'a str,
    arguments: &'a str,
}

#[cfg(test)]
mod tests;
