//! Requests turned away before a handler reads them: a body over [`BODY_LIMIT`], one slower
//! than [`BODY_TIMEOUT`] or one that cannot be read, a tool name that cannot be decoded, an unknown path, a known path with the
//! wrong method. Each gets OpenAI's error shape, like the handlers' own errors, so a client
//! reads every mock error the same way (axum's defaults are plain text or an empty body).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::app::ErrorReply;

/// The largest request body the mock reads, in bytes (2 MiB, axum's default, set here so it is
/// ours and documented in `docs/mock.md`): about 500,000 tokens of English, far beyond any
/// context window the mock models. A larger body is answered 413 ([`too_large`]) before it
/// is read to the end.
pub(crate) const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How long a request body may take to arrive once its head has. The connection's idle
/// timeout (`server`) ends at the head, so without this a client sending a body byte by byte
/// would hold a connection and a task for as long as it likes. In-process bodies are whole,
/// and never wait.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The routes, for the messages of 404 and 405.
const ROUTES: [(&str, &str); 6] = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/responses"),
    ("GET", "/v1/models"),
    ("POST", "/tools/{name}"),
    ("GET", "/stats"),
    ("GET", "/metrics"),
];

/// The whole request body, at most [`BODY_LIMIT`] bytes.
#[derive(Debug)]
pub(crate) struct RequestBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = ErrorReply;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state)).await {
            Ok(read) => read.map(Self).map_err(unreadable),
            Err(_) => Err(ErrorReply::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                Some("request_timeout"),
                format!(
                    "the request body did not arrive within {} s of its head: send the whole body at once",
                    BODY_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

/// Why a body could not be read, in OpenAI's error shape.
fn unreadable(rejection: BytesRejection) -> ErrorReply {
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => too_large(),
        other => ErrorReply::new(
            other.status(),
            "invalid_request_error",
            None,
            format!(
                "cannot read the request body ({}): send the whole body, with a Content-Length or chunked",
                other.body_text()
            ),
        ),
    }
}

/// The answer to a body over [`BODY_LIMIT`].
pub(crate) fn too_large() -> ErrorReply {
    ErrorReply::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        Some("request_too_large"),
        format!(
            "request body is over the mock's limit of {BODY_LIMIT} bytes: send a smaller body (fewer or shorter messages)"
        ),
    )
}

/// The `{name}` of `/tools/{name}`, percent-decoded.
#[derive(Debug)]
pub(crate) struct ToolName(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for ToolName {
    type Rejection = ErrorReply;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(name)| Self(name))
            .map_err(|rejection| {
                ErrorReply::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("invalid_tool_name"),
                    format!(
                        "cannot read the tool name of {} ({}): name a tool in UTF-8, percent-encoded",
                        parts.uri.path(),
                        rejection.body_text()
                    ),
                )
            })
    }
}

/// The answer to a path the mock does not serve.
pub(crate) async fn not_found(uri: Uri) -> Response {
    ErrorReply::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("not_found"),
        format!(
            "unknown route {}: the mock serves {}",
            uri.path(),
            routes(|_| true)
        ),
    )
    .into_response()
}

/// The answer to a known path with another method (axum adds the `Allow` header).
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let allowed =
        routes(|route| route == path || (route == "/tools/{name}" && path.starts_with("/tools/")));
    ErrorReply::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        format!("{method} is not served on {path}: use {allowed}"),
    )
    .into_response()
}

/// The routes whose path `keep` accepts, as `METHOD PATH` joined by commas.
fn routes(keep: impl Fn(&str) -> bool) -> String {
    ROUTES
        .iter()
        .filter(|(_, path)| keep(path))
        .map(|(method, path)| format!("{method} {path}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
