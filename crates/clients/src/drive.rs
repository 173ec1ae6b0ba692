//! One logical call through the policies. For each attempt, in this order:
//!
//! 1. routing picks a target whose circuit breaker lets the attempt through (an open breaker
//!    rejects at once and the next target is tried: failover);
//! 2. the target's pool gives a slot (or sheds the call when its queue is full);
//! 3. the target's rate limiter admits one request and the estimated tokens;
//! 4. the attempt is sent at once and runs under its timeout, itself bounded by the call's
//!    deadline;
//! 5. a retryable failure is retried after the backoff (or the server's `Retry-After`, capped)
//!    if attempts, the retry budget and the deadline allow.
//!
//! Limits and breakers act per attempt, not per logical call: a provider's quota counts every
//! request it receives, retries included, and a breaker that opens mid-call must stop the
//! retries going to that provider. The limiter admits a request only once it holds a pool
//! slot, right before it is sent: a queue between admission and sending would release
//! admitted requests in bunches and break the limit as the server sees it (measured: 1,487
//! requests in one second against 1,017 allowed). No slot is held during a backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep, timeout_at};

use metrics::ErrorKind;
use scenario::Retry;

use crate::backoff;
use crate::breaker::CircuitBreaker;
use crate::budget::RetryBudget;
use crate::limiter::Limiter;
use crate::pool::{Pool, Shed};
use crate::record::{Attempt, CallRecord};

/// The policies in front of one target (an LLM provider or a tool).
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) limiter: Limiter,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) pool: Pool,
    pub(crate) budget: RetryBudget,
    /// Limit of one attempt.
    pub(crate) timeout: Duration,
}

/// What a successful attempt measured.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Measured {
    pub(crate) status: Option<u16>,
    pub(crate) ttft: Option<Duration>,
    pub(crate) inter_token: Vec<Duration>,
    pub(crate) tokens_in: u32,
    pub(crate) tokens_out: u32,
}

/// Why an attempt failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) status: Option<u16>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) ttft: Option<Duration>,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            status: None,
            retry_after: None,
            ttft: None,
        }
    }
}

/// How the call retries.
#[derive(Debug)]
pub(crate) struct Policy<'a> {
    pub(crate) retry: &'a Retry,
    pub(crate) deadline: Duration,
    /// Seed of the backoff jitter (per agent and call, so runs repeat).
    pub(crate) seed: u64,
    /// Tokens charged to the limiter before each attempt.
    pub(crate) estimated_tokens: u64,
}

/// Runs a logical call. `order` gives the targets to try for an attempt, best first;
/// `attempt` runs one attempt against the target with that index.
pub(crate) async fn drive<T, A, Fut>(
    targets: &[Arc<Target>],
    order: impl Fn() -> Vec<usize>,
    policy: &Policy<'_>,
    mut attempt: A,
) -> (CallRecord, Result<T, ErrorKind>)
where
    A: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(T, Measured), Failure>>,
{
    let start = Instant::now();
    let deadline = start + policy.deadline;
    let mut record = CallRecord::default();
    let mut delays = backoff::delays(policy.retry, policy.seed);
    let mut preferred = None;
    let result = loop {
        let candidates = order();
        preferred = preferred.or_else(|| candidates.first().copied());
        let mut chosen = None;
        for i in candidates {
            match targets[i].breaker.try_acquire() {
                Ok(permit) => {
                    chosen = Some((i, permit));
                    break;
                }
                Err(_) => record.breaker_rejections += 1,
            }
        }
        let Some((i, permit)) = chosen else {
            break Err(ErrorKind::BreakerOpen);
        };
        let target = &targets[i];
        record.target.clone_from(&target.name);
        if record.attempts.is_empty() {
            target.budget.first_attempt();
        }
        let slot = match timeout_at(deadline, target.pool.acquire()).await {
            Ok(Ok((slot, waited))) => {
                record.pool_wait += waited;
                slot
            }
            Ok(Err(Shed)) => break Err(ErrorKind::Shed),
            Err(_) => break Err(ErrorKind::Deadline),
        };
        match timeout_at(deadline, target.limiter.acquire(policy.estimated_tokens)).await {
            Ok(waited) => record.limiter_wait += waited,
            Err(_) => break Err(ErrorKind::Deadline),
        }
        let probe = permit.is_probe();
        let sent = Instant::now();
        let attempt_end = (sent + target.timeout).min(deadline);
        let outcome = timeout_at(attempt_end, attempt(i)).await;
        drop(slot);
        let duration = sent.elapsed();
        let failure = match outcome {
            Ok(Ok((value, measured))) => {
                permit.success();
                target.limiter.correct(
                    policy.estimated_tokens,
                    u64::from(measured.tokens_in) + u64::from(measured.tokens_out),
                );
                record.attempts.push(Attempt {
                    target: target.name.clone(),
                    duration,
                    ttft: measured.ttft,
                    status: measured.status,
                    error: None,
                    probe,
                });
                record.ttft = measured.ttft;
                record.inter_token = measured.inter_token;
                record.tokens_in = measured.tokens_in;
                record.tokens_out = measured.tokens_out;
                record.failover = preferred != Some(i);
                break Ok(value);
            }
            Ok(Err(failure)) => failure,
            Err(_) if attempt_end == deadline => Failure::new(ErrorKind::Deadline),
            Err(_) => Failure::new(ErrorKind::Timeout),
        };
        if failure.kind.is_server_failure() || failure.kind == ErrorKind::Deadline {
            permit.failure();
        } else {
            // Our own fault (a bad request): says nothing about the server's health.
            drop(permit);
        }
        record.attempts.push(Attempt {
            target: target.name.clone(),
            duration,
            ttft: failure.ttft,
            status: failure.status,
            error: Some(failure.kind),
            probe,
        });
        if !failure.kind.is_retryable() {
            break Err(failure.kind);
        }
        let Some(backoff) = delays.next() else {
            break Err(failure.kind);
        };
        let wait = match failure.retry_after {
            Some(after) => after.min(policy.retry.max_retry_after.0),
            None => backoff,
        };
        if Instant::now() + wait >= deadline {
            break Err(ErrorKind::Deadline);
        }
        if !target.budget.try_retry() {
            break Err(ErrorKind::RetryBudget);
        }
        sleep(wait).await;
        record.backoff += wait;
    };
    record.total = start.elapsed();
    record.error = result.as_ref().err().copied();
    (record, result)
}
