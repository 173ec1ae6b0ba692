//! `POST /v1/chat/completions`: non-streaming JSON and SSE streaming
//! (`chat.completion.chunk` events, `stream_options.include_usage`, `data: [DONE]`), text
//! answers and tool calls, timed by the latency model and degraded by faults.

use std::io;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until};

use scenario::rng::BodyHash;

use crate::answer::{Answer, Emission, Planning};
use crate::app::{Degrade, Ending, Rejection, Shared, apply_fault, bad_request, cut, cut_body};
use crate::attribution::{Injected, ObservedCall, Watch};
use crate::faults::Target;
use crate::reject::RequestBody;
use crate::stats::{InFlight, LlmApi};
use crate::wire::{
    ChatRequest, Chunk, ChunkChoice, Completion, CompletionChoice, Delta, FinishReason,
    FunctionChunk, FunctionOut, ResponseMessage, ToolCallChunk, ToolCallOut, Usage,
};

const FINGERPRINT: &str = "fp_fleetbench";

pub(crate) async fn handle(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Response {
    let mut watch = s.watch(
        ObservedCall::Llm {
            model: String::new(),
        },
        &body,
    );
    let key = Shared::key(&headers);
    let admitted = match admit(&s, LlmApi::Chat, &body, &key, &mut watch).await {
        Ok(admitted) => admitted,
        Err(rejection) => {
            watch.reject(&rejection);
            return rejection.into_response();
        }
    };
    if admitted.answer.stream {
        stream_response(s, admitted, watch)
    } else {
        // The watch ends with the handler, once the body is built.
        json_response(s, admitted).await
    }
}

/// A request that gets an answer: its plan, how the answer degrades, and its mark in
/// `/stats`, held for the life of the answer.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) answer: Answer,
    pub(crate) degrade: Degrade,
    pub(crate) in_flight: InFlight,
}

/// Everything before generation, the same for HTTP and the direct path: read and validate
/// the body, plan the answer (from the body's bytes, so a request gets the same answer either
/// way), count it in `/stats` under the key's fingerprint and `api`, decide and apply its
/// fault. `watch` carries the request's session marker into the plan (tool arguments) and
/// notes the plan and fault for attribution; the direct path's is off.
pub(crate) async fn admit(
    s: &Shared,
    api: LlmApi,
    body: &[u8],
    key: &str,
    watch: &mut Watch,
) -> Result<Admitted, Rejection> {
    let req: ChatRequest = serde_json::from_slice(body)
        .map_err(|err| bad_request(format!("invalid chat completion request: {err}")))?;
    if req.messages.is_empty() {
        return Err(empty());
    }
    let planning = Planning {
        marker: watch.marker(),
        ..Planning::of(&s.config, &req, BodyHash::of(body))
    };
    admit_planned(s, api, &planning, key, watch).await
}

/// The rejection of a request without messages.
pub(crate) fn empty() -> Rejection {
    bad_request("`messages` is empty: send at least one message".to_owned())
}

/// [`admit`] once the request is read and validated: plan the answer, count it in `/stats`,
/// decide and apply its fault (both APIs draw from the one LLM fault sequence).
pub(crate) async fn admit_planned(
    s: &Shared,
    api: LlmApi,
    planning: &Planning<'_>,
    key: &str,
    watch: &mut Watch,
) -> Result<Admitted, Rejection> {
    let answer = Answer::plan_parsed(&s.config, planning);
    watch.answered(
        &answer.model,
        answer.prompt_tokens,
        answer.completion_tokens(),
    );
    let in_flight = s.stats.llm(
        api,
        key,
        &answer.model,
        answer.prompt_tokens,
        answer.completion_tokens(),
    );
    let fault = s.faults.decide(
        Target::Chat {
            model: &answer.model,
        },
        s.elapsed(),
    );
    if let Some(fault) = fault {
        watch.inject(Injected::Fault(fault.kind));
    }
    let degrade = apply_fault(s, fault).await?;
    Ok(Admitted {
        answer,
        degrade,
        in_flight,
    })
}

/// Generates a non-streamed answer: holds a generation slot (queueing for one, FIFO) from the
/// first token to the last, then frees it and the request's in-flight mark, as the body is
/// ready to be written.
pub(crate) async fn generate_whole(s: &Shared, admitted: Admitted) -> (Answer, Ending) {
    let Admitted {
        answer,
        degrade,
        in_flight,
    } = admitted;
    let slot = acquire(s).await;
    sleep_until(Instant::now() + degrade.slow_first + answer.timing.total()).await;
    drop(slot);
    drop(in_flight);
    (answer, degrade.ending)
}

/// When the first token of a stream is due, once a slot is held: prefill, the base latency
/// and any slow-first-token delay from now.
pub(crate) fn first_due(answer: &Answer, degrade: Degrade) -> Instant {
    Instant::now() + degrade.slow_first + answer.timing.ttft()
}

/// The token a `truncate` fault cuts the stream before, or a `malformed` fault replaces: the
/// middle one (the first when there is at most one).
pub(crate) fn fault_index(emissions: usize) -> usize {
    emissions / 2
}

fn usage(answer: &Answer) -> Usage {
    let completion = answer.completion_tokens();
    Usage {
        prompt_tokens: answer.prompt_tokens,
        completion_tokens: completion,
        total_tokens: answer.prompt_tokens.saturating_add(completion),
    }
}

async fn json_response(s: Arc<Shared>, admitted: Admitted) -> Response {
    let (answer, ending) = generate_whole(&s, admitted).await;
    let text = answer.text();
    let tool_calls: Vec<ToolCallOut<'_>> = answer
        .tool_calls
        .iter()
        .map(|c| ToolCallOut {
            id: &c.id,
            kind: "function",
            function: FunctionOut {
                name: &c.name,
                arguments: &c.arguments,
            },
        })
        .collect();
    let content = tool_calls.is_empty().then_some(text.as_str());
    let completion = Completion {
        id: &answer.id,
        object: "chat.completion",
        created: s.created(),
        model: &answer.model,
        system_fingerprint: FINGERPRINT,
        choices: [CompletionChoice {
            index: 0,
            message: ResponseMessage {
                role: "assistant",
                content,
                refusal: None,
                tool_calls,
            },
            finish_reason: answer.finish_reason,
            logprobs: None,
        }],
        usage: usage(&answer),
    };
    let bytes = serde_json::to_vec(&completion).expect("a completion always serializes");
    let json = HeaderValue::from_static("application/json");
    match ending {
        Ending::Complete => ([(header::CONTENT_TYPE, json)], bytes).into_response(),
        Ending::Truncated => (
            [(header::CONTENT_TYPE, json)],
            cut_body(&Bytes::from(bytes)),
        )
            .into_response(),
        Ending::Malformed => {
            let cut = bytes.len() / 2;
            (
                [(header::CONTENT_TYPE, json)],
                Bytes::from(bytes).slice(..cut),
            )
                .into_response()
        }
    }
}

pub(crate) async fn acquire(s: &Shared) -> OwnedSemaphorePermit {
    s.slots
        .clone()
        .acquire_owned()
        .await
        .expect("the slot semaphore is never closed")
}

/// Where a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a generation slot.
    Queue,
    /// Sending token `next` (and any others already due).
    Emit,
    /// The frame before the cut was sent; the cut comes next.
    Truncated,
    /// Sending the chunk with `finish_reason`.
    Finish,
    /// Sending the usage chunk.
    Usage,
    /// Sending `[DONE]`.
    Done,
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
    /// Attribution's watch: recorded when the stream ends or the client drops it.
    watch: Watch,
}

fn stream_response(s: Arc<Shared>, admitted: Admitted, watch: Watch) -> Response {
    let Admitted {
        answer,
        degrade,
        in_flight,
    } = admitted;
    let emissions = answer.emissions();
    let state = StreamState {
        shared: s,
        answer,
        emissions,
        degrade,
        phase: Phase::Queue,
        next: 0,
        due: Instant::now(),
        slot: None,
        _in_flight: in_flight,
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
            Phase::Queue => {
                st.slot = Some(acquire(&st.shared).await);
                st.due = first_due(&st.answer, st.degrade);
                st.phase = Phase::Emit;
            }
            Phase::Emit => {
                if st.due > Instant::now() {
                    sleep_until(st.due).await;
                }
                // Every token already due goes out in one frame: a server flushes what it has,
                // and one write per token would cost a syscall each when gaps are tiny.
                let mut frame = Vec::with_capacity(256);
                loop {
                    let i = st.next;
                    let at_fault = i == fault_index(st.emissions.len());
                    if st.degrade.ending == Ending::Truncated && at_fault {
                        st.phase = Phase::End;
                        if frame.is_empty() {
                            return Some((Err(cut().await), st));
                        }
                        // Send what was due, then fail on the next poll.
                        st.phase = Phase::Truncated;
                        break;
                    }
                    if st.degrade.ending == Ending::Malformed && at_fault {
                        frame.extend_from_slice(MALFORMED);
                    } else {
                        emission_chunk(&st, i, &mut frame);
                    }
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
                st.phase = if st.answer.include_usage {
                    Phase::Usage
                } else {
                    Phase::Done
                };
                let mut frame = Vec::with_capacity(192);
                chunk(
                    &st,
                    Some(Delta::default()),
                    Some(st.answer.finish_reason),
                    None,
                    &mut frame,
                );
                return Some((Ok(Bytes::from(frame)), st));
            }
            Phase::Usage => {
                st.phase = Phase::Done;
                let mut frame = Vec::with_capacity(192);
                chunk(&st, None, None, Some(usage(&st.answer)), &mut frame);
                return Some((Ok(Bytes::from(frame)), st));
            }
            Phase::Done => {
                st.phase = Phase::End;
                st.slot = None;
                st.watch.finish();
                return Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), st));
            }
            Phase::End => return None,
        }
    }
}

/// A chunk that is not valid JSON, for the `malformed` fault.
const MALFORMED: &[u8] =
    b"data: {\"id\":\"chatcmpl-malformed\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":\"unterminated\n\n";

/// Appends the chunk of token `i`; an answer with no tokens still sends one empty first chunk.
fn emission_chunk(st: &StreamState, i: usize, out: &mut Vec<u8>) {
    let answer = &st.answer;
    let role = (i == 0).then_some("assistant");
    let mut delta = Delta {
        role,
        ..Delta::default()
    };
    // Words after the first carry their separating space, as real token text does, so the
    // deltas concatenate to exactly the non-streamed text.
    let spaced;
    match st.emissions.get(i) {
        Some(Emission::Word(0)) => delta.content = Some(answer.words[0]),
        Some(Emission::Word(w)) => {
            spaced = format!(" {}", answer.words[*w]);
            delta.content = Some(&spaced);
        }
        Some(Emission::CallStart(c)) => {
            let call = &answer.tool_calls[*c];
            delta.tool_calls.push(ToolCallChunk {
                index: u32::try_from(*c).unwrap_or(u32::MAX),
                id: Some(&call.id),
                kind: Some("function"),
                function: FunctionChunk {
                    name: Some(&call.name),
                    arguments: "",
                },
            });
        }
        Some(Emission::CallArgs { call, start, end }) => {
            delta.tool_calls.push(ToolCallChunk {
                index: u32::try_from(*call).unwrap_or(u32::MAX),
                id: None,
                kind: None,
                function: FunctionChunk {
                    name: None,
                    arguments: &answer.tool_calls[*call].arguments[*start..*end],
                },
            });
        }
        None => delta.content = Some(""),
    }
    chunk(st, Some(delta), None, None, out);
}

/// Appends one SSE event, `data: {chunk}\n\n`. `delta = None` sends `choices: []` (the
/// usage chunk).
fn chunk(
    st: &StreamState,
    delta: Option<Delta<'_>>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    out: &mut Vec<u8>,
) {
    let choices = delta
        .map(|delta| {
            vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }]
        })
        .unwrap_or_default();
    let chunk = Chunk {
        id: &st.answer.id,
        object: "chat.completion.chunk",
        created: st.shared.created(),
        model: &st.answer.model,
        system_fingerprint: FINGERPRINT,
        choices,
        usage,
    };
    out.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut *out, &chunk).expect("a chunk always serializes");
    out.extend_from_slice(b"\n\n");
}
