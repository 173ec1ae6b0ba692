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

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep, timeout_at};
use tokio_util::sync::CancellationToken;

use metrics::ErrorKind;
use scenario::Retry;

use crate::backend::{Failure, Measured};
use crate::backoff;
use crate::breaker::{CircuitBreaker, Permit};
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

impl Target {
    /// The policies a provider's or tool's configuration describes.
    pub(crate) fn new(
        name: &str,
        limits: &scenario::ClientLimits,
        breaker: &scenario::Breaker,
        retry: &Retry,
        timeout: Duration,
    ) -> Self {
        Self {
            name: name.to_owned(),
            limiter: Limiter::new(limits),
            breaker: CircuitBreaker::new(breaker),
            pool: Pool::new(limits.max_in_flight, limits.max_queue),
            budget: RetryBudget::new(retry.budget_ratio.0, retry.budget_min_per_sec.0),
            timeout,
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
    /// Cancelled when the run's grace period is over: the call ends at once as `cancelled`,
    /// with the attempt in flight (if any) recorded as a `cancelled` attempt, so no call that
    /// started is missing from the counts (`docs/metrics.md`, "Counters and accounting").
    pub(crate) cancel: &'a CancellationToken,
}

/// The attempt on the wire: recorded as `cancelled` if the call is cancelled before it ends.
#[derive(Debug)]
struct InFlight {
    target: usize,
    sent: Instant,
    probe: bool,
}

/// Runs a logical call. `order` gives the targets to try for an attempt, best first;
/// `attempt` runs one attempt against the target with that index. When `policy.cancel` fires
/// the call ends at once with [`ErrorKind::Cancelled`].
pub(crate) async fn drive<T, A, Fut>(
    targets: &[Arc<Target>],
    order: impl Fn() -> Vec<usize>,
    policy: &Policy<'_>,
    attempt: A,
) -> (CallRecord, Result<T, ErrorKind>)
where
    A: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(T, Measured), Failure>>,
{
    let start = Instant::now();
    let mut record = CallRecord::default();
    let mut in_flight = None;
    let result = {
        let attempts = attempts(
            targets,
            order,
            policy,
            attempt,
            (&mut record, &mut in_flight),
        );
        // `biased`, the cancellation first: a call cancelled on the tick its attempt ends
        // goes the same way every run.
        tokio::select! {
            biased;
            () = policy.cancel.cancelled() => Err(ErrorKind::Cancelled),
            result = attempts => result,
        }
    };
    if let Some(InFlight {
        target,
        sent,
        probe,
    }) = in_flight
    {
        // Cancelled on the wire: the attempt was made, and ends as cancelled.
        record.attempts.push(Attempt {
            target: targets[target].name.clone(),
            duration: sent.elapsed(),
            ttft: None,
            status: None,
            error: Some(ErrorKind::Cancelled),
            probe,
        });
    }
    record.total = start.elapsed();
    record.error = result.as_ref().err().copied();
    (record, result)
}

/// The attempts of a logical call, until one succeeds or the call fails for good. `in_flight`
/// is the attempt on the wire, while there is one.
async fn attempts<T, A, Fut>(
    targets: &[Arc<Target>],
    order: impl Fn() -> Vec<usize>,
    policy: &Policy<'_>,
    mut attempt: A,
    (record, in_flight): (&mut CallRecord, &mut Option<InFlight>),
) -> Result<T, ErrorKind>
where
    A: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(T, Measured), Failure>>,
{
    let deadline = Instant::now() + policy.deadline;
    let mut delays = backoff::delays(policy.retry, policy.seed);
    let mut preferred = None;
    loop {
        let candidates = order();
        preferred = preferred.or_else(|| candidates.first().copied());
        let (i, permit) = choose(targets, candidates, record)?;
        let target = &targets[i];
        record.target.clone_from(&target.name);
        if record.attempts.is_empty() {
            target.budget.first_attempt();
        }
        let slot = admit(target, deadline, policy, record).await?;
        let probe = permit.is_probe();
        let sent = Instant::now();
        let attempt_end = (sent + target.timeout).min(deadline);
        *in_flight = Some(InFlight {
            target: i,
            sent,
            probe,
        });
        let outcome = timeout_at(attempt_end, attempt(i)).await;
        *in_flight = None;
        drop(slot);
        let done = Attempt {
            target: target.name.clone(),
            duration: sent.elapsed(),
            ttft: None,
            status: None,
            error: None,
            probe,
        };
        let failure = match outcome {
            Ok(Ok((value, measured))) => {
                permit.success();
                let failover = preferred != Some(i);
                succeeded(target, policy, done, measured, failover, record);
                return Ok(value);
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
            ttft: failure.ttft,
            status: failure.status,
            error: Some(failure.kind),
            ..done
        });
        let wait = retry_wait(&failure, delays.next(), target, policy, deadline)?;
        sleep(wait).await;
        record.backoff += wait;
    }
}

/// The first of `candidates` whose breaker lets an attempt through (each refusal counted).
fn choose(
    targets: &[Arc<Target>],
    candidates: Vec<usize>,
    record: &mut CallRecord,
) -> Result<(usize, Permit), ErrorKind> {
    for i in candidates {
        match targets[i].breaker.try_acquire() {
            Ok(permit) => return Ok((i, permit)),
            Err(_) => record.breaker_rejections += 1,
        }
    }
    Err(ErrorKind::BreakerOpen)
}

/// A pool slot, then the rate limiter's admission, both before the call's deadline (the waits
/// recorded): what an attempt holds while it is sent.
async fn admit(
    target: &Target,
    deadline: Instant,
    policy: &Policy<'_>,
    record: &mut CallRecord,
) -> Result<OwnedSemaphorePermit, ErrorKind> {
    let slot = match timeout_at(deadline, target.pool.acquire()).await {
        Ok(Ok((slot, waited))) => {
            record.pool_wait += waited;
            slot
        }
        Ok(Err(Shed)) => return Err(ErrorKind::Shed),
        Err(_) => return Err(ErrorKind::Deadline),
    };
    match timeout_at(deadline, target.limiter.acquire(policy.estimated_tokens)).await {
        Ok(waited) => record.limiter_wait += waited,
        Err(_) => return Err(ErrorKind::Deadline),
    }
    Ok(slot)
}

/// Records the attempt that succeeded (`done`, with what it `measured`) as the call's result,
/// and corrects the limiter's token estimate.
fn succeeded(
    target: &Target,
    policy: &Policy<'_>,
    done: Attempt,
    measured: Measured,
    failover: bool,
    record: &mut CallRecord,
) {
    target.limiter.correct(
        policy.estimated_tokens,
        u64::from(measured.tokens_in) + u64::from(measured.tokens_out),
    );
    record.attempts.push(Attempt {
        ttft: measured.ttft,
        status: measured.status,
        ..done
    });
    record.ttft = measured.ttft;
    record.inter_token = measured.inter_token;
    record.tokens_in = measured.tokens_in;
    record.tokens_out = measured.tokens_out;
    record.failover = failover;
}

/// How long to wait before retrying after `failure` (`backoff`: the next delay, if attempts
/// remain), or why the call ends now: not retryable, out of attempts, past the deadline, or
/// over the retry budget.
fn retry_wait(
    failure: &Failure,
    backoff: Option<Duration>,
    target: &Target,
    policy: &Policy<'_>,
    deadline: Instant,
) -> Result<Duration, ErrorKind> {
    if !failure.kind.is_retryable() {
        return Err(failure.kind);
    }
    let Some(backoff) = backoff else {
        return Err(failure.kind);
    };
    let wait = match failure.retry_after {
        Some(after) => after.min(policy.retry.max_retry_after.0),
        None => backoff,
    };
    if Instant::now() + wait >= deadline {
        return Err(ErrorKind::Deadline);
    }
    if !target.budget.try_retry() {
        return Err(ErrorKind::RetryBudget);
    }
    Ok(wait)
}
