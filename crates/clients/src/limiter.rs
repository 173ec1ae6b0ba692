//! Client-side rate limits: requests per minute and tokens per minute, GCRA (governor) on
//! tokio's clock, never `until_ready` (it sleeps in wall time).
//!
//! A per-minute limit `L` allows a burst `b` of one second's worth (`⌈L / 60⌉`) and then paces
//! at `L − b` per minute. GCRA admits at most `b + t × rate` in any window of `t`, so no
//! 60-second window ever holds more than `L`: the provider's own per-minute count is never
//! exceeded, yet a quiet client may still send a second's worth at once. (Pacing at `L` with
//! a burst would let a minute hold `L + b`, and a provider would answer with 429s.)
//!
//! Tokens are charged before the call from an estimate (prompt + max output) and corrected
//! from `usage` after: the difference is carried into the next acquisition, as a debt or a
//! credit, because GCRA cannot refund.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Mutex;
use tokio::time::Instant;

use scenario::ClientLimits;

use crate::clock::{TokioClock, TokioInstant};

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// One GCRA limit with its burst.
#[derive(Debug)]
struct Limit {
    gcra: Gcra,
    burst: u32,
}

impl Limit {
    fn per_minute(limit: u64) -> Self {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX).max(1);
        let burst = limit.div_ceil(60).max(1);
        let paced = (limit - burst).max(1);
        let quota = Quota::with_period(Duration::from_secs(60) / paced)
            .expect("a paced rate of at least 1 per minute has a positive period")
            .allow_burst(NonZeroU32::new(burst).expect("burst is at least 1"));
        Self {
            gcra: RateLimiter::direct_with_clock(quota, TokioClock),
            burst,
        }
    }

    /// Waits until `n` cells are admitted, taking them in slices of at most the burst.
    async fn take(&self, mut n: u64) {
        while n > 0 {
            let slice = u32::try_from(n.min(u64::from(self.burst))).unwrap_or(self.burst);
            let cells = NonZeroU32::new(slice).expect("slice is at least 1");
            loop {
                match self.gcra.check_n(cells) {
                    Ok(Ok(())) => break,
                    Ok(Err(not_until)) => {
                        tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await;
                    }
                    Err(_) => unreachable!("a slice never exceeds the burst"),
                }
            }
            n -= u64::from(slice);
        }
    }
}

/// The request and token limits of one client (a provider or a tool).
#[derive(Debug)]
pub struct Limiter {
    requests: Option<Limit>,
    tokens: Option<Limit>,
    /// Tokens owed (positive) or prepaid (negative) by earlier calls whose estimate was off.
    correction: AtomicI64,
    /// Waiters line up here, first come first served, so only the head of the line polls
    /// GCRA: thousands of waiting agents cost one wake-up per admission, not thousands.
    line: Mutex<()>,
}

impl Limiter {
    /// The limits of `limits` (`rpm`, `tpm`; absent means unlimited).
    pub fn new(limits: &ClientLimits) -> Self {
        Self {
            requests: limits.rpm.map(|r| Limit::per_minute(u64::from(r))),
            tokens: limits.tpm.map(Limit::per_minute),
            correction: AtomicI64::new(0),
            line: Mutex::new(()),
        }
    }

    /// Whether this limiter never waits.
    pub fn is_unlimited(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none()
    }

    /// Waits until one request of `estimated_tokens` is admitted; returns the time waited.
    pub async fn acquire(&self, estimated_tokens: u64) -> Duration {
        if self.is_unlimited() {
            return Duration::ZERO;
        }
        let start = Instant::now();
        let _turn = self.line.lock().await;
        if let Some(requests) = &self.requests {
            requests.take(1).await;
        }
        if let Some(tokens) = &self.tokens {
            let carried = self.correction.swap(0, Ordering::Relaxed);
            let want = i64::try_from(estimated_tokens)
                .unwrap_or(i64::MAX)
                .saturating_add(carried);
            match u64::try_from(want) {
                Ok(n) => tokens.take(n).await,
                // More credit than this call needs: keep the rest for the next one.
                Err(_) => {
                    self.correction.fetch_add(want, Ordering::Relaxed);
                }
            }
        }
        start.elapsed()
    }

    /// Corrects the token charge of a finished call from its actual usage.
    pub fn correct(&self, estimated_tokens: u64, actual_tokens: u64) {
        if self.tokens.is_some() {
            let diff = i64::try_from(actual_tokens).unwrap_or(i64::MAX)
                - i64::try_from(estimated_tokens).unwrap_or(i64::MAX);
            self.correction.fetch_add(diff, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpm: Option<u32>, tpm: Option<u64>) -> ClientLimits {
        ClientLimits {
            rpm,
            tpm,
            ..ClientLimits::default()
        }
    }

    /// Whole milliseconds (tokio's timer resolution rounds a sleep up to the next one).
    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_paced_so_no_minute_exceeds_the_limit() {
        let l = Limiter::new(&limits(Some(120), None)); // burst 2, then 118 per minute
        let t0 = Instant::now();
        for _ in 0..6 {
            l.acquire(0).await;
        }
        // 2 at once, then one every 60/118 s.
        let want = Duration::from_secs(60) / 118 * 4;
        assert!(
            ms(t0.elapsed()).abs_diff(ms(want)) <= 1,
            "{:?} vs {want:?}",
            t0.elapsed()
        );
        // 120 more take a minute minus the burst: never more than 120 in 60 s.
        let t1 = Instant::now();
        for _ in 0..118 {
            l.acquire(0).await;
        }
        assert!(
            t1.elapsed() >= Duration::from_secs(59),
            "{:?}",
            t1.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn large_token_requests_pass_in_slices_at_the_average_rate() {
        let l = Limiter::new(&limits(None, Some(6000))); // burst 100, then 5,900 per minute
        let t0 = Instant::now();
        l.acquire(1000).await;
        // 100 at once, 900 more at 5,900 per minute.
        let want = Duration::from_secs(60) / 5900 * 900;
        assert!(
            ms(t0.elapsed()).abs_diff(ms(want)) <= 1,
            "{:?} vs {want:?}",
            t0.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn usage_corrections_carry_to_the_next_call() {
        let l = Limiter::new(&limits(None, Some(6000)));
        l.acquire(100).await;
        l.correct(100, 300); // 200 owed
        let t0 = Instant::now();
        l.acquire(100).await; // 300 cells at 5,900 per minute
        let want = Duration::from_secs(60) / 5900 * 300;
        assert!(
            ms(t0.elapsed()).abs_diff(ms(want)) <= 1,
            "{:?} vs {want:?}",
            t0.elapsed()
        );
        l.correct(300, 0); // 300 prepaid
        let t0 = Instant::now();
        l.acquire(100).await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_arrival_order() {
        let l = std::sync::Arc::new(Limiter::new(&limits(Some(60), None))); // 1/s, burst 1
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (l, order) = (l.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                l.acquire(0).await;
                order.lock().unwrap().push(i);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }
}
