//! The built-in OpenAI-compatible mock LLM and tool server.
//!
//! It answers `POST /v1/chat/completions` (JSON and SSE streaming, text and tool calls, with
//! `usage`), `POST /v1/responses` (OpenAI's Responses API, whole and streamed, the same
//! answers), `GET /v1/models`, `POST /tools/{name}`, the same tools as an MCP server at `/mcp`
//! and `GET /stats`, with a latency model
//! (server capacity, prefill per prompt token, base latency, inter-token gaps) and seeded
//! faults, all taken from a scenario. The same [`MockServer::router`] serves real sockets
//! through [`serve`] and in-process calls (`tower::ServiceExt::oneshot`) with no sockets;
//! the virtual clock's chat calls skip even the router: [`MockServer::chat_direct`] gives the
//! same answer, faults and timing without SSE framing, and
//! [`MockServer::chat_direct_digest`] without even the body (a conversation's messages folded
//! in once each, a [`PromptDigest`]); [`MockServer::tool_direct`] does the same for tool
//! calls. It depends on `scenario` only.
//!
//! # Layout
//! - `app`: [`MockServer`], the router, shared state, error shape, fault responses.
//! - `chat`: the chat-completions handler and its SSE stream.
//! - `responses`: the Responses API handler: its conversation in chat form, planned and
//!   admitted as a chat request, answered as a `response` object or its events.
//! - `direct`: chat answers in-process without the wire ([`ChatDelivery`]), counted under
//!   either API ([`LlmApi`]); `direct::prompt`: requests as data ([`PromptDigest`],
//!   [`RequestFrame`], [`MessageParts`]).
//! - `tools`: the tool server, and [`MockServer::tool_direct`]: a tool's answer in-process as
//!   data ([`ToolDelivery`]).
//! - [`Answer`] (`answer`): the deterministic plan of one answer; `args` invents tool
//!   arguments from a JSON schema; `popularity` picks them by popularity and reuses earlier
//!   ones ([`ArgumentSampler`]).
//! - `attribution`: session attribution for the HTTP agent driver: the [`SessionMarker`] of
//!   each LLM and tool call an agent runtime makes, its [`Observed`] call handed over by
//!   [`MockServer::take_observed`], and the `/stats` counters ([`AttributionStats`]).
//! - `latency`: the latency model ([`Timing`]).
//! - `mcp`: `/mcp`, the tools as an MCP server (streamable HTTP, rmcp), with the same
//!   latency, faults and `/stats` as `POST /tools/{name}`.
//! - `faults`: seeded fault decisions per endpoint and request index.
//! - `reject`: what is turned away before a handler (a body over the limit, an unknown route,
//!   a wrong method), in OpenAI's error shape.
//! - `stats`: observed counts and sliding-window rate maxima ([`StatsSnapshot`]), requests
//!   counted per API ([`LlmApi`]).
//! - `schema`: a tool's arguments as a JSON schema ([`tool_parameters`]), for the LLM and
//!   `/mcp` alike.
//! - `tokens`: prompt token counting, each text counted by the shared exact counter
//!   (`tokencount`).
//! - `server`: the TCP accept loop, with real connection resets.
//! - `tls`: serving over TLS ([`serve_tls`]) with a certificate and key ([`TlsConfig`]).
//! - `wire`: the OpenAI wire types.

mod answer;
mod app;
mod args;
mod attribution;
mod chat;
mod config;
mod direct;
mod faults;
mod latency;
mod mcp;
mod popularity;
mod reject;
mod responses;
mod schema;
mod server;
mod stats;
mod tls;
mod tokens;
mod tools;
mod wire;

pub use answer::{Answer, PlannedCall};
pub use app::{Ending, ErrorReply, MockServer, Rejection, ResetConnection};
pub use attribution::{AttributionStats, Injected, Observed, ObservedCall, SessionMarker};
pub use config::{MockConfig, ToolBehaviour};
pub use direct::{ChatDelivery, MessageParts, PromptDigest, RequestFrame};
pub use latency::Timing;
pub use popularity::ArgumentSampler;
pub use schema::tool_parameters;
pub use server::{serve, serve_spread, serve_tls, serve_with};
pub use stats::{LlmApi, SeriesStats, StatsSnapshot, key_fingerprint};
pub use tls::{TlsConfig, TlsError};
pub use tools::ToolDelivery;
pub use wire::FinishReason;

#[cfg(test)]
mod tests;
