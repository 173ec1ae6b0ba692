//! [`HttpResponses`]: OpenAI's Responses API (`POST /v1/responses`) over HTTP, through
//! async-openai's Responses client and types with the same service as chat completions
//! (`backend::service`: our transport, our credentials, no hidden retries, the stream
//! mismatch check) and the same classification of failures. The agents' chat conversation
//! is sent as Responses input items (`request`); the answer comes back as the chat backend's
//! [`LlmResponse`], so the agents, the policies and the metrics see no difference.
//!
//! A whole answer: its output text, its function calls (each `call_id` is the
//! [`ToolCall::id`], so the agent's tool results refer to it), `usage.input_tokens` and
//! `output_tokens`, and `status` `incomplete` as the finish reason `length`. A streamed one
//! (`stream`): the events, timed as chat's chunks are.
//!
//! # Layout
//! - `request`: the chat conversation as a `CreateResponse`.
//! - `stream`: the events of a streamed answer, read for TTFT, gaps and usage.

use async_openai::Client;
use async_openai::types::chat::FinishReason;
use async_openai::types::responses::{
    CreateResponse, OutputItem, OutputMessageContent, Response, ResponseErrorCode, ResponseUsage,
    Status,
};

use metrics::ErrorKind;

use super::credentials::{Extras, ProviderConfig};
use super::service::{self, classify};
use super::{Attempted, ConversationCache, Failure, LlmBackend, Measured};
use crate::llm::{LlmRequest, LlmResponse, ToolCall};
use crate::transport::Transport;

mod request;
mod stream;
#[cfg(test)]
mod tests;

pub(crate) use request::chat_tools_as_sent;

/// One OpenAI-compatible provider over HTTP, speaking the Responses API.
#[derive(Debug)]
pub struct HttpResponses {
    client: Client<ProviderConfig>,
    model: String,
    stream: bool,
}

impl HttpResponses {
    /// The provider `name` at `base_url` (ending in `/v1`) serving `model`, its answers
    /// streamed or whole; `extras` as for [`super::HttpLlm`]: all its requests carry besides
    /// the body.
    pub(crate) fn new(
        name: &str,
        transport: Transport,
        base_url: &str,
        extras: Extras,
        model: String,
        stream: bool,
    ) -> Self {
        Self {
            client: service::client(name, transport, base_url, extras, stream),
            model,
            stream,
        }
    }

    /// The request async-openai sends for `request`.
    pub(crate) fn build(&self, request: &LlmRequest) -> Result<CreateResponse, Failure> {
        request::build(&self.model, self.stream, request).map_err(|unsupported| {
            tracing::debug!(%unsupported, "request not sent");
            Failure::new(ErrorKind::ClientError)
        })
    }
}

impl LlmBackend for HttpResponses {
    async fn attempt(
        &self,
        request: &LlmRequest,
        _conversation: &ConversationCache,
    ) -> Attempted<LlmResponse> {
        let body = self.build(request)?;
        let prompt_estimate = request.prompt_tokens;
        if self.stream {
            stream::streamed(&self.client, body, prompt_estimate).await
        } else {
            whole(&self.client, body, prompt_estimate).await
        }
    }
}

async fn whole(
    client: &Client<ProviderConfig>,
    body: CreateResponse,
    prompt_estimate: u32,
) -> Attempted<LlmResponse> {
    let response = client.responses().create(body).await.map_err(classify)?;
    let answer = answer(&response)?;
    let measured = Measured {
        status: Some(200),
        ..usage(response.usage.as_ref(), prompt_estimate)
    };
    Ok((answer, measured))
}

/// The answer a finished `response` carries, or why it is none.
fn answer(response: &Response) -> Result<LlmResponse, Failure> {
    let mut answer = LlmResponse::default();
    for item in &response.output {
        match item {
            OutputItem::Message(m) => {
                for part in &m.content {
                    if let OutputMessageContent::OutputText(t) = part {
                        answer.content.push_str(&t.text);
                    }
                }
            }
            OutputItem::FunctionCall(f) => answer.tool_calls.push(ToolCall {
                id: f.call_id.clone(),
                name: f.name.clone(),
                arguments: f.arguments.clone(),
            }),
            // Reasoning and the hosted tools' items are not the agent's answer.
            _ => {}
        }
    }
    answer.finish_reason = Some(finish_reason(response, !answer.tool_calls.is_empty())?);
    Ok(answer)
}

/// Chat's finish reason for a response's `status`: `completed` is `tool_calls` when the
/// model called tools and `stop` otherwise; `incomplete` is `length` (cut by
/// `max_output_tokens`) unless a content filter cut it. `failed` is the failure its error
/// code names; a response still `queued` or `in_progress` (or `cancelled`) is not an answer.
fn finish_reason(response: &Response, calls: bool) -> Result<FinishReason, Failure> {
    match response.status {
        Status::Completed if calls => Ok(FinishReason::ToolCalls),
        Status::Completed => Ok(FinishReason::Stop),
        Status::Incomplete => Ok(
            match response
                .incomplete_details
                .as_ref()
                .map(|d| d.reason.as_str())
            {
                Some("content_filter") => FinishReason::ContentFilter,
                _ => FinishReason::Length,
            },
        ),
        Status::Failed => Err(Failure::new(
            response
                .error
                .as_ref()
                .map_or(ErrorKind::ServerError, |e| error_kind(&e.code)),
        )),
        Status::InProgress | Status::Queued | Status::Cancelled => {
            Err(Failure::new(ErrorKind::Malformed))
        }
    }
}

/// The kind of a failed response's error code: a server error unless the code says the
/// request (`invalid_*`, a policy, an image) or a rate limit is the cause.
fn error_kind(code: &ResponseErrorCode) -> ErrorKind {
    match code {
        ResponseErrorCode::RateLimitExceeded => ErrorKind::RateLimited,
        ResponseErrorCode::ServerError
        | ResponseErrorCode::VectorStoreTimeout
        | ResponseErrorCode::Other(_) => ErrorKind::ServerError,
        _ => ErrorKind::ClientError,
    }
}

/// The kind of a stream's `error` event, by its code as [`error_kind`] reads it.
fn error_event_kind(code: Option<&str>) -> ErrorKind {
    code.and_then(|c| serde_json::from_value(serde_json::Value::from(c)).ok())
        .map_or(ErrorKind::ServerError, |c| error_kind(&c))
}

/// Tokens from `usage`, else the caller's estimate in and none out (as chat).
fn usage(usage: Option<&ResponseUsage>, prompt_estimate: u32) -> Measured {
    Measured {
        tokens_in: usage.map_or(prompt_estimate, |u| u.input_tokens),
        tokens_out: usage.map_or(0, |u| u.output_tokens),
        ..Measured::default()
    }
}
