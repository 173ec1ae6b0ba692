//! LLM attempts against the embedded mock without the wire, when the transport is in-process
//! (the virtual clock, and in-process tests).
//!
//! Why: a streamed answer through the mock's router costs CPU per token on both sides (SSE
//! chunks serialized, sent, decoded and parsed as JSON by async-openai, one timer wakeup
//! each), which bounded how many agents a virtual run could simulate. Here an attempt
//! serializes the same request body async-openai would send, hands it to
//! [`MockServer::chat_direct`], and reads the delivery the way `llm::streamed` and
//! `llm::whole` read a response: the same answer, usage, TTFT, inter-token gaps (one per
//! token, zero between tokens of one network read), statuses with `Retry-After`, and the same
//! [`ErrorKind`] per fault, at the same simulated times. The policies around an attempt
//! (breaker, pool, limiter, timeout, retries) are untouched. The live clock goes over HTTP.

use std::fmt;

use async_openai::config::{Config, OpenAIConfig};
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionStreamOptions, ChatCompletionTools, FinishReason,
};
use serde::Serialize;
use tokio::time::Instant;

use metrics::ErrorKind;
use mock::{ChatDelivery, Ending, MockServer, Rejection};

use crate::drive::{Failure, Measured};
use crate::llm::{LlmRequest, LlmResponse, Provider, StatusError, ToolCall, stream_options};

/// The embedded mock, called in-process with the credentials async-openai would send.
pub(crate) struct DirectMock {
    mock: MockServer,
    /// The bearer token of the `Authorization` header the HTTP path sends (the provider's key,
    /// or async-openai's default from the environment): the mock's `/stats` count per key.
    bearer: Option<String>,
}

impl fmt::Debug for DirectMock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        f.debug_struct("DirectMock")
            .field("mock", &self.mock)
            .finish_non_exhaustive()
    }
}

impl DirectMock {
    pub(crate) fn new(mock: MockServer, config: &OpenAIConfig) -> Self {
        let bearer = config
            .headers()
            .get(reqwest::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        Self { mock, bearer }
    }

    /// One attempt: what `llm::streamed` or `llm::whole` would return for `request`.
    pub(crate) async fn attempt(
        &self,
        provider: &Provider,
        request: &LlmRequest,
    ) -> Result<(LlmResponse, Measured), Failure> {
        let sent = Instant::now();
        let json = body(provider, request).map_err(|_| Failure::new(ErrorKind::ClientError))?;
        let delivery = self
            .mock
            .chat_direct(&json, self.bearer.as_deref())
            .await
            .map_err(rejected)?;
        read(delivery, sent, request.prompt_tokens)
    }
}

/// The fields of async-openai's `CreateChatCompletionRequest` that `llm::build` sets, in its
/// order and with its omissions, borrowed: the conversation is serialized, not cloned first.
#[derive(Serialize)]
struct Body<'a> {
    messages: &'a [ChatCompletionRequestMessage],
    model: &'a str,
    max_completion_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<ChatCompletionStreamOptions>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [ChatCompletionTools],
}

/// The bytes async-openai sends for `llm::build(provider, request)` (`serde_json::to_vec` of
/// it; `create_stream` keeps the `stream: true` that `build` set), so the mock plans the same
/// answer for them. A test checks the two are equal byte for byte.
pub(crate) fn body(provider: &Provider, request: &LlmRequest) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Body {
        messages: &request.messages,
        model: &provider.model,
        max_completion_tokens: request.max_tokens,
        stream: provider.stream,
        stream_options: stream_options(provider.stream),
        tools: &request.tools,
    })
}

/// The failure the HTTP path reports for a rejection.
fn rejected(rejection: Rejection) -> Failure {
    match rejection {
        Rejection::Status(reply) => StatusError {
            status: reply.status.as_u16(),
            retry_after: reply.retry_after,
            body: reply.message,
        }
        .failure(),
        Rejection::Reset => Failure::new(ErrorKind::Reset),
    }
}

/// Reads a delivery as the client reads a response sent at `sent`.
fn read(
    delivery: ChatDelivery,
    sent: Instant,
    prompt_estimate: u32,
) -> Result<(LlmResponse, Measured), Failure> {
    let ChatDelivery {
        answer,
        arrivals,
        ending,
        ..
    } = delivery;
    // A stream's first token is its first chunk carrying content or a tool call; a whole
    // answer has no TTFT (no arrivals).
    let ttft = arrivals.first().map(|at| *at - sent);
    let kind = match ending {
        Ending::Complete => None,
        Ending::Truncated => Some(ErrorKind::Truncated),
        Ending::Malformed => Some(ErrorKind::Malformed),
    };
    if let Some(kind) = kind {
        return Err(Failure {
            ttft,
            ..Failure::new(kind)
        });
    }
    // A whole answer always carries `usage`; a stream only when asked for (we always ask).
    let usage = !answer.stream || answer.include_usage;
    let measured = Measured {
        status: Some(200),
        ttft,
        inter_token: arrivals.windows(2).map(|w| w[1] - w[0]).collect(),
        tokens_in: if usage {
            answer.prompt_tokens
        } else {
            prompt_estimate
        },
        tokens_out: if usage { answer.completion_tokens() } else { 0 },
    };
    let response = LlmResponse {
        content: answer.text(),
        finish_reason: Some(match answer.finish_reason {
            mock::FinishReason::Stop => FinishReason::Stop,
            mock::FinishReason::Length => FinishReason::Length,
            mock::FinishReason::ToolCalls => FinishReason::ToolCalls,
        }),
        tool_calls: answer
            .tool_calls
            .into_iter()
            .map(|call| ToolCall {
                id: call.id,
                name: call.name,
                arguments: call.arguments,
            })
            .collect(),
    };
    Ok((response, measured))
}

#[cfg(test)]
mod tests;
