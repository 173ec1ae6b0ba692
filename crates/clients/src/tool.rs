//! The tool client: `POST` the arguments to the tool, through the same policies as the LLM,
//! with an optional response cache in front (hits and coalesced calls never reach the tool).
//! Calls to the embedded mock in-process (the virtual clock) skip the wire: [`direct`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use metrics::ErrorKind;
use mock::{Ending, MockServer};
use scenario::Retry;

use crate::cache::{Lookup, ResponseCache, tool_key};
use crate::direct::rejected;
use crate::drive::{Failure, Measured, Policy, Target, drive};
use crate::llm::StatusError;
use crate::record::CallRecord;
use crate::transport::{Transport, classify_reqwest};

/// What a tool returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolResult {
    /// The text the agent appends to its conversation.
    pub output: Arc<str>,
    /// Its size in tokens, as the tool reported it (or estimated at 4 characters a token).
    pub tokens: u32,
}

/// The mock's tool answer.
#[derive(Deserialize)]
struct MockToolBody {
    output: String,
    tokens: u32,
}

/// One tool with its policies.
#[derive(Debug)]
pub(crate) struct ToolEntry {
    pub(crate) target: Arc<Target>,
    pub(crate) transport: Transport,
    /// The URL the arguments are posted to.
    pub(crate) url: String,
    /// The embedded mock answers `{"output", "tokens"}`; other tools answer text.
    pub(crate) mock_shape: bool,
    pub(crate) cache: Option<ResponseCache<ToolResult>>,
    /// The embedded mock without the wire, when the transport is in-process: the same
    /// results without a request, a router and a JSON body each way (see [`direct`]).
    pub(crate) direct: Option<MockServer>,
    pub(crate) retry: Retry,
    pub(crate) deadline: Duration,
}

/// The shared tool client.
#[derive(Debug, Default)]
pub struct ToolClient {
    pub(crate) tools: BTreeMap<String, ToolEntry>,
    /// Ends every call in flight as `cancelled` ([`crate::Clients::cancel_calls`]).
    pub(crate) cancel: CancellationToken,
}

impl ToolClient {
    /// One logical tool call. An unknown tool (the model invented one) fails at once as a
    /// client error.
    pub async fn call(
        &self,
        name: &str,
        args: &serde_json::Value,
        seed: u64,
    ) -> (CallRecord, Result<ToolResult, ErrorKind>) {
        let Some(tool) = self.tools.get(name) else {
            let record = CallRecord {
                target: name.to_owned(),
                error: Some(ErrorKind::ClientError),
                ..CallRecord::default()
            };
            return (record, Err(ErrorKind::ClientError));
        };
        let Some(cache) = &tool.cache else {
            return fetch(tool, args, seed, &self.cancel).await;
        };
        let start = tokio::time::Instant::now();
        let mut fetched = None;
        let (result, lookup) = cache
            .get_or_fetch(&tool_key(name, args), || async {
                let (record, result) = fetch(tool, args, seed, &self.cancel).await;
                fetched = Some(record);
                result
            })
            .await;
        let mut record = fetched.unwrap_or_else(|| CallRecord {
            target: name.to_owned(),
            ..CallRecord::default()
        });
        record.cache_hit = Some(lookup != Lookup::Miss);
        record.total = start.elapsed();
        record.error = result.as_ref().err().copied();
        (record, result)
    }

    /// The cache statistics of each tool that has a cache.
    pub fn cache_stats(&self) -> Vec<(String, crate::CacheStats)> {
        self.tools
            .iter()
            .filter_map(|(n, t)| t.cache.as_ref().map(|c| (n.clone(), c.stats())))
            .collect()
    }

    /// The breaker state and stats of each tool.
    pub fn breakers(&self) -> Vec<(String, crate::BreakerState, crate::BreakerStats)> {
        self.tools
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    t.target.breaker.state(),
                    t.target.breaker.stats(),
                )
            })
            .collect()
    }
}

async fn fetch(
    tool: &ToolEntry,
    args: &serde_json::Value,
    seed: u64,
    cancel: &CancellationToken,
) -> (CallRecord, Result<ToolResult, ErrorKind>) {
    let policy = Policy {
        retry: &tool.retry,
        deadline: tool.deadline,
        seed,
        estimated_tokens: 0,
        cancel,
    };
    let targets = std::slice::from_ref(&tool.target);
    drive(targets, || vec![0], &policy, |_| attempt(tool, args)).await
}

async fn attempt(
    tool: &ToolEntry,
    args: &serde_json::Value,
) -> Result<(ToolResult, Measured), Failure> {
    let body = serde_json::to_vec(args).map_err(|_| Failure::new(ErrorKind::ClientError))?;
    if let Some(mock) = &tool.direct {
        return direct(mock, &tool.target.name, &body).await;
    }
    let request = reqwest::Request::new(
        reqwest::Method::POST,
        tool.url
            .parse()
            .map_err(|_| Failure::new(ErrorKind::ClientError))?,
    );
    let mut request = request;
    request.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    *request.body_mut() = Some(body.into());
    let response = tool
        .transport
        .send(request)
        .await
        .map_err(|e| Failure::new(e.kind))?;
    if !response.status().is_success() {
        return Err(StatusError::from_response(response).await.failure());
    }
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::new(classify_reqwest(&e)))?;
    let result = if tool.mock_shape {
        let body: MockToolBody =
            serde_json::from_slice(&bytes).map_err(|_| Failure::new(ErrorKind::Malformed))?;
        ToolResult {
            output: body.output.into(),
            tokens: body.tokens,
        }
    } else {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let tokens = u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX);
        ToolResult {
            output: text.into(),
            tokens,
        }
    };
    let measured = Measured {
        status: Some(status),
        tokens_out: result.tokens,
        ..Measured::default()
    };
    Ok((result, measured))
}

/// An attempt against the embedded mock in-process, without the wire: what [`attempt`]
/// returns for the same body through the mock's router (the same result or failure kind,
/// status and `Retry-After`, at the same simulated time), without building a request,
/// routing it, and writing and parsing a JSON body. The tool's name is the target's (the
/// route's path segment).
///
/// Why: under the virtual clock a tool call through the router cost a sixth of a run.
async fn direct(
    mock: &MockServer,
    name: &str,
    body: &[u8],
) -> Result<(ToolResult, Measured), Failure> {
    // The mock's work is the server's, charged as shared heap, not to the calling agent. Tool
    // requests carry no API key.
    let delivery = heap::shared_future(mock.tool_direct(name, body, None))
        .await
        .map_err(rejected)?;
    match delivery.ending {
        Ending::Complete => {}
        Ending::Truncated => {
            // The router's cut body yields once before it fails (`mock::app::cut`), and so
            // does the client reading it.
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

#[cfg(test)]
mod tests;
