//! What a call reports: every wait, attempt and token, as data for the metrics.
//! `docs/metrics.md` defines when each timer starts and stops.

use std::time::Duration;

use serde::Serialize;

use metrics::ErrorKind;

/// One attempt of a logical call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The provider (or tool) it went to.
    pub target: String,
    /// From sending the request to the last byte of the response (or the failure).
    pub duration: Duration,
    /// Time to first token of a stream.
    pub ttft: Option<Duration>,
    /// The HTTP status, when a response head arrived.
    pub status: Option<u16>,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<ErrorKind>,
    /// Whether it went through a half-open breaker as a probe (otherwise the breaker was
    /// closed: an open one rejects before any attempt, counted in `breaker_rejections`).
    pub probe: bool,
}

/// One logical call: what the caller waited for, with everything it took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// The provider or tool that served the call (or was last tried).
    pub target: String,
    /// From the call to its result.
    pub total: Duration,
    /// Waiting for rate limits, over all attempts.
    pub limiter_wait: Duration,
    /// Waiting for a pool slot, over all attempts.
    pub pool_wait: Duration,
    /// Sleeping between attempts.
    pub backoff: Duration,
    /// The attempts, in order.
    pub attempts: Vec<Attempt>,
    /// Time to first token of the successful stream.
    pub ttft: Option<Duration>,
    /// Gaps between streamed tokens of the successful attempt.
    pub inter_token: Vec<Duration>,
    /// Prompt tokens (from `usage`, else the estimate).
    pub tokens_in: u32,
    /// Completion tokens (from `usage`).
    pub tokens_out: u32,
    /// Served from the tool cache (`Some(true)`), fetched (`Some(false)`), or no cache.
    pub cache_hit: Option<bool>,
    /// A `cache_hit` served by an identical call's in-flight fetch (single-flight) rather
    /// than by a ready entry.
    pub cache_coalesced: bool,
    /// Attempts refused by an open breaker before one was let through.
    pub breaker_rejections: u32,
    /// Served by a provider other than the first choice.
    pub failover: bool,
    /// Why the call failed; `None` when it succeeded.
    pub error: Option<ErrorKind>,
}

impl CallRecord {
    /// Retries made: attempts after the first.
    pub fn retries(&self) -> usize {
        self.attempts.len().saturating_sub(1)
    }
}
