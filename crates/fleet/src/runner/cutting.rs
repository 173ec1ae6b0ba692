//! Cutting the part's time series ([`crate::intervals`]): a task cuts an interval at every
//! `start + every · k` of the run's clock; once the agents are done, [`Cutting::finish`] stops
//! it and cuts the last interval, up to now.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use metrics::Interval;

use super::{Shared, breakers};
use crate::intervals::Merger;

/// The part's cutting: the task and what it shares with the last cut.
pub(super) struct Cutting {
    task: JoinHandle<()>,
    cut: Arc<Cut>,
}

/// What the task and the last cut share.
struct Cut {
    shared: Arc<Shared>,
    merger: Arc<Merger>,
    start: Instant,
    /// The next interval: its index and where it starts.
    next: Mutex<(u64, Duration)>,
    part: u32,
}

impl Cutting {
    /// Starts cutting part `part` every `every` from `start`.
    pub(super) fn start(
        shared: &Arc<Shared>,
        merger: Arc<Merger>,
        (start, every, part): (Instant, Duration, u32),
    ) -> Self {
        let cut = Arc::new(Cut {
            shared: shared.clone(),
            merger,
            start,
            next: Mutex::new((0, Duration::ZERO)),
            part,
        });
        let task = tokio::spawn({
            let cut = cut.clone();
            async move {
                let mut k: u32 = 1;
                loop {
                    let end = every.saturating_mul(k);
                    sleep_until(start + end).await;
                    cut.cut(end);
                    k = k.saturating_add(1);
                }
            }
        });
        Self { task, cut }
    }

    /// Stops the task and cuts the last interval, up to now (after the grace period). Waits
    /// for the task to be gone, so no cut of the task's can come after this one.
    pub(super) async fn finish(self) {
        self.task.abort();
        let _ = self.task.await;
        // Always cut, even with no time since the last cut: what was recorded at that very
        // instant after it belongs to the run.
        let (index, _) = *self.cut.next.lock().unwrap_or_else(PoisonError::into_inner);
        self.cut.cut(self.cut.start.elapsed());
        self.cut.merger.finish(self.cut.part, Some(index));
    }
}

impl Cut {
    /// Cuts the interval that ends at `end` (from the part's start) and hands it on.
    fn cut(&self, end: Duration) {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let (index, start) = *next;
        let shared = &self.shared;
        let interval = heap::shared(|| Interval {
            index,
            start,
            end,
            recorder: shared.registry.take_interval(),
            alive: shared.alive.load(Ordering::Relaxed),
            alive_peak: shared.alive_peak.load(Ordering::Relaxed),
            in_flight: (shared.clients.llm.in_flight() + shared.clients.tools.in_flight()) as u64,
            breakers: breakers(&shared.clients),
        });
        *next = (index + 1, end);
        drop(next);
        heap::shared(|| self.merger.deliver(interval));
    }
}
