//! [`HttpLlm`]: OpenAI chat completions over HTTP, sent by `service::DirectChat` (our
//! transport, our credentials, no hidden retries; failures classified by `service::classify`,
//! as for the Responses API), in async-openai's types. Streams are decoded by `events` and
//! read chunk by chunk for TTFT and inter-token gaps.

#[cfg(test)]
use async_openai::types::chat::CreateChatCompletionRequest;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestMessage, ChatCompletionStreamOptions,
    ChatCompletionTools, CreateChatCompletionResponse, CreateChatCompletionStreamResponse,
};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use metrics::ErrorKind;

use super::credentials::Extras;
use super::service::{self, DirectChat, classify};
use super::{Attempted, ConversationCache, Failure, LlmBackend, Measured};
use crate::llm::{LlmRequest, LlmResponse, ToolCall};
use crate::transport::Transport;

mod events;

/// One OpenAI-compatible provider over HTTP, speaking chat completions.
#[derive(Debug)]
pub struct HttpLlm {
    chat: DirectChat,
    model: String,
    stream: bool,
}

impl HttpLlm {
    /// The provider `name` at `base_url` (ending in `/v1`) serving `model`, its answers
    /// streamed or whole. `extras` (the key its `api_key_env` names, its headers and query)
    /// is all its requests carry besides the body: nothing is taken from async-openai's
    /// `OPENAI_*` variables (see `credentials`). An error when `base_url` is not a URL.
    pub(crate) fn new(
        name: &str,
        transport: Transport,
        base_url: &str,
        extras: Extras,
        model: String,
        stream: bool,
    ) -> Result<Self, url::ParseError> {
        Ok(Self {
            chat: DirectChat::new(name, transport, base_url, extras, stream)?,
            model,
            stream,
        })
    }

    /// async-openai's own request for `request`: what [`ChatBody`] must serialize to, byte for
    /// byte (a test compares them).
    #[cfg(test)]
    pub(crate) fn build(&self, request: &LlmRequest) -> CreateChatCompletionRequest {
        CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: request.messages.clone(),
            tools: (!request.tools.is_empty()).then(|| request.tools.to_vec()),
            max_completion_tokens: Some(request.max_tokens),
            stream: Some(self.stream),
            stream_options: stream_options(self.stream),
            ..CreateChatCompletionRequest::default()
        }
    }
}

/// The fields of async-openai's `CreateChatCompletionRequest` that a provider sets, in its
/// order and with its omissions, borrowed: the conversation is serialized where it is, not
/// cloned into async-openai's request first (a whole conversation's copy per attempt). Sent
/// through async-openai's `create_byot`; the in-process mock reads the same bytes.
#[derive(Serialize)]
pub(crate) struct ChatBody<'a> {
    messages: &'a [ChatCompletionRequestMessage],
    model: &'a str,
    max_completion_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<ChatCompletionStreamOptions>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [ChatCompletionTools],
}

impl<'a> ChatBody<'a> {
    /// The body asking `model` to continue `messages` in at most `max_tokens`, offering
    /// `tools`, streamed or whole.
    pub(crate) fn new(
        model: &'a str,
        stream: bool,
        messages: &'a [ChatCompletionRequestMessage],
        tools: &'a [ChatCompletionTools],
        max_tokens: u32,
    ) -> Self {
        Self {
            messages,
            model,
            max_completion_tokens: max_tokens,
            stream,
            stream_options: stream_options(stream),
            tools,
        }
    }
}

impl LlmBackend for HttpLlm {
    async fn attempt(
        &self,
        request: &LlmRequest,
        _conversation: &ConversationCache,
    ) -> Attempted<LlmResponse> {
        let body = ChatBody::new(
            &self.model,
            self.stream,
            &request.messages,
            &request.tools,
            request.max_tokens,
        );
        let prompt_estimate = request.prompt_tokens;
        if self.stream {
            streamed(self, body, prompt_estimate).await
        } else {
            whole(self, body, prompt_estimate).await
        }
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
    body: ChatBody<'_>,
    prompt_estimate: u32,
) -> Attempted<LlmResponse> {
    let response = read_whole(&provider.chat, &body).await.map_err(classify)?;
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

/// A whole answer, read and deserialized as async-openai reads it (a body cut short is its
/// `Reqwest` error, a body that is not the answer its `JSONDeserialize`), so failures are
/// classified the same.
async fn read_whole(
    direct: &DirectChat,
    body: &ChatBody<'_>,
) -> Result<CreateChatCompletionResponse, async_openai::error::OpenAIError> {
    use async_openai::error::OpenAIError;
    let response = direct.post(body).await?;
    let bytes = response.bytes().await.map_err(OpenAIError::Reqwest)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| OpenAIError::JSONDeserialize(e, String::from_utf8_lossy(&bytes).into_owned()))
}

/// A stream, its events decoded by [`events::Events`] as async-openai's decoder reads them,
/// each failure the one async-openai's would give: a body cut off is `truncated` (its
/// transport error), an event that is not a chunk `malformed` (its `JSONDeserialize`), bytes
/// that are not UTF-8 as its decoder says at the end.
async fn streamed(
    provider: &HttpLlm,
    body: ChatBody<'_>,
    prompt_estimate: u32,
) -> Attempted<LlmResponse> {
    let mut assembly = Assembly::new(Instant::now(), prompt_estimate);
    let response = provider.chat.post(&body).await.map_err(classify)?;
    let mut bytes = response.bytes_stream();
    let mut events = events::Events::default();
    'read: {
        while let Some(piece) = bytes.next().await {
            let piece = piece.map_err(|_| assembly.failed(Failure::new(ErrorKind::Truncated)))?;
            for events::Event { keepalive, data } in events.push(&piece) {
                // async-openai's order: the end first, then keep-alives skipped.
                if data == "[DONE]" {
                    break 'read;
                }
                if keepalive {
                    continue;
                }
                let chunk: CreateChatCompletionStreamResponse = serde_json::from_str(&data)
                    .map_err(|_| assembly.failed(service::malformed(&data)))?;
                assembly.chunk(chunk);
            }
        }
        // The body ended without `[DONE]`: what it left undecoded may fail it.
        events
            .end()
            .map_err(|kind| assembly.failed(Failure::new(kind)))?;
    }
    assembly.finish()
}

/// A streamed answer as its chunks arrive: the text and tool calls so far, TTFT and the gaps
/// between tokens, the usage chunk's counts.
struct Assembly {
    answer: LlmResponse,
    measured: Measured,
    sent: Instant,
    last: Instant,
}

impl Assembly {
    fn new(sent: Instant, prompt_estimate: u32) -> Self {
        Self {
            answer: LlmResponse::default(),
            measured: Measured {
                status: Some(200),
                tokens_in: prompt_estimate,
                ..Measured::default()
            },
            sent,
            last: sent,
        }
    }

    /// `failure`, with the time to the first token if one came.
    fn failed(&self, failure: Failure) -> Failure {
        Failure {
            ttft: self.measured.ttft,
            ..failure
        }
    }

    fn chunk(&mut self, chunk: CreateChatCompletionStreamResponse) {
        let (answer, measured) = (&mut self.answer, &mut self.measured);
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
                    None => measured.ttft = Some(now - self.sent),
                    Some(_) => measured.inter_token.push(now - self.last),
                }
                self.last = now;
            }
            if let Some(reason) = choice.finish_reason {
                answer.finish_reason = Some(reason);
            }
        }
    }

    fn finish(self) -> Attempted<LlmResponse> {
        if self.answer.finish_reason.is_none() {
            // The stream ended without saying why: cut short.
            return Err(self.failed(Failure::new(ErrorKind::Truncated)));
        }
        Ok((self.answer, self.measured))
    }
}
