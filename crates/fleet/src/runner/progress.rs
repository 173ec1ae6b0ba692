//! Progress while a run goes: a reading every `progress_every` of fleet time.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use metrics::MetricKind;

use super::Shared;
use crate::options::{Progress, ProgressFn};
use crate::tally::{self, Tally};

/// Reports the run's progress every `every` from `start`: agents alive, turns, sessions, the
/// response p95 so far, and the heap of this fleet's agents and the process's shared heap.
pub(super) async fn report_progress(
    shared: Arc<Shared>,
    tallies: Arc<Mutex<Vec<Tally>>>,
    report: ProgressFn,
    every: Duration,
    start: Instant,
) {
    let mut next = start + every;
    loop {
        sleep_until(next).await;
        next += every;
        let snapshot = shared.registry.snapshot();
        let mut progress = Progress {
            elapsed: start.elapsed(),
            alive: shared.alive.load(Ordering::Relaxed),
            turns: snapshot.counters.turns,
            failed_turns: snapshot.counters.turns_failed,
            sessions_started: snapshot.counters.sessions_started,
            sessions_completed: snapshot.counters.sessions_completed,
            p95: snapshot
                .latency
                .get(&MetricKind::AgentResponse)
                .map(|h| h.quantile(0.95))
                .unwrap_or_default(),
            ..Progress::default()
        };
        // The heap once the merged copy of the recorders is gone: it is not the run's.
        drop(snapshot);
        progress.agents_heap = tally::live_heap(&tallies);
        progress.shared_heap = heap::shared_usage().live;
        report(&progress);
    }
}
