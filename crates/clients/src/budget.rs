//! The retry budget: retries may add at most `budget_ratio` on top of first attempts over the
//! last 10 seconds, plus `budget_min_per_sec` always. During an outage every call fails and
//! wants retries; the budget is what stops retries from multiplying the load on a struggling
//! server (each first attempt earns `ratio` of a retry).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How far back first attempts and retries are counted.
const WINDOW: Duration = Duration::from_secs(10);

/// Counts per second of the window.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    index: u64,
    first: u64,
    retries: u64,
}

/// A retry budget over a sliding 10-second window.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: f64,
    start: Instant,
    seconds: Mutex<VecDeque<Second>>,
}

impl RetryBudget {
    /// A budget allowing `ratio` retries per first attempt plus `min_per_sec` per second.
    pub fn new(ratio: f64, min_per_sec: f64) -> Self {
        Self {
            ratio,
            min_per_sec,
            start: Instant::now(),
            seconds: Mutex::new(VecDeque::new()),
        }
    }

    fn with_current<T>(&self, f: impl FnOnce(&mut VecDeque<Second>, u64) -> T) -> T {
        // The window is every caller's: its growth is shared heap, not the caller's.
        heap::shared(|| self.with_current_shared(f))
    }

    fn with_current_shared<T>(&self, f: impl FnOnce(&mut VecDeque<Second>, u64) -> T) -> T {
        let now = self.start.elapsed().as_secs();
        let mut seconds = self
            .seconds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while seconds
            .front()
            .is_some_and(|s| s.index + WINDOW.as_secs() <= now)
        {
            seconds.pop_front();
        }
        if seconds.back().is_none_or(|s| s.index != now) {
            seconds.push_back(Second {
                index: now,
                ..Second::default()
            });
        }
        f(&mut seconds, now)
    }

    /// Counts a first attempt (it earns `ratio` of a retry).
    pub fn first_attempt(&self) {
        self.with_current(|seconds, _| {
            if let Some(s) = seconds.back_mut() {
                s.first += 1;
            }
        });
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_retry(&self) -> bool {
        self.with_current(|seconds, _| {
            let first: u64 = seconds.iter().map(|s| s.first).sum();
            let retries: u64 = seconds.iter().map(|s| s.retries).sum();
            #[allow(clippy::cast_precision_loss)]
            let allowed = self.min_per_sec * WINDOW.as_secs_f64() + self.ratio * first as f64;
            #[allow(clippy::cast_precision_loss)]
            let ok = (retries as f64) < allowed;
            if ok && let Some(s) = seconds.back_mut() {
                s.retries += 1;
            }
            ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded_by_ratio_plus_reserve() {
        let b = RetryBudget::new(0.2, 1.0); // reserve: 10 per window
        for _ in 0..100 {
            b.first_attempt();
        }
        let granted = (0..100).filter(|_| b.try_retry()).count();
        assert_eq!(granted, 30); // 10 reserve + 0.2 × 100
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides() {
        let b = RetryBudget::new(0.0, 1.0);
        assert_eq!((0..20).filter(|_| b.try_retry()).count(), 10);
        tokio::time::advance(WINDOW).await;
        assert_eq!((0..20).filter(|_| b.try_retry()).count(), 10);
    }
}
