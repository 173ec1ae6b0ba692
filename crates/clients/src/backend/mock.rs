//! [`MockLlm`] and [`MockTool`]: the embedded mock called in-process, without the wire (the
//! virtual clock, and in-process tests).
//!
//! Why: a streamed answer through the mock's router costs CPU per token on both sides (SSE
//! chunks serialized, sent, decoded and parsed as JSON by async-openai, one timer wakeup
//! each), which bounded how many agents a virtual run could simulate. Here an attempt hands
//! the request to the mock as data ([`MockServer::chat_direct_digest`]): the conversation as a
//! [`PromptDigest`] (kept in the caller's [`ConversationCache`] between calls), each message
//! serialized once as async-openai would send it and folded in, its tokens counted from the
//! message itself ([`MessageParts`]) rather than parsed back from its JSON; and the rest of
//! the body as a [`RequestFrame`] read once per set of tools. The mock answers as it would the
//! whole body (the same bytes hashed, the same tokens counted; debug builds check every call
//! against the body). The delivery is read the way [`super::HttpLlm`] reads a response: the
//! same answer, usage, TTFT, inter-token gaps (one per token, zero between tokens of one
//! network read), statuses with `Retry-After`, and the same [`ErrorKind`] per fault, at the
//! same simulated times. Tool calls skip the router the same way
//! ([`MockServer::tool_direct`]). The router path, over `Transport::InProcess`, is what the
//! tests compare both with.
//!
//! A provider with `api = "responses"` ([`MockLlm::with_api`]) is the same machinery: the
//! mock answers a Responses request by reading its conversation as a chat request and
//! planning that, so in-process there is no Responses framing to build and parse; the call
//! is counted as a Responses request in `/stats` (`responses_requests`), and the body is the
//! chat request the mock reads from what [`super::HttpResponses`] sends (tools with their
//! `strict` spelled out). Its answers, timing and faults are those of `POST /v1/responses`
//! for the same conversation, which the tests check against the router.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessageContent,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessageContent,
    ChatCompletionTools, FinishReason,
};
use tokio::time::Instant;

use metrics::ErrorKind;
use mock::{
    ChatDelivery, Ending, LlmApi, MessageParts, MockServer, PromptDigest, Rejection, RequestFrame,
};
use scenario::Api;

use super::openai::ChatBody;
use super::responses::chat_tools_as_sent;
use super::service::StatusError;
use super::{
    Attempted, ConversationCache, Failure, LlmBackend, Measured, ToolBackend, credentials,
};
use crate::llm::{LlmRequest, LlmResponse, ToolCall};
use crate::tool::ToolResult;

/// The embedded mock as an LLM provider, called in-process with the credentials the HTTP
/// path would send.
pub struct MockLlm {
    mock: MockServer,
    model: String,
    stream: bool,
    /// The API the provider speaks: what `/stats` counts the call as, and how tools are sent.
    api: LlmApi,
    /// The bearer token of the `Authorization` header the HTTP path sends (the key the
    /// provider's `api_key_env` names; none without one): the mock's `/stats` count per key.
    bearer: Option<String>,
    /// The frames of recent requests (all of a request but its messages), newest last: an
    /// agent sends the same tools and options on every call, so each is read once.
    frames: Mutex<Vec<Frame>>,
}

/// A request frame and what it was read from (the provider's model and options are fixed).
struct Frame {
    max_tokens: u32,
    tools: Arc<[ChatCompletionTools]>,
    frame: Arc<RequestFrame>,
}

/// Frames kept: the agents' requests and the summaries'.
const FRAMES: usize = 4;

impl fmt::Debug for MockLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        f.debug_struct("MockLlm")
            .field("mock", &self.mock)
            .field("model", &self.model)
            .field("stream", &self.stream)
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl MockLlm {
    /// `mock` serving `model`, its answers streamed or whole; `api_key`: the key the HTTP path
    /// would send, if any (the mock's `/stats` count per key).
    pub fn new(mock: MockServer, api_key: Option<&str>, model: String, stream: bool) -> Self {
        let bearer = api_key
            .filter(|_| credentials::authorization(api_key).is_some())
            .map(str::to_owned);
        Self {
            mock,
            model,
            stream,
            api: LlmApi::Chat,
            bearer,
            frames: Mutex::new(Vec::new()),
        }
    }

    /// This provider speaking `api`: a Responses provider's calls are counted in the mock's
    /// `/stats` as `responses_requests` and answered as `POST /v1/responses` answers them
    /// (see the module's documentation). Chat by default.
    pub fn with_api(mut self, api: Api) -> Self {
        self.api = match api {
            Api::Chat => LlmApi::Chat,
            Api::Responses => LlmApi::Responses,
        };
        self
    }

    /// Brings `digest` up to `messages` (it holds a prefix of them: see
    /// [`ConversationCache`]), folding in the messages it lacks as the request body carries
    /// them. `false` when a message cannot be folded (the mock would
    /// reject the body): the attempts then send the body, to be rejected as over HTTP.
    pub(crate) fn fold(
        &self,
        digest: &mut PromptDigest,
        messages: &[ChatCompletionRequestMessage],
    ) -> bool {
        let ready = self.mock.digest_ready(digest);
        if ready > messages.len() {
            digest.truncate(messages.len());
        }
        let mut json = Vec::new();
        for m in &messages[digest.len()..] {
            json.clear();
            if serde_json::to_writer(&mut json, m).is_err() {
                return false;
            }
            // The mock's token memo is the process's: what it stores is shared heap.
            let folded = heap::shared(|| match parts(m) {
                Some(parts) => {
                    self.mock.fold_counted(digest, &json, parts);
                    Ok(())
                }
                None => self.mock.fold_message(digest, &json),
            });
            if folded.is_err() {
                return false;
            }
        }
        true
    }

    /// One attempt: what [`super::HttpLlm`] would return for `request`. `digest`, when it
    /// holds all of `request`'s messages, saves serializing them.
    async fn chat(&self, request: &LlmRequest, digest: &PromptDigest) -> Attempted<LlmResponse> {
        let sent = Instant::now();
        let mut fresh = PromptDigest::new();
        let digest = match digest {
            d if d.len() == request.messages.len() && self.mock.reads(d) => Some(d),
            _ => self.fold(&mut fresh, &request.messages).then_some(&fresh),
        };
        // The frames are every agent's (one per tool set): shared heap.
        let frame = digest.and_then(|_| heap::shared(|| self.frame(request)));
        let bearer = self.bearer.as_deref();
        let delivery = match (digest, frame) {
            (Some(digest), Some(frame)) => {
                // In debug builds (the tests), every digest is checked against its body.
                #[cfg(debug_assertions)]
                let expected = heap::shared(|| {
                    self.body(request)
                        .ok()
                        .and_then(|json| mock::Answer::plan(self.mock.config(), &json).ok())
                });
                // The mock's side of the call is the server's work, charged as shared heap
                // rather than to the agent whose poll runs it.
                // Earlier calls a popular-arguments answer may repeat: the body's messages
                // hold them; gathered only when some tool reuses (`mock::popularity`).
                let earlier: Vec<(&str, &str)> = if self.mock.reuses_arguments() {
                    request
                        .messages
                        .iter()
                        .filter_map(parts)
                        .flat_map(|p| p.tool_calls)
                        .collect()
                } else {
                    Vec::new()
                };
                let delivery = heap::shared_future(
                    self.mock
                        .chat_direct_digest_calls(self.api, digest, &frame, &earlier, bearer),
                )
                .await;
                #[cfg(debug_assertions)]
                if let (Ok(got), Some(expected)) = (&delivery, &expected) {
                    assert_eq!(
                        (&got.answer.id, got.answer.prompt_tokens),
                        (&expected.id, expected.prompt_tokens),
                        "the digest and the frame give the body's answer"
                    );
                }
                delivery
            }
            _ => {
                let json = self
                    .body(request)
                    .map_err(|_| Failure::new(ErrorKind::ClientError))?;
                heap::shared_future(self.mock.chat_direct_as(self.api, &json, bearer)).await
            }
        };
        read(delivery.map_err(rejected)?, sent, request.prompt_tokens)
    }

    /// The frame of `request` (all of it but its messages), read once for each set of tools
    /// and `max_tokens`. `None` when the mock cannot read it: the body is sent instead.
    fn frame(&self, request: &LlmRequest) -> Option<Arc<RequestFrame>> {
        let mut frames = self.frames.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = frames.iter().find(|f| {
            // The same list (a fleet shares one) is the same tools; comparing their
            // definitions on every call cost a twentieth of a virtual run.
            f.max_tokens == request.max_tokens
                && (Arc::ptr_eq(&f.tools, &request.tools) || f.tools == request.tools)
        }) {
            return Some(f.frame.clone());
        }
        let json = self.body_of(&[], request).ok()?;
        let frame = Arc::new(self.mock.request_frame(&json).ok()?);
        if frames.len() == FRAMES {
            frames.remove(0);
        }
        frames.push(Frame {
            max_tokens: request.max_tokens,
            tools: request.tools.clone(),
            frame: frame.clone(),
        });
        Some(frame)
    }
}

/// What the mock counts of `m`, read from it rather than from its JSON, for the messages
/// agents send: system, user and tool messages with text content, and assistant messages
/// with text (or no) content and function tool calls. `None` for any other message: the mock
/// then reads its JSON.
pub(crate) fn parts(
    m: &ChatCompletionRequestMessage,
) -> Option<MessageParts<'_, impl Iterator<Item = (&str, &str)>>> {
    let no_calls: &[ChatCompletionMessageToolCalls] = &[];
    let (tool, content, name, calls) = match m {
        ChatCompletionRequestMessage::System(m) => match &m.content {
            ChatCompletionRequestSystemMessageContent::Text(t) => {
                (false, Some(t), m.name.as_ref(), no_calls)
            }
            ChatCompletionRequestSystemMessageContent::Array(_) => return None,
        },
        ChatCompletionRequestMessage::User(m) => match &m.content {
            ChatCompletionRequestUserMessageContent::Text(t) => {
                (false, Some(t), m.name.as_ref(), no_calls)
            }
            ChatCompletionRequestUserMessageContent::Array(_) => return None,
        },
        ChatCompletionRequestMessage::Tool(m) => match &m.content {
            ChatCompletionRequestToolMessageContent::Text(t) => (true, Some(t), None, no_calls),
            ChatCompletionRequestToolMessageContent::Array(_) => return None,
        },
        ChatCompletionRequestMessage::Assistant(m) => {
            let content = match &m.content {
                None => None,
                Some(ChatCompletionRequestAssistantMessageContent::Text(t)) => Some(t),
                Some(ChatCompletionRequestAssistantMessageContent::Array(_)) => return None,
            };
            let calls = m.tool_calls.as_deref().unwrap_or(no_calls);
            // A custom tool call has no `function`: the mock rejects it.
            if !calls
                .iter()
                .all(|c| matches!(c, ChatCompletionMessageToolCalls::Function(_)))
            {
                return None;
            }
            (false, content, m.name.as_ref(), calls)
        }
        ChatCompletionRequestMessage::Developer(_) | ChatCompletionRequestMessage::Function(_) => {
            return None;
        }
    };
    Some(MessageParts {
        tool,
        content: content.map(String::as_str),
        name: name.map(String::as_str),
        tool_calls: calls.iter().filter_map(|c| match c {
            ChatCompletionMessageToolCalls::Function(f) => {
                Some((f.function.name.as_str(), f.function.arguments.as_str()))
            }
            ChatCompletionMessageToolCalls::Custom(_) => None,
        }),
    })
}

impl MockLlm {
    /// The bytes `HttpLlm` sends for `request` (its [`ChatBody`]), so the mock plans the same
    /// answer for them. A test checks they are async-openai's own request's, byte for byte.
    pub(crate) fn body(&self, request: &LlmRequest) -> serde_json::Result<Vec<u8>> {
        self.body_of(&request.messages, request)
    }

    /// [`MockLlm::body`] with `messages` in place of the request's. For a Responses
    /// provider, the chat request the mock reads from what `HttpResponses` sends.
    fn body_of(
        &self,
        messages: &[ChatCompletionRequestMessage],
        request: &LlmRequest,
    ) -> serde_json::Result<Vec<u8>> {
        let tools = match self.api {
            LlmApi::Chat => std::borrow::Cow::Borrowed(&request.tools[..]),
            LlmApi::Responses => chat_tools_as_sent(&request.tools),
        };
        serde_json::to_vec(&ChatBody::new(
            &self.model,
            self.stream,
            messages,
            &tools,
            request.max_tokens,
        ))
    }
}

impl LlmBackend for MockLlm {
    fn prepare(&self, conversation: &mut ConversationCache, request: &LlmRequest) {
        // A message the mock cannot read stops the fold: the attempts then send the body, to
        // be rejected as over HTTP.
        self.fold(&mut conversation.mock.0, &request.messages);
    }

    async fn attempt(
        &self,
        request: &LlmRequest,
        conversation: &ConversationCache,
    ) -> Attempted<LlmResponse> {
        self.chat(request, &conversation.mock.0).await
    }
}

/// What the mock read of a conversation's messages so far (a [`ConversationCache`]'s part).
#[derive(Clone, Debug, Default)]
pub(super) struct Read(PromptDigest);

impl Read {
    pub(super) fn truncate(&mut self, messages: usize) {
        self.0.truncate(messages);
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
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
fn read(delivery: ChatDelivery, sent: Instant, prompt_estimate: u32) -> Attempted<LlmResponse> {
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
    // The text is the caller's; its count goes to the process's memo, shared heap.
    let content = answer.text();
    heap::shared(|| tokencount::remember_words(&content, answer.word_count()));
    let response = LlmResponse {
        content,
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

/// A tool the embedded mock serves, called in-process without the wire: what
/// [`super::HttpTool`] returns for the same body through the mock's router (the same result or
/// failure kind, status and `Retry-After`, at the same simulated time), without building a
/// request, routing it, and writing and parsing a JSON body.
///
/// Why: under the virtual clock a tool call through the router cost a sixth of a run.
#[derive(Debug)]
pub struct MockTool {
    mock: MockServer,
    /// The tool's name: the route's path segment.
    name: String,
}

impl MockTool {
    /// The tool `name` of `mock`.
    pub fn new(mock: MockServer, name: &str) -> Self {
        Self {
            mock,
            name: name.to_owned(),
        }
    }
}

impl ToolBackend for MockTool {
    async fn attempt(&self, args: &serde_json::Value) -> Attempted<ToolResult> {
        let body = serde_json::to_vec(args).map_err(|_| Failure::new(ErrorKind::ClientError))?;
        // The mock's work is the server's, charged as shared heap, not to the calling agent.
        // Tool requests carry no API key.
        let delivery = heap::shared_future(self.mock.tool_direct(&self.name, &body, None))
            .await
            .map_err(rejected)?;
        match delivery.ending {
            Ending::Complete => {}
            Ending::Truncated => {
                // The router's cut body yields once before it fails (`mock::app::cut`), and
                // so does the client reading it.
                tokio::task::yield_now().await;
                return Err(Failure::new(ErrorKind::Truncated));
            }
            // Half a body is not a tool result.
            Ending::Malformed => return Err(Failure::new(ErrorKind::Malformed)),
        }
        let result = ToolResult {
            output: delivery.output.into(),
            tokens: delivery.tokens,
        };
        let measured = Measured {
            status: Some(200),
            tokens_out: result.tokens,
            ..Measured::default()
        };
        Ok((result, measured))
    }
}

#[cfg(test)]
mod tests;
