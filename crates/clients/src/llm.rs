//! The LLM client: one logical chat call through routing and the policies, over async-openai
//! (its own retry layer replaced by our transport, so every attempt is ours and counted).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_openai::Client;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestMessage, ChatCompletionStreamOptions,
    ChatCompletionTools, CreateChatCompletionRequest, FinishReason,
};
use futures_util::StreamExt;
use mock::PromptDigest;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use metrics::ErrorKind;
use scenario::{Retry, Routing};

use crate::backoff::parse_retry_after;
use crate::direct::DirectMock;
use crate::drive::{Failure, Measured, Policy, Target, drive};
use crate::record::CallRecord;
use crate::transport::{Transport, TransportError, classify_reqwest};

mod credentials;

/// One chat request, as an agent builds it.
#[derive(Clone, Debug, Default)]
pub struct LlmRequest {
    /// The conversation as the LLM sees it.
    pub messages: Vec<ChatCompletionRequestMessage>,
    /// Tools offered: shared, since every call of a fleet offers the same few (a clone is a
    /// count, and the in-process mock recognises them by address).
    pub tools: Arc<[ChatCompletionTools]>,
    /// `max_completion_tokens`.
    pub max_tokens: u32,
    /// Prompt tokens as the caller counted them: with `max_tokens`, the estimate charged to
    /// the token limit before the call (corrected from `usage` after).
    pub prompt_tokens: u32,
}

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The call id, to answer with a `tool` message.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// JSON arguments, as the model wrote them.
    pub arguments: String,
}

/// The answer of a successful call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LlmResponse {
    /// The text (empty when the model only calls tools).
    pub content: String,
    /// Tool calls asked for.
    pub tool_calls: Vec<ToolCall>,
    /// Why the answer ended.
    pub finish_reason: Option<FinishReason>,
}

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

/// One provider's connection.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) client: Client<credentials::ProviderConfig>,
    pub(crate) model: String,
    pub(crate) stream: bool,
    /// The embedded mock without the wire, when the transport is in-process: the same
    /// results without a per-token cost (see `direct`).
    pub(crate) direct: Option<DirectMock>,
}

impl Provider {
    /// An async-openai client whose HTTP goes through `transport`: no hidden retries, and
    /// error statuses come back with their `Retry-After`. `api_key` (from the variable the
    /// provider's `api_key_env` names) is the only credential its requests carry: nothing is
    /// taken from async-openai's `OPENAI_*` variables (see `credentials`).
    pub(crate) fn new(
        transport: Transport,
        base_url: &str,
        api_key: Option<String>,
        model: String,
        stream: bool,
    ) -> Self {
        let config = credentials::ProviderConfig::new(base_url);
        let authorization = credentials::authorization(api_key.as_deref());
        let direct = match &transport {
            Transport::InProcess(mock) => {
                let key = api_key.as_deref().filter(|_| authorization.is_some());
                Some(DirectMock::new(mock.clone(), key))
            }
            Transport::Http(_) => None,
        };
        let service = tower::service_fn(move |factory: HttpRequestFactory| {
            let transport = transport.clone();
            let authorization = authorization.clone();
            async move {
                let mut request = factory.build().await?;
                credentials::set_credentials(request.headers_mut(), authorization);
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
            direct,
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
            // is a cut connection.
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

/// The shared LLM client: every provider with its policies, and the routing between them.
#[derive(Debug)]
pub struct LlmClient {
    pub(crate) targets: Vec<Arc<Target>>,
    pub(crate) providers: Vec<Provider>,
    pub(crate) routing: Routing,
    /// Where round-robin continues.
    pub(crate) turn: AtomicUsize,
    /// The first provider's retry policy governs the logical call.
    pub(crate) retry: Retry,
    /// The longest provider deadline bounds the logical call.
    pub(crate) deadline: Duration,
    /// Ends every call in flight as `cancelled` ([`crate::Clients::cancel_calls`]).
    pub(crate) cancel: CancellationToken,
}

impl LlmClient {
    /// One logical chat call. `seed` makes the backoff jitter reproducible.
    pub async fn call(
        &self,
        request: &LlmRequest,
        seed: u64,
    ) -> (CallRecord, Result<LlmResponse, ErrorKind>) {
        self.call_with_digest(request, &mut PromptDigest::new(), seed)
            .await
    }

    /// [`LlmClient::call`] for a conversation resent call after call: `digest` holds what the
    /// in-process mock read of its messages before (a prefix of `request.messages`: truncate
    /// it when earlier messages change), and the messages it lacks are folded in now, once,
    /// so the request is handed over without serializing the conversation again. Over HTTP it
    /// is left as it is.
    pub async fn call_with_digest(
        &self,
        request: &LlmRequest,
        digest: &mut PromptDigest,
        seed: u64,
    ) -> (CallRecord, Result<LlmResponse, ErrorKind>) {
        let policy = Policy {
            retry: &self.retry,
            deadline: self.deadline,
            seed,
            estimated_tokens: u64::from(request.prompt_tokens) + u64::from(request.max_tokens),
            cancel: &self.cancel,
        };
        let digest = self
            .providers
            .iter()
            .find_map(|p| p.direct.as_ref())
            .and_then(|direct| direct.fold(digest, &request.messages).then_some(&*digest));
        let (mut record, result) = drive(
            &self.targets,
            || self.order(),
            &policy,
            |i| {
                let provider = &self.providers[i];
                attempt(provider, request, digest)
            },
        )
        .await;
        if record.tokens_in == 0 {
            record.tokens_in = request.prompt_tokens;
        }
        (record, result)
    }

    /// The providers in the order to try them.
    fn order(&self) -> Vec<usize> {
        let n = self.targets.len();
        match self.routing {
            Routing::Priority => (0..n).collect(),
            Routing::RoundRobin => {
                let start = self.turn.fetch_add(1, Ordering::Relaxed) % n.max(1);
                (0..n).map(|k| (start + k) % n).collect()
            }
            Routing::LeastInFlight => {
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by_key(|&i| self.targets[i].pool.in_flight());
                order
            }
        }
    }

    /// The breaker state and stats of each provider, by name.
    pub fn breakers(&self) -> Vec<(String, crate::BreakerState, crate::BreakerStats)> {
        self.targets
            .iter()
            .map(|t| (t.name.clone(), t.breaker.state(), t.breaker.stats()))
            .collect()
    }
}

/// The request async-openai sends for one attempt (`direct::body` writes the same JSON).
pub(crate) fn build(provider: &Provider, request: &LlmRequest) -> CreateChatCompletionRequest {
    CreateChatCompletionRequest {
        model: provider.model.clone(),
        messages: request.messages.clone(),
        tools: (!request.tools.is_empty()).then(|| request.tools.to_vec()),
        max_completion_tokens: Some(request.max_tokens),
        stream: Some(provider.stream),
        stream_options: stream_options(provider.stream),
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

/// One attempt: in-process straight to the mock, or async-openai over the transport.
pub(crate) async fn attempt(
    provider: &Provider,
    request: &LlmRequest,
    digest: Option<&PromptDigest>,
) -> Result<(LlmResponse, Measured), Failure> {
    if let Some(direct) = &provider.direct {
        return direct.attempt(provider, request, digest).await;
    }
    let body = build(provider, request);
    let prompt_estimate = request.prompt_tokens;
    if provider.stream {
        streamed(provider, body, prompt_estimate).await
    } else {
        whole(provider, body, prompt_estimate).await
    }
}

async fn whole(
    provider: &Provider,
    body: CreateChatCompletionRequest,
    prompt_estimate: u32,
) -> Result<(LlmResponse, Measured), Failure> {
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
    provider: &Provider,
    body: CreateChatCompletionRequest,
    prompt_estimate: u32,
) -> Result<(LlmResponse, Measured), Failure> {
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
