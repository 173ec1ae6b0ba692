//! A circuit breaker on tokio's clock, so it behaves the same on a real and a paused clock.
//!
//! ```text
//!              failure share over `window` ≥ failure_rate (with ≥ min_calls calls)
//!              or `consecutive_failures` failures in a row
//!   ┌────────┐ ─────────────────────────────────────────────▶ ┌──────┐
//!   │ Closed │                                                │ Open │ ◀─┐
//!   └────────┘ ◀──────────┐                                   └──────┘   │ any probe fails
//!                         │ `half_open_probes` probes succeed    │       │ (fresh open_for)
//!                         │                      open_for passed ▼       │
//!                         └────────────────────────────────── ┌──────────┐
//!                                                             │ HalfOpen │
//!                                                             └──────────┘
//! ```
//!
//! * **Closed** lets every call through and records outcomes in a sliding window of
//!   `window`, kept as ten time buckets that are forgotten as time moves on.
//! * **Open** rejects every call at once, without waiting, until `open_for` has passed.
//!   The move to half-open is lazy: it happens on the next [`CircuitBreaker::try_acquire`],
//!   [`CircuitBreaker::state`], [`CircuitBreaker::stats`] or recorded outcome.
//! * **HalfOpen** hands out at most `half_open_probes` probe permits. When that many probes
//!   have succeeded the breaker closes with a clean window; the first failed probe opens it
//!   again for a fresh `open_for`.
//!
//! Every state change bumps a generation number and each [`Permit`] remembers the
//! generation it was acquired under; outcomes from an earlier generation are ignored, so a
//! slow call started while closed cannot disturb an open or half-open breaker.
//!
//! All time comes from [`tokio::time::Instant`], so tests can drive the breaker with
//! `#[tokio::test(start_paused = true)]` and [`tokio::time::advance`]. Nothing here awaits;
//! the state sits behind a `std::sync::Mutex` that is only held for a few field updates.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Number of time buckets the sliding window is split into. More buckets forget old outcomes
/// more smoothly; ten keeps the error under a tenth of `window` at a tiny, fixed cost.
const BUCKETS: usize = 10;

pub use metrics::BreakerState;

/// Why a call was rejected: the breaker is open (or half-open with all probes taken).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The state of the breaker when it rejected the call.
    pub state: BreakerState,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            BreakerState::HalfOpen => {
                f.write_str("circuit breaker is half-open and every probe slot is taken")
            }
            state => write!(f, "circuit breaker is {state}"),
        }
    }
}

impl std::error::Error for Rejected {}

/// Counters for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreakerStats {
    /// Transitions into Open (from Closed or from a failed probe).
    pub opened: u64,
    /// Transitions from Open into HalfOpen.
    pub half_opened: u64,
    /// Transitions from HalfOpen into Closed.
    pub closed: u64,
    /// Calls rejected by `try_acquire`.
    pub rejected: u64,
}

/// Cheap to clone (Arc inside); clones share state.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    /// `None` when the breaker is disabled: every call is allowed and nothing is recorded,
    /// so a disabled breaker costs no lock at all.
    shared: Option<Arc<Shared>>,
}

/// Held for the duration of one attempt. Record the outcome with `success` or `failure`;
/// dropped without either (a cancelled call), it frees its probe slot and counts as nothing.
#[derive(Debug)]
#[must_use = "record the outcome with `success` or `failure`; a dropped permit counts as nothing"]
pub struct Permit {
    /// The breaker to report to; `None` once the outcome is recorded, and for permits of a
    /// disabled breaker, which are no-ops.
    shared: Option<Arc<Shared>>,
    /// Generation the permit was acquired under: an outcome reported after the breaker has
    /// changed state belongs to a period that is over and must not influence the new one.
    generation: u64,
    /// Whether the permit holds one of the half-open probe slots, which must be given back
    /// if the call is cancelled so that another caller can probe.
    probe: bool,
}

/// The breaker's configuration, normalised once so that the hot path needs no checks.
#[derive(Debug)]
struct Policy {
    /// Failure share at which the breaker opens: above it the service is considered down.
    failure_rate: f64,
    /// Calls the window must hold before the share counts, so that one early failure
    /// (a share of 100 %) cannot open the breaker. At least 1.
    min_calls: u64,
    /// Failures in a row that open the breaker whatever the share, so that a service that
    /// fails every call is cut off quickly even before `min_calls` is reached. At least 1.
    consecutive_failures: u32,
    /// How long the breaker stays open: the time given to the service to recover before it
    /// is probed again.
    open_for: Duration,
    /// Probes allowed per half-open period, and successes needed to close: a few calls, not
    /// the full load, test whether the service recovered. At least 1.
    half_open_probes: u32,
}

#[derive(Debug)]
struct Shared {
    policy: Policy,
    core: Mutex<Core>,
}

/// The mutable state, behind the mutex.
#[derive(Debug)]
struct Core {
    /// The state as last stored; an `Open` whose `open_for` has passed becomes `HalfOpen` on
    /// the next [`Core::refresh`].
    state: BreakerState,
    /// Bumped on every state change; permits of an older generation are stale.
    generation: u64,
    /// When the breaker last opened; `open_for` counts from here.
    opened_at: Instant,
    /// Outcomes of the recent past, used while closed.
    window: Window,
    /// Failures in a row while closed; any success resets it.
    consecutive_failures: u32,
    /// Probe permits handed out in this half-open period and not yet finished.
    probes_in_flight: u32,
    /// Probes that succeeded in this half-open period; their slots stay used.
    probes_succeeded: u32,
    stats: BreakerStats,
}

/// A sliding window of outcomes kept as [`BUCKETS`] buckets of `width` each.
///
/// Time since `origin` is cut into numbered slices ("epochs") of `width`; epoch `e` lives
/// in bucket `e % BUCKETS` and is counted while the current epoch is less than
/// `e + BUCKETS`. An outcome thus leaves the window between `window - width` and `window`
/// after it was recorded.
#[derive(Debug)]
struct Window {
    origin: Instant,
    width: Duration,
    buckets: [Bucket; BUCKETS],
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    epoch: u128,
    successes: u64,
    failures: u64,
}

/// What happened to an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
}

impl CircuitBreaker {
    /// A closed breaker with the given configuration.
    pub fn new(config: &scenario::Breaker) -> Self {
        if !config.enabled {
            return Self { shared: None };
        }
        let now = Instant::now();
        let policy = Policy {
            failure_rate: config.failure_rate.0,
            min_calls: u64::from(config.min_calls.max(1)),
            consecutive_failures: config.consecutive_failures.max(1),
            open_for: config.open_for.0,
            half_open_probes: config.half_open_probes.max(1),
        };
        let core = Core {
            state: BreakerState::Closed,
            generation: 0,
            opened_at: now,
            window: Window::new(now, config.window.0),
            consecutive_failures: 0,
            probes_in_flight: 0,
            probes_succeeded: 0,
            stats: BreakerStats::default(),
        };
        Self {
            shared: Some(Arc::new(Shared {
                policy,
                core: Mutex::new(core),
            })),
        }
    }

    /// Never waits. Err when open, or half-open with every probe slot taken.
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let Some(shared) = &self.shared else {
            return Ok(Permit {
                shared: None,
                generation: 0,
                probe: false,
            });
        };
        let policy = &shared.policy;
        let mut core = shared.lock();
        core.refresh(policy, Instant::now());
        let probe = match core.state {
            BreakerState::Closed => false,
            BreakerState::HalfOpen
                if core.probes_in_flight + core.probes_succeeded < policy.half_open_probes =>
            {
                core.probes_in_flight += 1;
                true
            }
            state @ (BreakerState::Open | BreakerState::HalfOpen) => {
                core.stats.rejected += 1;
                return Err(Rejected { state });
            }
        };
        Ok(Permit {
            shared: Some(Arc::clone(shared)),
            generation: core.generation,
            probe,
        })
    }

    /// The state now (an open breaker whose open_for has elapsed reports HalfOpen).
    pub fn state(&self) -> BreakerState {
        match &self.shared {
            None => BreakerState::Closed,
            Some(shared) => {
                let mut core = shared.lock();
                core.refresh(&shared.policy, Instant::now());
                core.state
            }
        }
    }

    /// The counters so far, including a half-open transition that is due now.
    pub fn stats(&self) -> BreakerStats {
        match &self.shared {
            None => BreakerStats::default(),
            Some(shared) => {
                let mut core = shared.lock();
                core.refresh(&shared.policy, Instant::now());
                core.stats
            }
        }
    }
}

impl Permit {
    /// The attempt succeeded.
    pub fn success(mut self) {
        self.finish(Outcome::Success);
    }

    /// The attempt failed (in a way that should count against the service).
    pub fn failure(mut self) {
        self.finish(Outcome::Failure);
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    fn finish(&mut self, outcome: Outcome) {
        if let Some(shared) = self.shared.take() {
            let mut core = shared.lock();
            core.record(
                &shared.policy,
                Instant::now(),
                self.generation,
                self.probe,
                outcome,
            );
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Only a probe holds something to give back; a closed-era permit dropped without an
        // outcome simply counts as nothing.
        if self.probe
            && let Some(shared) = self.shared.take()
        {
            let mut core = shared.lock();
            core.refresh(&shared.policy, Instant::now());
            if core.generation == self.generation && core.state == BreakerState::HalfOpen {
                core.probes_in_flight = core.probes_in_flight.saturating_sub(1);
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core> {
        // Every update under the lock is a handful of plain field writes that cannot panic
        // half-way, so the state behind a poisoned mutex is still consistent.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Core {
    /// Applies the lazy Open → HalfOpen transition once `open_for` has passed.
    fn refresh(&mut self, policy: &Policy, now: Instant) {
        if self.state == BreakerState::Open
            && now.saturating_duration_since(self.opened_at) >= policy.open_for
        {
            self.enter(BreakerState::HalfOpen, now);
        }
    }

    fn enter(&mut self, state: BreakerState, now: Instant) {
        self.state = state;
        self.generation = self.generation.wrapping_add(1);
        match state {
            BreakerState::Open => {
                self.opened_at = now;
                self.stats.opened += 1;
            }
            BreakerState::HalfOpen => {
                self.probes_in_flight = 0;
                self.probes_succeeded = 0;
                self.stats.half_opened += 1;
            }
            BreakerState::Closed => {
                self.window.clear();
                self.consecutive_failures = 0;
                self.stats.closed += 1;
            }
        }
    }

    fn record(
        &mut self,
        policy: &Policy,
        now: Instant,
        generation: u64,
        probe: bool,
        outcome: Outcome,
    ) {
        self.refresh(policy, now);
        if generation != self.generation {
            return;
        }
        match self.state {
            BreakerState::Closed => {
                self.window.record(now, outcome);
                match outcome {
                    Outcome::Success => self.consecutive_failures = 0,
                    Outcome::Failure => {
                        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                    }
                }
                if self.should_open(policy, now) {
                    self.enter(BreakerState::Open, now);
                }
            }
            BreakerState::HalfOpen if probe => {
                self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                match outcome {
                    Outcome::Failure => self.enter(BreakerState::Open, now),
                    Outcome::Success => {
                        self.probes_succeeded += 1;
                        if self.probes_succeeded >= policy.half_open_probes {
                            self.enter(BreakerState::Closed, now);
                        }
                    }
                }
            }
            // No permit is handed out while open, and every half-open permit is a probe.
            BreakerState::HalfOpen | BreakerState::Open => {}
        }
    }

    fn should_open(&self, policy: &Policy, now: Instant) -> bool {
        if self.consecutive_failures >= policy.consecutive_failures {
            return true;
        }
        let (calls, failures) = self.window.totals(now);
        // A share needs at least one failure: a window of successes never opens the breaker,
        // even with a failure_rate of 0.
        calls >= policy.min_calls
            && failures > 0
            && failures as f64 / calls as f64 >= policy.failure_rate
    }
}

impl Window {
    fn new(origin: Instant, window: Duration) -> Self {
        // A window shorter than BUCKETS nanoseconds still gets 1 ns buckets rather than a
        // division by zero.
        let width = (window / BUCKETS as u32).max(Duration::from_nanos(1));
        Self {
            origin,
            width,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    fn epoch(&self, now: Instant) -> u128 {
        now.saturating_duration_since(self.origin).as_nanos() / self.width.as_nanos()
    }

    fn record(&mut self, now: Instant, outcome: Outcome) {
        let epoch = self.epoch(now);
        let bucket = &mut self.buckets[(epoch % BUCKETS as u128) as usize];
        if bucket.epoch != epoch {
            *bucket = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        match outcome {
            Outcome::Success => bucket.successes = bucket.successes.saturating_add(1),
            Outcome::Failure => bucket.failures = bucket.failures.saturating_add(1),
        }
    }

    /// `(calls, failures)` in the window ending now.
    fn totals(&self, now: Instant) -> (u64, u64) {
        let epoch = self.epoch(now);
        self.buckets
            .iter()
            .filter(|b| epoch.saturating_sub(b.epoch) < BUCKETS as u128)
            .fold((0, 0), |(calls, failures), b| {
                (
                    calls.saturating_add(b.successes).saturating_add(b.failures),
                    failures.saturating_add(b.failures),
                )
            })
    }

    fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }
}

#[cfg(test)]
mod tests;
