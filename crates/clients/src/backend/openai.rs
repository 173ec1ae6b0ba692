//! [`HttpLlm`]: OpenAI chat completions over HTTP, through async-openai with its own retry
//! layer replaced by our transport (every attempt is ours, and counted) and our own config
//! (the only credential sent is the one the provider's `api_key_env` names:
//! `backend::credentials`). Streams are read chunk by chunk for TTFT and inter-token gaps.

use std::time::{Duration, SystemTime};

use async_openai::Client;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionStreamOptions, CreateChatCompletionRequest,
};
use futures_util::StreamExt;
use tokio::time::Instant;

use metrics::ErrorKind;

use super::credentials::{self, Extras};
use super::{Attempted, ConversationCache, Failure, LlmBackend, Measured};
use crate::backoff::parse_retry_after;
use crate::llm::{LlmRequest, LlmResponse, ToolCall};
use crate::transport::{Transport, TransportError, classify_reqwest};

/// An HTTP error status, carried out of the transport past async-openai.
#[derive(Debug)]
pub(crate) struct StatusError {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: String,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the whole body: a server may echo the request's headers, the key among them.
        write!(
            f,
            "HTTP {} ({} bytes): {}",
            self.status,
            self.body.len(),
            credentials::excerpt(&self.body)
        )
    }
}

impl std::error::Error for StatusError {}

impl StatusError {
    /// Reads the error of a non-2xx response (its body bounded, for logs).
    pub(crate) async fn from_response(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(400)
            .collect();
        Self {
            status,
            retry_after,
            body,
        }
    }

    pub(crate) fn failure(&self) -> Failure {
        Failure {
            kind: ErrorKind::from_status(self.status),
            status: Some(self.status),
            retry_after: self.retry_after,
            ttft: None,
        }
    }
}

/// One OpenAI-compatible provider over HTTP.
#[derive(Debug)]
pub struct HttpLlm {
    client: Client<credentials::ProviderConfig>,
    model: String,
    stream: bool,
}

impl HttpLlm {
    /// The provider at `base_url` (ending in `/v1`) serving `model`, its answers streamed or
    /// whole. `extras` (the key its `api_key_env` names, its headers and query) is all its
    /// requests carry besides the body: nothing is taken from async-openai's `OPENAI_*`
    /// variables (see `credentials`).
    pub(crate) fn new(
        transport: Transport,
        base_url: &str,
        extras: Extras,
        model: String,
        stream: bool,
    ) -> Self {
        let config = credentials::ProviderConfig::new(base_url, &extras);
        let service = tower::service_fn(move |factory: HttpRequestFactory| {
            let transport = transport.clone();
            let extras = extras.clone();
            async move {
                let mut request = factory.build().await?;
                extras.apply(request.headers_mut());
                let response = transport
                    .send(request)
                    .await
                    .map_err(|e| OpenAIError::Boxed(Box::new(e)))?;
                if response.status().is_success() {
                    Ok(response)
                } else {
                    Err(OpenAIError::Boxed(Box::new(
                        StatusError::from_response(response).await,
                    )))
                }
            }
        });
        Self {
            client: Client::with_config(config).with_http_service(service),
            model,
            stream,
        }
    }

    /// The request async-openai sends for `request` (`MockLlm` writes the same JSON).
    pub(crate) fn build(&self, request: &LlmRequest) -> CreateChatCompletionRequest {
        build(&self.model, self.stream, request)
    }
}

impl LlmBackend for HttpLlm {
    async fn attempt(
        &self,
        request: &LlmRequest,
        _conversation: &ConversationCache,
    ) -> Attempted<LlmResponse> {
        let body = self.build(request);
        let prompt_estimate = request.prompt_tokens;
        if self.stream {
            streamed(self, body, prompt_estimate).await
        } else {
            whole(self, body, prompt_estimate).await
        }
    }
}

/// The kind of an async-openai failure. A body it could not read is logged (at debug) only
/// as its length and a short redacted excerpt: a server may echo the request's headers.
fn classify(err: OpenAIError) -> Failure {
    match err {
        OpenAIError::Boxed(boxed) => {
            if let Some(status) = boxed.downcast_ref::<StatusError>() {
                status.failure()
            } else if let Some(transport) = boxed.downcast_ref::<TransportError>() {
                Failure::new(transport.kind)
            } else {
                Failure::new(ErrorKind::Reset)
            }
        }
        OpenAIError::Reqwest(e) => Failure::new(classify_reqwest(&e)),
        OpenAIError::JSONDeserialize(_, body) => malformed(&body),
        OpenAIError::StreamError(e) => match *e {
            // The event stream's own decoder (eventsource-stream, as async-openai words it):
            // bytes that are not UTF-8 or not an event are malformed; a broken transport
            // is a cut connection. The decoder keeps bytes that are not yet a whole character
            // and says so only when the body ends: a body that ends inside a character was
            // cut short (std's "incomplete utf-8 byte sequence"), not malformed.
            StreamError::EventStream(e)
                if e.starts_with("UTF8 error") && e.contains("incomplete utf-8 byte sequence") =>
            {
                Failure::new(ErrorKind::Truncated)
            }
            StreamError::EventStream(e)
                if e.starts_with("UTF8 error") || e.starts_with("Parse error") =>
            {
                Failure::new(ErrorKind::Malformed)
            }
            StreamError::EventStream(_) => Failure::new(ErrorKind::Truncated),
            StreamError::UnknownEvent(event) => malformed(&event.data),
        },
        _ => Failure::new(ErrorKind::ClientError),
    }
}

/// A successful (2xx) response whose body is not the answer: logged as its length and a
/// redacted excerpt, never whole.
fn malformed(body: &str) -> Failure {
    tracing::debug!(
        bytes = body.len(),
        excerpt = %credentials::excerpt(body),
        "malformed 2xx response body"
    );
    Failure::new(ErrorKind::Malformed)
}

/// The request async-openai sends for one attempt (`MockLlm` writes the same JSON).
fn build(model: &str, stream: bool, request: &LlmRequest) -> CreateChatCompletionRequest {
    CreateChatCompletionRequest {
        model: model.to_owned(),
        messages: request.messages.clone(),
        tools: (!request.tools.is_empty()).then(|| request.tools.to_vec()),
        max_completion_tokens: Some(request.max_tokens),
        stream: Some(stream),
        stream_options: stream_options(stream),
        ..CreateChatCompletionRequest::default()
    }
}

/// A stream asks for its usage chunk: `tokens_in` and `tokens_out` come from it.
pub(crate) fn stream_options(stream: bool) -> Option<ChatCompletionStreamOptions> {
    stream.then_some(ChatCompletionStreamOptions {
        include_usage: Some(true),
        include_obfuscation: None,
    })
}

async fn whole(
    provider: &HttpLlm,
    body: CreateChatCompletionRequest,
    prompt_estimate: u32,
) -> Attempted<LlmResponse> {
    let response = provider
        .client
        .chat()
        .create(body)
        .await
        .map_err(classify)?;
    let usage = response.usage;
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(Failure::new(ErrorKind::Malformed));
    };
    let tool_calls = choice
        .message
        .tool_calls
        .into_iter()
        .flatten()
        .filter_map(|call| match call {
            ChatCompletionMessageToolCalls::Function(f) => Some(ToolCall {
                id: f.id,
                name: f.function.name,
                arguments: f.function.arguments,
            }),
            ChatCompletionMessageToolCalls::Custom(_) => None,
        })
        .collect();
    let answer = LlmResponse {
        content: choice.message.content.unwrap_or_default(),
        tool_calls,
        finish_reason: choice.finish_reason,
    };
    let measured = Measured {
        status: Some(200),
        tokens_in: usage.as_ref().map_or(prompt_estimate, |u| u.prompt_tokens),
        tokens_out: usage.map_or(0, |u| u.completion_tokens),
        ..Measured::default()
    };
    Ok((answer, measured))
}

async fn streamed(
    provider: &HttpLlm,
    body: CreateChatCompletionRequest,
    prompt_estimate: u32,
) -> Attempted<LlmResponse> {
    let sent = Instant::now();
    let mut stream = provider
        .client
        .chat()
        .create_stream(body)
        .await
        .map_err(classify)?;
    let mut answer = LlmResponse::default();
    let mut measured = Measured {
        status: Some(200),
        tokens_in: prompt_estimate,
        ..Measured::default()
    };
    let mut last = sent;
    while let Some(item) = stream.next().await {
        let chunk = item.map_err(|e| Failure {
            ttft: measured.ttft,
            ..classify(e)
        })?;
        if let Some(usage) = chunk.usage {
            measured.tokens_in = usage.prompt_tokens;
            measured.tokens_out = usage.completion_tokens;
        }
        for choice in chunk.choices {
            let delta = choice.delta;
            let mut produced = false;
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                answer.content.push_str(&text);
                produced = true;
            }
            for piece in delta.tool_calls.into_iter().flatten() {
                let index = usize::try_from(piece.index).unwrap_or(usize::MAX);
                if index >= answer.tool_calls.len() {
                    answer.tool_calls.resize_with(index + 1, || ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let call = &mut answer.tool_calls[index];
                if let Some(id) = piece.id {
                    call.id = id;
                }
                if let Some(function) = piece.function {
                    if let Some(name) = function.name {
                        call.name.push_str(&name);
                    }
                    if let Some(arguments) = function.arguments {
                        call.arguments.push_str(&arguments);
                    }
                }
                produced = true;
            }
            if produced {
                let now = Instant::now();
                match measured.ttft {
                    None => measured.ttft = Some(now - sent),
                    Some(_) => measured.inter_token.push(now - last),
                }
                last = now;
            }
            if let Some(reason) = choice.finish_reason {
                answer.finish_reason = Some(reason);
            }
        }
    }
    if answer.finish_reason.is_none() {
        // The stream ended without saying why: cut short.
        return Err(Failure {
            ttft: measured.ttft,
            ..Failure::new(ErrorKind::Truncated)
        });
    }
    Ok((answer, measured))
}
