//! The open loop: sessions start on a seeded schedule whether or not earlier ones are done,
//! each in one of `fleet.agents` slots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use metrics::MetricKind;
use scenario::SimRng;

use super::{Shared, session};
use crate::agent::Agent;
use crate::schedule::OpenSchedule;
use crate::shard::Part;
use crate::tally::Tally;

/// Open loop: sessions start on the schedule, each in one of `fleet.agents` slots. A start
/// that finds no free slot waits for one and counts as late; its `schedule_delay` and its
/// first turn's response include the wait. Beyond `fleet.agents` waiting starts, a start is
/// dropped and counted.
pub(super) async fn run<A, F>(
    shared: Arc<Shared>,
    make_agent: Arc<F>,
    tallies: Arc<Mutex<Vec<Tally>>>,
    schedule: OpenSchedule,
    (start, part): (Instant, Part),
    tasks: &mut JoinSet<()>,
) where
    A: Agent + 'static,
    F: Fn(u64) -> A + Send + Sync + 'static,
{
    // This part's share of the slots (all of them in an unsharded run).
    let slots =
        usize::try_from(part.share(u64::from(shared.scenario.fleet.agents))).unwrap_or(usize::MAX);
    let free = Arc::new(Semaphore::new(slots));
    let waiting = Arc::new(AtomicU64::new(0));
    for (n, offset) in (0u64..).map(|n| part.session_id(n)).zip(schedule) {
        let intended = start + offset;
        tokio::select! {
            biased;
            () = shared.stop.token().cancelled() => return,
            () = sleep_until(intended) => {}
        }
        if !shared.stop.try_start_session() {
            return;
        }
        let permit = match free.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) if waiting.load(Ordering::Relaxed) >= slots as u64 => {
                shared.record(|r| r.counters.dropped_starts += 1);
                continue;
            }
            Err(_) => None,
        };
        let (shared, free, waiting) = (shared.clone(), free.clone(), waiting.clone());
        let tally = Tally::open(&tallies, n);
        let account = tally.account();
        // The agent, its task and what they allocate from now on are its own.
        let mut agent = heap::charged_to(account, || make_agent(n));
        let spawner = shared.spawner.clone();
        spawner.spawn_charged(tasks, n, account, async move {
            let _permit = match permit {
                Some(p) => p,
                None => {
                    waiting.fetch_add(1, Ordering::Relaxed);
                    let p = tokio::select! {
                        biased;
                        () = shared.stop.token().cancelled() => None,
                        p = free.acquire_owned() => {
                            Some(p.expect("the slot semaphore is never closed"))
                        }
                    };
                    waiting.fetch_sub(1, Ordering::Relaxed);
                    let Some(p) = p else {
                        // The run stopped before a slot came free: the start never
                        // happened.
                        shared.record(|r| r.counters.dropped_starts += 1);
                        return;
                    };
                    shared.record(|r| r.counters.late_starts += 1);
                    p
                }
            };
            shared
                .registry
                .with(|r| r.record(MetricKind::ScheduleDelay, intended.elapsed()));
            shared.enter();
            let mut rng = SimRng::for_agent(shared.scenario.seed, n);
            session(&shared, &mut agent, &tally, n, &mut rng, Some(intended)).await;
            shared.leave();
        });
    }
}
