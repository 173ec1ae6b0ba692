//! A streamed Responses answer, read event by event as chat's chunks are.
//!
//! A token (for TTFT and the inter-token gaps, `docs/metrics.md`) is an event that carries
//! output: a non-empty `response.output_text.delta`, the opening of a function call
//! (`response.output_item.added` with a `function_call` item: it carries the call's name, as
//! chat's first tool-call piece does), or a `response.function_call_arguments.delta`. TTFT is
//! the first one's arrival, from sending; the gaps are between the following ones. The
//! opening of a message and the `*.done` events carry no new output and are not tokens.
//!
//! The stream ends well with `response.completed` (or `response.incomplete`: finish reason
//! `length`), whose `usage` gives the tokens; a body that ends without one was cut short:
//! `truncated`. `response.failed` and `error` events fail the attempt with the kind their
//! error code names (`server_error` unless it names a rate limit or the request). An event
//! of a type this reader does not use is skipped even when async-openai cannot parse it (a
//! newer event type, or a field it does not know), so a server's additions do not fail runs.

use async_openai::Client;
use async_openai::error::OpenAIError;
use async_openai::types::responses::{CreateResponse, OutputItem, Response, ResponseStreamEvent};
use futures_util::StreamExt;
use tokio::time::Instant;

use metrics::ErrorKind;

use super::super::credentials::ProviderConfig;
use super::super::service::classify;
use super::super::{Attempted, Failure, Measured};
use super::{error_event_kind, finish_reason, usage};
use crate::llm::{LlmResponse, ToolCall};

/// The event types the reader acts on: any other is skipped, parsed or not.
const USED: &[&str] = &[
    "response.output_text.delta",
    "response.output_item.added",
    "response.output_item.done",
    "response.function_call_arguments.delta",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
];

pub(super) async fn streamed(
    client: &Client<ProviderConfig>,
    body: CreateResponse,
    prompt_estimate: u32,
) -> Attempted<LlmResponse> {
    let sent = Instant::now();
    let mut stream = client
        .responses()
        .create_stream(body)
        .await
        .map_err(classify)?;
    let mut read = Reader::new(sent, prompt_estimate);
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(event) => event,
            Err(OpenAIError::JSONDeserialize(_, data)) if !used(&data) => continue,
            Err(e) => return Err(read.failure(classify(e))),
        };
        read.event(event)?;
    }
    read.finish()
}

/// Whether an event's data is of a type the reader acts on (or not an event at all).
pub(super) fn used(data: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Typed<'_>>(data).map_or(true, |t| USED.contains(&t.kind.as_ref()))
}

/// What a stream delivered so far.
pub(super) struct Reader {
    sent: Instant,
    last: Instant,
    answer: LlmResponse,
    /// The output index of each call in `answer.tool_calls`: deltas name the item by it.
    calls: Vec<u32>,
    measured: Measured,
}

impl Reader {
    pub(super) fn new(sent: Instant, prompt_estimate: u32) -> Self {
        Self {
            sent,
            last: sent,
            answer: LlmResponse::default(),
            calls: Vec::new(),
            measured: Measured {
                status: Some(200),
                tokens_in: prompt_estimate,
                ..Measured::default()
            },
        }
    }

    /// The failure `failure`, with the TTFT of what came before it.
    fn failure(&self, failure: Failure) -> Failure {
        Failure {
            ttft: self.measured.ttft,
            ..failure
        }
    }

    /// Reads one event: output is kept and timed; an end is kept; a failure ends the read.
    pub(super) fn event(&mut self, event: ResponseStreamEvent) -> Result<(), Failure> {
        match event {
            ResponseStreamEvent::ResponseOutputTextDelta(d) if !d.delta.is_empty() => {
                self.answer.content.push_str(&d.delta);
                self.token();
            }
            ResponseStreamEvent::ResponseOutputItemAdded(e) => {
                if let OutputItem::FunctionCall(f) = e.item {
                    let call = self.call(e.output_index);
                    call.id = f.call_id;
                    call.name = f.name;
                    call.arguments.push_str(&f.arguments);
                    self.token();
                }
            }
            ResponseStreamEvent::ResponseFunctionCallArgumentsDelta(d) => {
                self.call(d.output_index).arguments.push_str(&d.delta);
                self.token();
            }
            ResponseStreamEvent::ResponseOutputItemDone(e) => {
                // The call as it ended: whole, whatever its deltas carried.
                if let OutputItem::FunctionCall(f) = e.item {
                    let call = self.call(e.output_index);
                    call.id = f.call_id;
                    call.name = f.name;
                    call.arguments = f.arguments;
                }
            }
            ResponseStreamEvent::ResponseCompleted(e) => self.end(&e.response)?,
            ResponseStreamEvent::ResponseIncomplete(e) => self.end(&e.response)?,
            ResponseStreamEvent::ResponseFailed(e) => {
                // Its error's code names the kind; without one (or with a status that is
                // not `failed`), a server error.
                let failed = finish_reason(&e.response, false).err();
                return Err(
                    self.failure(failed.unwrap_or_else(|| Failure::new(ErrorKind::ServerError)))
                );
            }
            ResponseStreamEvent::ResponseError(e) => {
                return Err(self.failure(Failure::new(error_event_kind(e.code.as_deref()))));
            }
            _ => {}
        }
        Ok(())
    }

    /// The call at `output_index`, opened if its opening was not seen.
    fn call(&mut self, output_index: u32) -> &mut ToolCall {
        let i = match self.calls.iter().position(|&at| at == output_index) {
            Some(i) => i,
            None => {
                self.calls.push(output_index);
                self.answer.tool_calls.push(ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        &mut self.answer.tool_calls[i]
    }

    /// A token arrived now.
    fn token(&mut self) {
        let now = Instant::now();
        match self.measured.ttft {
            None => self.measured.ttft = Some(now - self.sent),
            Some(_) => self.measured.inter_token.push(now - self.last),
        }
        self.last = now;
    }

    /// The stream's last event, with the response as it ended: its usage and status.
    fn end(&mut self, response: &Response) -> Result<(), Failure> {
        let calls = !self.answer.tool_calls.is_empty();
        let reason = finish_reason(response, calls).map_err(|f| self.failure(f))?;
        self.answer.finish_reason = Some(reason);
        let tokens = usage(response.usage.as_ref(), self.measured.tokens_in);
        self.measured.tokens_in = tokens.tokens_in;
        self.measured.tokens_out = tokens.tokens_out;
        Ok(())
    }

    /// The answer, once the body ended: whole only if its end event came.
    pub(super) fn finish(self) -> Attempted<LlmResponse> {
        if self.answer.finish_reason.is_none() {
            return Err(self.failure(Failure::new(ErrorKind::Truncated)));
        }
        Ok((self.answer, self.measured))
    }
}
