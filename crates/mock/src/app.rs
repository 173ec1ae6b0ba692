//! The mock as an axum [`Router`]: usable over sockets ([`crate::serve`]) or in-process with
//! `tower::ServiceExt::oneshot` and no sockets at all (the virtual clock's transport); and
//! how a request is rejected or degraded by a fault, for the router and the direct path.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use scenario::{Fault, FaultKind};

use crate::attribution::{Attribution, ObservedCall, Watch};
use crate::config::MockConfig;
use crate::faults::FaultPlan;
use crate::stats::{Stats, StatsSnapshot, key_fingerprint};
use crate::wire::{ErrorBody, ErrorDetail};
use crate::{chat, mcp, reject, responses, tokens, tools};

/// `created` of answers: this epoch (2026-01-01) plus the mock's uptime, so answers depend on
/// nothing outside the mock's clock.
const EPOCH: u64 = 1_767_225_600;

/// Marks a response that must not be sent: the connection is reset instead. Over sockets
/// [`crate::serve`] turns it into a TCP RST (HTTP/1.1) or a stream reset (h2c); an in-process
/// client treats it as a reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResetConnection;

/// The state every handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: MockConfig,
    /// Generation slots: the server's batch capacity. Waiting for one is the queueing that
    /// makes fleet size visible in latency; it is FIFO, like a real server's scheduler.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) faults: FaultPlan,
    pub(crate) stats: Stats,
    pub(crate) started: Instant,
    /// Cancelled at shutdown, so stalled requests end.
    pub(crate) shutdown: CancellationToken,
    /// The session attribution recorder, while [`MockConfig::attribution`] is on.
    pub(crate) attribution: Option<Arc<Attribution>>,
}

impl Shared {
    pub(crate) fn elapsed(&self) -> Duration {
        Instant::now().duration_since(self.started)
    }

    pub(crate) fn created(&self) -> u32 {
        u32::try_from(EPOCH + self.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Starts watching an HTTP call for session attribution, its marker looked for in
    /// `bytes`; not watched (nothing scanned or counted) while attribution is off.
    pub(crate) fn watch(&self, call: ObservedCall, bytes: &[u8]) -> Watch {
        match &self.attribution {
            Some(attribution) => attribution.watch(call, bytes),
            None => Watch::off(),
        }
    }

    /// `/stats`: the counters, and the attribution counters while attribution is on.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let mut snapshot = self.stats.snapshot();
        snapshot.attribution = self.attribution.as_ref().map(|a| a.counts());
        snapshot
    }

    /// The fingerprint of the request's API key.
    pub(crate) fn key(headers: &HeaderMap) -> String {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        key_fingerprint(bearer)
    }
}

/// A running mock: its router and its counters. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MockServer {
    pub(crate) shared: Arc<Shared>,
    /// Built once: in-process callers route every request, and building costs more than a
    /// clone.
    router: Router,
}

impl MockServer {
    /// A mock with this configuration; its clock starts now.
    pub fn new(config: MockConfig) -> Self {
        tokens::warm_up(config.llm.tokenizer);
        let capacity = usize::try_from(config.llm.capacity)
            .unwrap_or(usize::MAX)
            .max(1);
        let faults = FaultPlan::new(
            config.seed,
            config.llm.faults.clone(),
            config.tools.keys().cloned(),
        );
        let started = Instant::now();
        let shared = Arc::new(Shared {
            slots: Arc::new(Semaphore::new(capacity)),
            faults,
            stats: Stats::new(started),
            started,
            shutdown: CancellationToken::new(),
            attribution: config.attribution.then(Arc::default),
            config,
        });
        let router = Router::new()
            .route("/v1/chat/completions", post(chat::handle))
            .route("/v1/responses", post(responses::handle))
            .route("/v1/models", get(models))
            .route("/tools/{name}", post(tools::handle))
            .route("/mcp", mcp::route(&shared))
            .route("/stats", get(stats))
            .route("/metrics", get(metrics))
            // After the routes: it applies to those registered before it.
            .method_not_allowed_fallback(reject::method_not_allowed)
            .fallback(reject::not_found)
            .layer(DefaultBodyLimit::max(reject::BODY_LIMIT))
            .with_state(shared.clone());
        Self { shared, router }
    }

    /// The routes: `POST /v1/chat/completions`, `POST /v1/responses`, `GET /v1/models`,
    /// `POST /tools/{name}`, `POST`/`GET`/`DELETE /mcp`, `GET /stats`, `GET /metrics`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// What the mock has observed so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.snapshot()
    }

    /// The configuration.
    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    /// Ends stalled requests; called by [`crate::serve`] when it shuts down.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }
}

async fn models(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let data: Vec<_> = s
        .config
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": EPOCH, "owned_by": "fleetbench-mock"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

async fn stats(State(s): State<Arc<Shared>>) -> Json<StatsSnapshot> {
    Json(s.snapshot())
}

/// `GET /stats` in the Prometheus text format (docs/prometheus.md).
async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    use crate::stats::prometheus;
    (
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        prometheus::encode(&s.snapshot()),
    )
}

/// Why a request gets no answer: an error status, or a reset connection. The HTTP handlers
/// turn it into a response; [`MockServer::chat_direct`] hands it over as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// An error status with OpenAI's error body.
    Status(ErrorReply),
    /// The connection is reset before a response head: the `reset` fault, or a `stall` that
    /// lasted until `stall_limit` or the mock's shutdown.
    Reset,
}

/// An error response: its status, `Retry-After`, and OpenAI's error body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// 400 (a bad request), 404 (an unknown route or tool), 405 (a known route, another
    /// method), 413 (a body over the limit), 429, 500 or 503 (faults).
    pub status: StatusCode,
    /// `Retry-After` (whole seconds, as the header says it), on a 429.
    pub retry_after: Option<Duration>,
    /// `error.type`.
    pub kind: &'static str,
    /// `error.code`.
    pub code: Option<&'static str>,
    /// `error.message`.
    pub message: String,
}

impl ErrorReply {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: String,
    ) -> Self {
        Self {
            status,
            retry_after: None,
            kind,
            code,
            message,
        }
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                message: self.message,
                kind: self.kind,
                param: None,
                code: self.code,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, after.as_secs().into());
        }
        response
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Status(reply) => reply.into_response(),
            Rejection::Reset => reset(),
        }
    }
}

/// A `400` for a request the mock cannot read.
pub(crate) fn bad_request(message: String) -> Rejection {
    Rejection::Status(ErrorReply::new(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
    ))
}

/// A body that sends the first half of `full` and then fails, so the connection is aborted
/// mid-response (the `truncate` fault).
pub(crate) fn cut_body(full: &Bytes) -> Body {
    let half = full.slice(..full.len() / 2);
    Body::from_stream(futures_util::stream::unfold(
        Some(half),
        |state| async move {
            match state {
                Some(half) => Some((Ok(half), None)),
                None => Some((Err(cut().await), None)),
            }
        },
    ))
}

/// The error that cuts a response. It first yields to the runtime once, so the connection
/// flushes what was sent before (hyper drops buffered bytes when a body fails in the same
/// poll that produced them).
pub(crate) async fn cut() -> std::io::Error {
    tokio::task::yield_now().await;
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "injected fault: response truncated",
    )
}

/// A response whose connection must be reset.
pub(crate) fn reset() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(ResetConnection);
    response
}

/// How a response ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ending {
    /// Whole: the JSON body, or the stream up to `finish_reason`, usage and `[DONE]`.
    #[default]
    Complete,
    /// Cut short, the connection aborted (a `truncate` fault): half a body, or a stream cut
    /// before its middle token.
    Truncated,
    /// Not valid JSON (a `malformed` fault): half a body, or a stream whose middle chunk is
    /// broken.
    Malformed,
}

/// How a request that is answered goes wrong, if it does.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Degrade {
    /// How the response ends: complete, cut halfway (the connection aborted), or with a body
    /// (or one chunk) that is not valid JSON.
    pub(crate) ending: Ending,
    /// Extra delay before the first token.
    pub(crate) slow_first: Duration,
}

/// Applies a fault: either a rejection that replaces the answer, or how the answer degrades.
pub(crate) async fn apply_fault(s: &Shared, fault: Option<&Fault>) -> Result<Degrade, Rejection> {
    let Some(fault) = fault else {
        return Ok(Degrade::default());
    };
    s.stats.fault(fault.kind);
    let status = |status, code, message: &str| {
        Err(Rejection::Status(ErrorReply::new(
            status,
            "server_error",
            code,
            message.to_owned(),
        )))
    };
    match fault.kind {
        FaultKind::RateLimit => {
            let after = fault.retry_after().0;
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            Err(Rejection::Status(ErrorReply {
                retry_after: Some(Duration::from_secs(secs)),
                ..ErrorReply::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    Some("rate_limit_exceeded"),
                    format!("Rate limit reached (injected fault). Please try again in {secs}s."),
                )
            }))
        }
        FaultKind::ServerError => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "The server had an error while processing your request (injected fault).",
        ),
        FaultKind::Unavailable => status(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("service_unavailable"),
            "The engine is currently overloaded, please try again later (injected fault).",
        ),
        FaultKind::Reset => Err(Rejection::Reset),
        FaultKind::Stall => {
            // `biased`: select! is otherwise randomly ordered, which a seeded run must not be.
            tokio::select! {
                biased;
                () = tokio::time::sleep(s.config.llm.stall_limit.0) => {}
                () = s.shutdown.cancelled() => {}
            }
            Err(Rejection::Reset)
        }
        FaultKind::Truncate => Ok(Degrade {
            ending: Ending::Truncated,
            ..Degrade::default()
        }),
        FaultKind::Malformed => Ok(Degrade {
            ending: Ending::Malformed,
            ..Degrade::default()
        }),
        FaultKind::SlowFirstToken => Ok(Degrade {
            slow_first: fault.delay().0,
            ..Degrade::default()
        }),
    }
}
