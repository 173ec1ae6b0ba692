//! The shared client stack: the one way every agent reaches LLM providers and tools.
//!
//! Per attempt: routing and the circuit breaker, the rate limiter (RPM and TPM), the pool
//! (bounded in flight, bounded queue, shedding), a per-attempt timeout inside the call's
//! deadline; between attempts, backoff with seeded jitter or the server's `Retry-After`,
//! under a retry budget. Every call returns a [`CallRecord`]: waits, attempts, tokens,
//! TTFT and inter-token gaps, cache use, failover and the [`ErrorKind`] of a failure. All
//! waiting is on tokio's clock, so the stack behaves the same under paused (virtual) time.
//!
//! # Layout
//! - [`backend`]: the seam to whatever answers: [`LlmBackend`] and [`ToolBackend`] (one
//!   attempt each: request in, answer and [`Measured`] timings or a classified [`Failure`]
//!   out), over HTTP ([`HttpLlm`]: async-openai chat completions; [`HttpTool`]; [`McpTool`]:
//!   a tool of an MCP server) or the embedded mock in-process ([`MockLlm`], [`MockTool`]), with the per-conversation
//!   [`ConversationCache`].
//! - [`AgentEndpoint`] (`agent`): a team's agent runtime over HTTP, one turn one request
//!   (`[agent] kind = "http"`).
//! - `build`: [`Clients`] from a scenario (each endpoint's backend chosen once), [`Embedded`]
//!   for the built-in mock, and the preflight of MCP servers before a live run.
//! - `llm`: [`LlmClient`]: routing over the providers, each call through `drive`.
//! - `tool`: [`ToolClient`] with the response cache.
//! - `drive`: one logical call through the policies; where each attempt is timed.
//! - [`breaker`], [`limiter`], [`pool`], [`budget`], [`backoff`], [`cache`]: the policies,
//!   public so they can be used on their own.
//! - `transport`: pooled reqwest for the HTTP backends (and, in tests, the mock's router
//!   in-process: the oracle the in-process backends are checked against).
//! - [`clock`]: governor's clock over tokio's.
//! - `record`: what a call reports.

mod agent;
pub mod backend;
pub mod backoff;
pub mod breaker;
pub mod budget;
mod build;
pub mod cache;
pub mod clock;
mod drive;
pub mod limiter;
mod llm;
pub mod pool;
mod record;
mod tool;
mod transport;

pub use agent::{AgentEndpoint, AgentFailure, AgentReply, AgentTurn};
pub use backend::{
    AnyLlm, AnyTool, Attempted, ConversationCache, Failure, HttpLlm, HttpTool, LlmBackend, McpTool,
    Measured, MockLlm, MockTool, ToolBackend,
};
pub use breaker::{BreakerState, BreakerStats};
pub use build::{BuildError, Clients, Embedded};
pub use cache::CacheStats;
pub use llm::{LlmClient, LlmRequest, LlmResponse, ToolCall};
pub use metrics::ErrorKind;
pub use record::{Attempt, CallRecord};
pub use tool::{ToolClient, ToolResult};
pub use transport::install_crypto_provider;

/// Raises this process's open-file limit to its hard maximum: every in-flight HTTP request
/// holds a socket, and the default soft limit (often 1,024) is far below a fleet's needs.
/// Returns the new limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
