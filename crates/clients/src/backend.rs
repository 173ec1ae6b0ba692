//! The seam between the policies and whatever answers a call: one trait for LLM attempts
//! ([`LlmBackend`]) and one for tool attempts ([`ToolBackend`]).
//!
//! A backend makes one attempt: a request in, the answer with what the attempt measured
//! ([`Measured`]: status, TTFT, inter-token gaps, tokens), or a classified [`Failure`] (its
//! [`ErrorKind`], status, `Retry-After`, TTFT). It does not retry, wait for a slot or a rate
//! limit, or time itself out: the policies around it (`drive`: routing, breaker, pool, limiter,
//! the attempt's timeout, retries with backoff under a budget; the tool cache in
//! [`crate::ToolClient`]) do that the same way whatever the backend, and time the attempt
//! from sending to its end (`drive`, `Attempt::duration`).
//!
//! Implementations:
//! - [`HttpLlm`]: OpenAI chat completions over HTTP; [`HttpResponses`]: OpenAI's Responses
//!   API over HTTP, the agents' chat conversation sent as its input items. Both through
//!   async-openai with one service injected (`service`: our transport, no hidden retries, our
//!   credentials only, a 2xx in the wrong framing for `stream` told apart as
//!   `stream_mismatch`) and their failures classified by the same code.
//!   [`HttpTool`]: a tool's URL, `POST`ed. [`McpTool`]: a tool of an MCP server (streamable
//!   HTTP, through rmcp on our transport), one session per server shared by all agents.
//! - [`MockLlm`], [`MockTool`]: the embedded mock called in-process, without the wire (the
//!   virtual clock): the same results, timings and `/stats` as over HTTP, without a per-token
//!   cost, for either API ([`MockLlm::with_api`]). The router path (a request body through
//!   the mock's axum router) is kept only as their test oracle.
//! - [`AnyLlm`], [`AnyTool`]: the one a scenario's endpoint names, chosen when the clients are
//!   built (an enum rather than a `dyn`: no allocation per attempt, and an agent's memory
//!   figures count nothing the backend choice adds).
//!
//! What a backend keeps per conversation (the in-process mock: what it read of the messages
//! so far, so a call hands over only the new ones) lives in an opaque [`ConversationCache`]
//! the caller keeps beside its conversation; the agent never learns which backend it talks to.

use std::future::Future;
use std::time::Duration;

use metrics::ErrorKind;

use crate::llm::{LlmRequest, LlmResponse};
use crate::tool::ToolResult;

mod any;
mod credentials;
mod http_tool;
mod mcp;
mod mock;
mod openai;
mod responses;
mod service;
#[cfg(test)]
mod tests;

pub use any::{AnyLlm, AnyTool};
pub(crate) use credentials::Extras;
pub use http_tool::HttpTool;
pub use mcp::McpTool;
pub(crate) use mcp::{Session as McpSession, preflight as mcp_preflight, same_server};
pub use mock::{MockLlm, MockTool};
pub use openai::HttpLlm;
pub use responses::HttpResponses;
pub(crate) use service::StatusError;

/// What a successful attempt measured (its duration is the policies': `drive`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Measured {
    /// The HTTP status of the response.
    pub status: Option<u16>,
    /// Time to the first token of a stream, from sending.
    pub ttft: Option<Duration>,
    /// Gaps between a stream's tokens after the first.
    pub inter_token: Vec<Duration>,
    /// Prompt tokens (from `usage`, else the caller's estimate).
    pub tokens_in: u32,
    /// Completion tokens (from `usage`), or a tool result's tokens.
    pub tokens_out: u32,
}

/// Why an attempt failed, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong: decides retrying and the breaker.
    pub kind: ErrorKind,
    /// The HTTP status, when a response head arrived.
    pub status: Option<u16>,
    /// The server's `Retry-After`, which replaces the backoff.
    pub retry_after: Option<Duration>,
    /// Time to the first token, when a stream broke after it.
    pub ttft: Option<Duration>,
}

impl Failure {
    /// A failure of `kind` with nothing else known.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            status: None,
            retry_after: None,
            ttft: None,
        }
    }
}

/// One attempt's outcome.
pub type Attempted<T> = Result<(T, Measured), Failure>;

/// Whatever answers LLM calls: one attempt at a time (see the module's documentation).
pub trait LlmBackend: std::fmt::Debug + Send + Sync {
    /// Brings `conversation` up to `request` once per logical call, before its attempts: a
    /// backend that keeps state per conversation updates it here. The default keeps nothing.
    fn prepare(&self, conversation: &mut ConversationCache, request: &LlmRequest) {
        let _ = (conversation, request);
    }

    /// One attempt at `request`, with what [`LlmBackend::prepare`] left in `conversation`.
    fn attempt(
        &self,
        request: &LlmRequest,
        conversation: &ConversationCache,
    ) -> impl Future<Output = Attempted<LlmResponse>> + Send;
}

/// Whatever answers tool calls: one attempt at a time (see the module's documentation).
pub trait ToolBackend: std::fmt::Debug + Send + Sync {
    /// One attempt: the tool called with `args`.
    fn attempt(
        &self,
        args: &serde_json::Value,
    ) -> impl Future<Output = Attempted<ToolResult>> + Send;
}

/// What the backends keep of one conversation between its calls, opaque to the caller: keep
/// one beside a conversation that is resent call after call ([`crate::LlmClient::call_in`]),
/// and [`ConversationCache::truncate`] it when earlier messages change. Over HTTP it stays
/// empty; the in-process mock keeps what it read of the messages so far.
#[derive(Clone, Debug, Default)]
pub struct ConversationCache {
    mock: mock::Read,
}

impl ConversationCache {
    /// A cache of no messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps what was read of the first `messages` messages only: the messages after them
    /// were rewritten or removed.
    pub fn truncate(&mut self, messages: usize) {
        self.mock.truncate(messages);
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.mock.heap_bytes()
    }
}
