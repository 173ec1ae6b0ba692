//! When a run stops: a duration, a number of sessions or turns, or an outside signal (Ctrl-C);
//! whichever comes first. After the stop, calls in flight get `grace` to finish.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use scenario::Fleet;

pub use metrics::StopReason;

/// The stop conditions of a run, shared by every agent.
#[derive(Debug)]
pub struct Stop {
    deadline: Option<Instant>,
    max_sessions: Option<u64>,
    max_turns: Option<u64>,
    sessions: AtomicU64,
    turns: AtomicU64,
    /// Cancelled once any condition is met; agents stop starting new work.
    token: CancellationToken,
    /// Cancelled from outside.
    interrupt: CancellationToken,
    reason: std::sync::Mutex<Option<StopReason>>,
    /// How long calls in flight may finish after the stop.
    pub grace: Duration,
}

impl Stop {
    /// The stop conditions of `fleet`, timed from `start`; `interrupt` stops from outside.
    pub fn new(fleet: &Fleet, start: Instant, interrupt: CancellationToken) -> Self {
        Self {
            deadline: fleet.duration.map(|d| start + d.0),
            max_sessions: fleet.max_sessions,
            max_turns: fleet.max_turns,
            sessions: AtomicU64::new(0),
            turns: AtomicU64::new(0),
            token: CancellationToken::new(),
            interrupt,
            reason: std::sync::Mutex::new(None),
            grace: fleet.grace.0,
        }
    }

    fn fire(&self, reason: StopReason) {
        let mut r = self
            .reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.is_none() {
            *r = Some(reason);
        }
        drop(r);
        self.token.cancel();
    }

    /// Whether the run has stopped.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Why it stopped, once it has.
    pub fn reason(&self) -> Option<StopReason> {
        *self
            .reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims the start of a session; `false` (and the run stops) when the session budget is
    /// spent or the run has stopped.
    pub fn try_start_session(&self) -> bool {
        if self.is_stopped() {
            return false;
        }
        let n = self.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        match self.max_sessions {
            Some(max) if n > max => {
                self.fire(StopReason::Sessions);
                false
            }
            Some(max) if n == max => {
                // The last session may run; no more start after it.
                self.fire(StopReason::Sessions);
                true
            }
            _ => true,
        }
    }

    /// Counts a completed turn; the run stops at `max_turns`.
    pub fn turn_done(&self) {
        let n = self.turns.fetch_add(1, Ordering::Relaxed) + 1;
        if self.max_turns.is_some_and(|max| n >= max) {
            self.fire(StopReason::Turns);
        }
    }

    /// Completes when the run stops (duration, budgets or interrupt).
    pub async fn stopped(&self) {
        let until_deadline = async {
            match self.deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // `biased`: a deterministic order when two are ready at once (see the runner).
        tokio::select! {
            biased;
            () = self.token.cancelled() => {}
            () = until_deadline => self.fire(StopReason::Duration),
            () = self.interrupt.cancelled() => self.fire(StopReason::Interrupted),
        }
    }

    /// Waits `pause` (think time, the gap between sessions) unless the run stops first;
    /// `false` if it stopped. A zero pause sets no timer: a timer rounds its deadline up to the
    /// next millisecond tick (simulated time too) and, on a saturated live runtime, puts the
    /// agent at the back of the run queue, a whole round of every other task, before its next
    /// step. It only gives the task's cooperative budget a unit, so an agent whose steps never
    /// wait still lets the others run.
    pub async fn pause(&self, pause: Duration) -> bool {
        if pause.is_zero() {
            tokio::task::coop::consume_budget().await;
            return !self.token.is_cancelled();
        }
        // `biased`: select! otherwise polls its branches in a random order, and a stop at the
        // very tick the wait ends would go either way, run to run.
        tokio::select! {
            biased;
            () = self.token.cancelled() => false,
            () = tokio::time::sleep(pause) => true,
        }
    }

    /// A token cancelled when the run stops (for `select!` in agents).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use scenario::Dur;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_duration_stops_the_run() {
        let fleet = Fleet {
            duration: Some(Dur::secs(30)),
            ..Fleet::default()
        };
        let stop = Stop::new(&fleet, Instant::now(), CancellationToken::new());
        let t0 = Instant::now();
        stop.stopped().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(30));
        assert_eq!(stop.reason(), Some(StopReason::Duration));
        assert!(!stop.try_start_session());
    }

    #[tokio::test(start_paused = true)]
    async fn budgets_stop_the_run() {
        let fleet = Fleet {
            duration: None,
            max_sessions: Some(2),
            max_turns: Some(3),
            ..Fleet::default()
        };
        let stop = Stop::new(&fleet, Instant::now(), CancellationToken::new());
        assert!(stop.try_start_session());
        assert!(stop.try_start_session());
        assert!(stop.is_stopped());
        assert!(!stop.try_start_session());
        assert_eq!(stop.reason(), Some(StopReason::Sessions));

        let fleet = Fleet {
            duration: None,
            max_turns: Some(3),
            ..Fleet::default()
        };
        let stop = Stop::new(&fleet, Instant::now(), CancellationToken::new());
        stop.turn_done();
        stop.turn_done();
        assert!(!stop.is_stopped());
        stop.turn_done();
        assert_eq!(stop.reason(), Some(StopReason::Turns));
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_stops_the_run() {
        let interrupt = CancellationToken::new();
        let stop = Stop::new(&Fleet::default(), Instant::now(), interrupt.clone());
        interrupt.cancel();
        stop.stopped().await;
        assert_eq!(stop.reason(), Some(StopReason::Interrupted));
    }
}
