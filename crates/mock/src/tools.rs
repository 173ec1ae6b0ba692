//! `POST /tools/{name}`: the mock tool server. What a tool returns depends only on its name
//! and arguments (so caching is meaningful); how long it takes and whether it fails are drawn
//! per call (so retries of a transient failure can succeed).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::time::{Instant, sleep_until};

use scenario::rng::{SimRng, stable_hash, stream as streams};
use scenario::text;

use crate::app::{Ending, Shared, apply_fault, cut_body, error};
use crate::faults::Target;

/// The body of a successful tool call.
#[derive(Debug, Serialize)]
struct ToolResult<'a> {
    tool: &'a str,
    output: String,
    tokens: u32,
}

pub(crate) async fn handle(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(tool) = s.config.tools.get(&name) else {
        let known: Vec<&str> = s.config.tools.keys().map(String::as_str).collect();
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("unknown_tool"),
            format!(
                "unknown tool `{name}`: this mock serves {}",
                known.join(", ")
            ),
        );
    };
    let _in_flight = s.stats.tool(&Shared::key(&headers), &name);
    let (n, fault) = s.faults.next(Target::Tool { name: &name }, s.elapsed());
    let degrade = match apply_fault(&s, fault).await {
        Ok(d) => d,
        Err(rejection) => return rejection.into_response(),
    };
    let started = Instant::now();
    let name_hash = stable_hash(name.as_bytes());
    let mut per_call = SimRng::derive(s.config.seed, &[streams::MOCK_TOOL, name_hash, n]);
    let latency = tool.mock.latency.sample(&mut per_call).0;
    let failed = per_call.chance(tool.mock.failure_rate.0);
    sleep_until(started + degrade.slow_first + latency).await;
    if failed {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "tool_error",
            Some("tool_failed"),
            format!("tool `{name}` failed (simulated failure rate)"),
        );
    }
    let mut per_args = SimRng::derive(
        s.config.seed,
        &[streams::MOCK_TOOL, name_hash, stable_hash(&body)],
    );
    let tokens = tool.mock.response_tokens.sample(&mut per_args).0;
    let result = ToolResult {
        tool: &name,
        output: text::words(&mut per_args, tokens),
        tokens,
    };
    let bytes = Bytes::from(serde_json::to_vec(&result).expect("a tool result always serializes"));
    let json = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )];
    match degrade.ending {
        Ending::Complete => (json, bytes).into_response(),
        Ending::Truncated => (json, cut_body(&bytes)).into_response(),
        Ending::Malformed => (json, bytes.slice(..bytes.len() / 2)).into_response(),
    }
}
