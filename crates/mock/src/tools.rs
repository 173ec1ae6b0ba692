//! `POST /tools/{name}`: the mock tool server. What a tool returns depends only on its name
//! and arguments (so caching is meaningful); how long it takes and whether it fails are drawn
//! per call (so retries of a transient failure can succeed). In-process callers (the virtual
//! clock) skip the router and the JSON body: [`MockServer::tool_direct`] gives the same
//! answer, faults and timing as data.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::time::{Instant, sleep_until};

use scenario::rng::{SimRng, stable_hash, stream as streams};

use crate::app::{Ending, ErrorReply, MockServer, Rejection, Shared, apply_fault, cut_body};
use crate::attribution::{Injected, ObservedCall, Watch};
use crate::faults::Target;
use crate::reject::{RequestBody, ToolName};
use crate::stats::key_fingerprint;

/// The body of a successful tool call.
#[derive(Debug, Serialize)]
struct ToolResult<'a> {
    tool: &'a str,
    output: String,
    tokens: u32,
}

/// A tool's answer as an in-process client receives it, without the wire:
/// [`MockServer::tool_direct`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolDelivery {
    /// The tool's output (the body's `output`).
    pub output: String,
    /// Its size in tokens (the body's `tokens`).
    pub tokens: u32,
    /// How the response ended: whole, cut halfway (`truncate`), or not valid JSON
    /// (`malformed`).
    pub ending: Ending,
}

impl MockServer {
    /// Answers a call of tool `name` in-process, as `POST /tools/{name}` would for the body
    /// `args`, without HTTP or JSON: the same output for the same bytes, the same `/stats`,
    /// faults (a rejection for a status or a reset) and timing; the future completes when the
    /// response would have been sent. `api_key` is the bearer token, for `/stats`.
    pub async fn tool_direct(
        &self,
        name: &str,
        args: &[u8],
        api_key: Option<&str>,
    ) -> Result<ToolDelivery, Rejection> {
        let key = key_fingerprint(api_key);
        answer(&self.shared, name, &key, args, &mut Watch::off()).await
    }
}

pub(crate) async fn handle(
    State(s): State<Arc<Shared>>,
    ToolName(name): ToolName,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Response {
    let mut watch = s.watch(ObservedCall::Tool { name: name.clone() }, &body);
    let key = Shared::key(&headers);
    let delivery = match answer(&s, &name, &key, &body, &mut watch).await {
        Ok(d) => d,
        Err(rejection) => {
            watch.reject(&rejection);
            return rejection.into_response();
        }
    };
    let result = ToolResult {
        tool: &name,
        output: delivery.output,
        tokens: delivery.tokens,
    };
    let bytes = Bytes::from(serde_json::to_vec(&result).expect("a tool result always serializes"));
    let json = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )];
    match delivery.ending {
        Ending::Complete => (json, bytes).into_response(),
        Ending::Truncated => (json, cut_body(&bytes)).into_response(),
        Ending::Malformed => (json, bytes.slice(..bytes.len() / 2)).into_response(),
    }
}

/// The answer to a call of tool `name` with the body `body` from the key `key` (its
/// fingerprint), when the response would be sent: the router's, the direct path's and
/// `/mcp`'s (`crate::mcp`). What it injects is noted on `watch` (the caller notes a
/// rejection's status).
pub(crate) async fn answer(
    s: &Shared,
    name: &str,
    key: &str,
    body: &[u8],
    watch: &mut Watch,
) -> Result<ToolDelivery, Rejection> {
    let Some(tool) = s.config.tools.get(name) else {
        let known: Vec<&str> = s.config.tools.keys().map(String::as_str).collect();
        return Err(Rejection::Status(ErrorReply::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("unknown_tool"),
            format!(
                "unknown tool `{name}`: this mock serves {}",
                known.join(", ")
            ),
        )));
    };
    let _in_flight = s.stats.tool(key, name);
    let (n, fault) = s.faults.next(Target::Tool { name }, s.elapsed());
    if let Some(fault) = fault {
        watch.inject(Injected::Fault(fault.kind));
    }
    let degrade = apply_fault(s, fault).await?;
    let started = Instant::now();
    let name_hash = stable_hash(name.as_bytes());
    let mut per_call = SimRng::derive(s.config.seed, &[streams::MOCK_TOOL, name_hash, n]);
    let latency = tool.mock.latency.sample(&mut per_call).0;
    let failed = per_call.chance(tool.mock.failure_rate.0);
    sleep_until(started + degrade.slow_first + latency).await;
    if failed {
        watch.inject(Injected::ToolFailure);
        return Err(Rejection::Status(ErrorReply::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "tool_error",
            Some("tool_failed"),
            format!("tool `{name}` failed (simulated failure rate)"),
        )));
    }
    let mut per_args = SimRng::derive(
        s.config.seed,
        &[streams::MOCK_TOOL, name_hash, stable_hash(body)],
    );
    let tokens = tool.mock.response_tokens.sample(&mut per_args).0;
    Ok(ToolDelivery {
        output: tokencount::words(&mut per_args, tokens),
        tokens,
        ending: degrade.ending,
    })
}
