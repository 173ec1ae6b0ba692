//! `POST /v1/responses`: OpenAI's Responses API, whole (`response` JSON) and streamed
//! (`response.*` SSE events), text answers and function calls.
//!
//! The conversation is rewritten as the chat-completions body a client would send for it
//! (`request`), and that body goes through the chat endpoint's admission: the same plan
//! ([`crate::Answer`]), prompt tokens, `/stats` series, fault sequence, slot queue and latency
//! model. So the same conversation and seed give the same text, tool calls, usage and token
//! timing on both endpoints; only the framing differs (`object`: the `response` object and
//! items; `stream`: the events). `/stats` counts these requests as `responses_requests`.
//!
//! # Layout
//! - `request`: the body read, and its conversation in chat form.
//! - `object`: the `response` object, output items and usage.
//! - `stream`: the SSE events.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use scenario::rng::BodyHash;

use crate::answer::Planning;
use crate::app::{Ending, Rejection, Shared, bad_request, cut_body};
use crate::attribution::{ObservedCall, Watch};
use crate::chat::{Admitted, admit_planned, generate_whole};
use crate::reject::RequestBody;
use crate::stats::LlmApi;
use crate::wire::ChatRequest;

mod object;
mod request;
mod stream;

use object::{Ids, Progress};
use request::{Echo, ResponsesRequest};

pub(crate) async fn handle(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Response {
    let created_at = s.created();
    let mut watch = s.watch(
        ObservedCall::Llm {
            model: String::new(),
        },
        &body,
    );
    let key = Shared::key(&headers);
    let (admitted, echo) = match admit(&s, &body, &key, &mut watch).await {
        Ok(admitted) => admitted,
        Err(rejection) => {
            watch.reject(&rejection);
            return rejection.into_response();
        }
    };
    if admitted.answer.stream {
        stream::response(s, admitted, echo, created_at, watch)
    } else {
        // The watch ends with the handler, once the body is built.
        whole(s, admitted, echo, created_at).await
    }
}

/// Reads the body, rewrites its conversation in chat form and admits that as the chat
/// endpoint does, counted as a Responses request. The session marker is the one found in
/// the request's own body.
async fn admit(
    s: &Shared,
    body: &[u8],
    key: &str,
    watch: &mut Watch,
) -> Result<(Admitted, Echo), Rejection> {
    let req: ResponsesRequest = serde_json::from_slice(body)
        .map_err(|err| bad_request(format!("invalid responses request: {err}")))?;
    let read = request::read(req)?;
    let chat: ChatRequest = serde_json::from_slice(&read.chat_body)
        .expect("the chat form of a request is a chat request");
    let planning = Planning {
        marker: watch.marker(),
        ..Planning::of(&s.config, &chat, BodyHash::of(&read.chat_body))
    };
    let admitted = admit_planned(s, LlmApi::Responses, &planning, key, watch).await?;
    Ok((admitted, read.echo))
}

/// A whole answer: generated as on the chat endpoint, then the `response` object, cut or
/// broken by a `truncate` or `malformed` fault as a chat body is.
async fn whole(s: Arc<Shared>, admitted: Admitted, echo: Echo, created_at: u32) -> Response {
    let (answer, ending) = generate_whole(&s, admitted).await;
    let ids = Ids::of(&answer);
    let text = answer.text();
    let times = (created_at, s.created());
    let response = object::response(&answer, &echo, &ids, &text, Progress::Done, times);
    let bytes = serde_json::to_vec(&response).expect("a response always serializes");
    let json = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )];
    match ending {
        Ending::Complete => (json, bytes).into_response(),
        Ending::Truncated => (json, cut_body(&Bytes::from(bytes))).into_response(),
        Ending::Malformed => {
            let half = bytes.len() / 2;
            (json, Bytes::from(bytes).slice(..half)).into_response()
        }
    }
}

#[cfg(test)]
mod tests;
