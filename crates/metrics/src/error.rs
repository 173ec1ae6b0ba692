//! Why a call failed. Failures during a run are data: every failed attempt and every failed
//! logical call is counted under one of these kinds, never under a string.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The cause of a failed attempt or logical call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// HTTP 429: the server's rate limit.
    RateLimited,
    /// HTTP 500, 502 or another 5xx except 503 and 504.
    ServerError,
    /// HTTP 503: the server is overloaded or down.
    Unavailable,
    /// HTTP 504: a gateway timed out.
    GatewayTimeout,
    /// Another HTTP 4xx: the request is wrong; never retried.
    ClientError,
    /// The connection could not be established.
    Connect,
    /// The TLS handshake failed: a certificate the client does not trust (a private CA
    /// without `ca_cert`), a name that does not match, or a server that does not speak TLS.
    Tls,
    /// The connection was reset or closed before a complete response.
    Reset,
    /// One attempt took longer than its timeout (a stall, or a slow server).
    Timeout,
    /// The response or stream stopped before its end (no `[DONE]`, body cut).
    Truncated,
    /// The response was not valid JSON or not the expected shape.
    Malformed,
    /// A whole JSON answer to a streaming request, or a stream to a non-streaming one: the
    /// server ignores `stream` (set the provider's `stream` to what it does).
    StreamMismatch,
    /// The logical call ran out of its overall deadline.
    Deadline,
    /// Rejected at once by an open circuit breaker.
    BreakerOpen,
    /// Rejected at once because the pool's queue was full (backpressure).
    Shed,
    /// A retry was wanted but the retry budget was spent.
    RetryBudget,
    /// The run ended while the call was in flight.
    Cancelled,
}

impl ErrorKind {
    /// Every kind, in a fixed order (for reports).
    pub const ALL: [ErrorKind; 17] = [
        ErrorKind::RateLimited,
        ErrorKind::ServerError,
        ErrorKind::Unavailable,
        ErrorKind::GatewayTimeout,
        ErrorKind::ClientError,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Reset,
        ErrorKind::Timeout,
        ErrorKind::Truncated,
        ErrorKind::Malformed,
        ErrorKind::StreamMismatch,
        ErrorKind::Deadline,
        ErrorKind::BreakerOpen,
        ErrorKind::Shed,
        ErrorKind::RetryBudget,
        ErrorKind::Cancelled,
    ];

    /// Whether another attempt may succeed: rate limits, server errors, transport failures
    /// and timeouts are transient; a bad request, our own rejections and the end of the
    /// deadline are not.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::ServerError
                | ErrorKind::Unavailable
                | ErrorKind::GatewayTimeout
                | ErrorKind::Connect
                | ErrorKind::Reset
                | ErrorKind::Timeout
                | ErrorKind::Truncated
                | ErrorKind::Malformed
        )
    }

    /// Whether the failure speaks against the server's health (what a circuit breaker
    /// counts): everything retryable. A client error is our fault, and our own rejections
    /// never reached the server.
    pub fn is_server_failure(self) -> bool {
        self.is_retryable()
    }

    /// The kind of an HTTP error status.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            429 => ErrorKind::RateLimited,
            503 => ErrorKind::Unavailable,
            504 => ErrorKind::GatewayTimeout,
            500..=599 => ErrorKind::ServerError,
            _ => ErrorKind::ClientError,
        }
    }

    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::GatewayTimeout => "gateway_timeout",
            ErrorKind::ClientError => "client_error",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Reset => "reset",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Malformed => "malformed",
            ErrorKind::StreamMismatch => "stream_mismatch",
            ErrorKind::Deadline => "deadline",
            ErrorKind::BreakerOpen => "breaker_open",
            ErrorKind::Shed => "shed",
            ErrorKind::RetryBudget => "retry_budget",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde_and_all_is_complete() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        let mut sorted = ErrorKind::ALL.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_status(500), ErrorKind::ServerError);
        assert_eq!(ErrorKind::from_status(502), ErrorKind::ServerError);
        assert_eq!(ErrorKind::from_status(503), ErrorKind::Unavailable);
        assert_eq!(ErrorKind::from_status(400), ErrorKind::ClientError);
        assert!(!ErrorKind::ClientError.is_retryable());
        assert!(ErrorKind::Reset.is_retryable());
        assert!(!ErrorKind::BreakerOpen.is_server_failure());
    }
}
