//! `/mcp`: the scenario's mock tools as an MCP server over the streamable HTTP transport
//! (`POST`, `GET` and `DELETE /mcp`), served by the official SDK's tower service (rmcp's
//! `StreamableHttpService`) on the mock's own listener, plain or TLS.
//!
//! rmcp answers the protocol; around it this module
//! - counts every JSON-RPC request of a `POST` in `/stats` (`mcp_requests`);
//! - gives each HTTP request a [`VerdictSlot`], through which a tool call's fault reaches the
//!   HTTP response ([`handler`]): for a `POST` answered with an event stream, the head waits
//!   for the stream's first event (the answer: no priming event, no keep-alive comments
//!   before it), so a fault can still replace it with a 429/503 or a reset connection, or cut
//!   the event it carries.
//!
//! Sessions are stateful (`Mcp-Session-Id`) and bounded ([`sessions`]). The `Host` header is
//! not checked (rmcp checks for a loopback name by default): the mock is meant to be reached
//! from other machines and containers, and guards nothing a rebinding attack could take.
//!
//! # Layout
//! - `handler`: the MCP handler ([`handler::Tools`]): `tools/list`, `tools/call`.
//! - `sessions`: the bounded session manager.

mod handler;
mod sessions;

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any};
use futures_util::StreamExt;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tower::ServiceExt;

use crate::app::{Ending, ErrorReply, Shared, cut_body, reset};
use crate::reject::{BODY_LIMIT, RequestBody};

/// What the HTTP response to a `POST /mcp` must do instead of carrying the answer whole.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// Answer with this status (a 429 or 503 fault).
    Status(ErrorReply),
    /// Reset the connection (a `reset` fault, or a `stall` that reached its limit).
    Reset,
    /// Cut the answer's event: `Truncated` or `Malformed`.
    Cut(Ending),
}

/// Where a tool call leaves its [`Verdict`] for the HTTP request it came in: rmcp hands the
/// handler the request's parts, extensions included.
#[derive(Clone, Debug, Default)]
pub(crate) struct VerdictSlot(Arc<Mutex<Option<Verdict>>>);

impl VerdictSlot {
    pub(crate) fn set(&self, verdict: Verdict) {
        *self.lock() = Some(verdict);
    }

    fn take(&self) -> Option<Verdict> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Verdict>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The MCP server of one mock.
struct Mcp {
    shared: Arc<Shared>,
    service: StreamableHttpService<handler::Tools, sessions::BoundedSessions>,
}

/// The `/mcp` route, every method (rmcp answers 405 to those it does not serve).
pub(crate) fn route(shared: &Arc<Shared>) -> MethodRouter<Arc<Shared>> {
    let config = StreamableHttpServerConfig::default()
        // Nothing may come before a POST's answer (see the module's doc); a client that wants
        // a GET stream kept open through a proxy has its own keep-alive.
        .with_sse_keep_alive(None)
        .with_sse_retry(None)
        .disable_allowed_hosts()
        .with_max_request_body_bytes(BODY_LIMIT)
        // Sessions and their streams end when the mock shuts down.
        .with_cancellation_token(shared.shutdown.child_token());
    let tools = handler::Tools::new(shared.clone());
    let service = StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(sessions::BoundedSessions::new(sessions::MAX_SESSIONS)),
        config,
    );
    let mcp = Arc::new(Mcp {
        shared: shared.clone(),
        service,
    });
    any(handle).with_state(mcp)
}

async fn handle(State(mcp): State<Arc<Mcp>>, mut parts: Parts, body: RequestBody) -> Response {
    let RequestBody(body) = body;
    let post = parts.method == Method::POST;
    if post {
        mcp.shared.stats.mcp(requests_in(&body));
    }
    let slot = VerdictSlot::default();
    parts.extensions.insert(slot.clone());
    let response = mcp
        .service
        .clone()
        .oneshot(Request::from_parts(parts, Body::from(body)))
        .await
        .unwrap_or_else(|never| match never {});
    let streamed = response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !post || !streamed {
        return response.map(Body::new);
    }
    let (head, body) = response.into_parts();
    let mut events = Body::new(body).into_data_stream();
    let first = events.next().await;
    let body = match (slot.take(), first) {
        (Some(Verdict::Status(reply)), _) => return reply.into_response(),
        (Some(Verdict::Reset), _) => return reset(),
        (Some(Verdict::Cut(ending)), Some(Ok(event))) => cut(&event, ending),
        (_, first) => Body::from_stream(futures_util::stream::iter(first).chain(events)),
    };
    Response::from_parts(head, body)
}

/// The body of an answer's event `event` cut by a `truncate` fault (its first half, then the
/// connection aborted) or a `malformed` one (its first half, ended as an event: JSON cut
/// short).
fn cut(event: &Bytes, ending: Ending) -> Body {
    match ending {
        Ending::Complete => Body::from(event.clone()),
        Ending::Truncated => cut_body(event),
        Ending::Malformed => {
            let mut half = event[..event.len() / 2].to_vec();
            half.extend_from_slice(b"\n\n");
            Body::from(half)
        }
    }
}

/// How many JSON-RPC requests (messages with a `method` and an `id`) a `POST` body holds: one,
/// none (a notification, a response, not JSON-RPC) or, in a batch, each one.
fn requests_in(body: &[u8]) -> u64 {
    #[derive(Deserialize)]
    struct Message {
        id: Option<IgnoredAny>,
        method: Option<IgnoredAny>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Post {
        One(Message),
        Batch(Vec<Message>),
    }
    let request = |m: &Message| m.id.is_some() && m.method.is_some();
    match serde_json::from_slice::<Post>(body) {
        Ok(Post::One(m)) => u64::from(request(&m)),
        Ok(Post::Batch(all)) => all.iter().filter(|m| request(m)).count() as u64,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_and_notifications_are_not() {
        assert_eq!(
            requests_in(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            1
        );
        assert_eq!(
            requests_in(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            0
        );
        assert_eq!(requests_in(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#), 0);
        assert_eq!(
            requests_in(
                br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"},{"jsonrpc":"2.0","id":"b","method":"ping"}]"#
            ),
            2
        );
        assert_eq!(requests_in(b"not json"), 0);
    }
}
