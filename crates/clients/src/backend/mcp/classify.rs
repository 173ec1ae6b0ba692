//! MCP failures classified as HTTP ones are: what the wire did (status, reset, timeout, TLS,
//! connect) through the same code as the HTTP backends, and a JSON-RPC error by whose fault
//! it is (the request's: `client_error`; the server's: `server_error`).

use std::error::Error as StdError;
use std::time::{Duration, SystemTime};

use rmcp::model::{ErrorCode, ErrorData};
use rmcp::service::{ClientInitializeError, ServiceError};
use rmcp::transport::streamable_http_client::{HttpStatusError, StreamableHttpError};

use metrics::ErrorKind;

use super::super::Failure;
use crate::backoff::parse_retry_after;
use crate::transport::classify_reqwest;

/// The failure of a `tools/call` (or `tools/list`) that got no result.
pub(crate) fn service(err: &ServiceError) -> Failure {
    match err {
        ServiceError::McpError(data) => json_rpc(data),
        ServiceError::TransportSend(e) => transport(e.error.as_ref()),
        // The session's worker ended: the connection is gone.
        ServiceError::TransportClosed => Failure::new(ErrorKind::Reset),
        ServiceError::Timeout { .. } => Failure::new(ErrorKind::Timeout),
        ServiceError::Cancelled { .. } => Failure::new(ErrorKind::Cancelled),
        // An answer that is not the result of the request: the server's.
        _ => Failure::new(ErrorKind::Malformed),
    }
}

/// The failure of starting a session (the `initialize` handshake).
pub(crate) fn initialize(err: &ClientInitializeError) -> Failure {
    match err {
        ClientInitializeError::TransportError { error, .. } => transport(error.error.as_ref()),
        ClientInitializeError::JsonRpcError(data) => json_rpc(data),
        ClientInitializeError::ConnectionClosed(_) => Failure::new(ErrorKind::Reset),
        ClientInitializeError::Cancelled => Failure::new(ErrorKind::Cancelled),
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => initialize(fallback),
        // A handshake that went wrong: no version in common, an answer out of turn.
        _ => Failure::new(ErrorKind::Malformed),
    }
}

/// A JSON-RPC error: the request's fault (a tool or method the server does not have, bad
/// arguments) is `client_error`, anything else the server's (`server_error`); one whose
/// `data` carries an HTTP `status` (and `retry_after` in seconds), as fleetbench's mock
/// sends with a 429 or 503, is classified by that status, as over HTTP.
pub(crate) fn json_rpc(data: &ErrorData) -> Failure {
    let stated = data.data.as_ref().and_then(|d| {
        let status = u16::try_from(d.get("status")?.as_u64()?).ok()?;
        let after = d.get("retry_after").and_then(serde_json::Value::as_u64);
        Some((status, after.map(Duration::from_secs)))
    });
    if let Some((status, retry_after)) = stated.filter(|(s, _)| (400..600).contains(s)) {
        return Failure {
            retry_after,
            ..with_status(status)
        };
    }
    let request_fault = [
        ErrorCode::PARSE_ERROR,
        ErrorCode::INVALID_REQUEST,
        ErrorCode::METHOD_NOT_FOUND,
        ErrorCode::INVALID_PARAMS,
    ];
    Failure::new(if request_fault.contains(&data.code) {
        ErrorKind::ClientError
    } else {
        ErrorKind::ServerError
    })
}

/// What the transport under a session reported, found in the error's source chain: an HTTP
/// status (with its `Retry-After`), a reqwest error (classified as the HTTP backends do), or
/// what rmcp made of the response.
fn transport(err: &(dyn StdError + Send + Sync + 'static)) -> Failure {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            return streamable(e);
        }
        if let Some(e) = e.downcast_ref::<HttpStatusError>() {
            return status(e);
        }
        if let Some(e) = e.downcast_ref::<reqwest::Error>() {
            return reqwest_failure(e);
        }
        source = e.source();
    }
    Failure::new(ErrorKind::Reset)
}

fn streamable(err: &StreamableHttpError<reqwest::Error>) -> Failure {
    let kind = match err {
        StreamableHttpError::Client(e) => return reqwest_failure(e),
        StreamableHttpError::HttpStatus(e) => return status(e),
        StreamableHttpError::AuthRequired(_) => return with_status(401),
        StreamableHttpError::InsufficientScope(_) => return with_status(403),
        // The session expired and starting it again failed too.
        StreamableHttpError::SessionExpired => return with_status(404),
        StreamableHttpError::ReinitializationFailed(data) => return json_rpc(data),
        StreamableHttpError::Io(_) | StreamableHttpError::TransportChannelClosed => {
            ErrorKind::Reset
        }
        StreamableHttpError::UnexpectedEndOfStream | StreamableHttpError::Sse(_) => {
            ErrorKind::Truncated
        }
        StreamableHttpError::SessionRecoveryTimeout
        | StreamableHttpError::ControlRequestTimeout => ErrorKind::Timeout,
        // Our own headers clash with rmcp's: the request's fault.
        StreamableHttpError::ReservedHeaderConflict(_) => ErrorKind::ClientError,
        // A body that is not JSON-RPC, a content type that is neither JSON nor an event
        // stream, no session id: the server answered something else than MCP.
        _ => ErrorKind::Malformed,
    };
    Failure::new(kind)
}

fn status(err: &HttpStatusError) -> Failure {
    Failure {
        retry_after: err
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, SystemTime::now())),
        ..with_status(err.status)
    }
}

fn with_status(status: u16) -> Failure {
    Failure {
        status: Some(status),
        ..Failure::new(ErrorKind::from_status(status))
    }
}

/// A reqwest error: a status it carries (`error_for_status`), else what the wire did.
fn reqwest_failure(err: &reqwest::Error) -> Failure {
    match err.status() {
        Some(s) => with_status(s.as_u16()),
        None => Failure::new(classify_reqwest(err)),
    }
}
