//! The run's time series: every `interval` of the run's clock (virtual or live), each part
//! cuts what its agents recorded since the last cut ([`metrics::Registry::take_interval`]),
//! with agents alive, requests in flight and the breakers at that instant, and the
//! [`Merger`] hands the run's intervals, the parts added, to `on_interval` in time order, as
//! they happen. The last interval ends when the part's agents are done (after the grace
//! period), so the run's recorder is exactly the sum of its intervals.

use metrics::{BreakerSummary, Interval};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::options::IntervalFn;
use crate::shard::merge_breakers;

/// One part's interval before the parts are added.
struct Pending {
    /// Parts delivered.
    got: u32,
    interval: Interval,
    breakers: Vec<Vec<BreakerSummary>>,
}

/// Adds the parts' intervals of one index and delivers them in index order. With one part
/// (the live clock, an unsharded virtual run) every interval goes straight through.
pub(crate) struct Merger {
    parts: u32,
    on_interval: IntervalFn,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: BTreeMap<u64, Pending>,
    /// The next index to deliver.
    next: u64,
    /// Per finished part: its last index (`None`: it cut none).
    finished: BTreeMap<u32, Option<u64>>,
}

impl Merger {
    pub(crate) fn new(parts: u32, on_interval: IntervalFn) -> Arc<Self> {
        Arc::new(Self {
            parts,
            on_interval,
            state: Mutex::default(),
        })
    }

    /// Part `part`'s interval (its `breakers` as `interval.breakers`).
    pub(crate) fn deliver(&self, interval: Interval) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = state
            .pending
            .entry(interval.index)
            .or_insert_with(|| Pending {
                got: 0,
                interval: Interval {
                    index: interval.index,
                    start: interval.start,
                    ..Interval::default()
                },
                breakers: Vec::new(),
            });
        entry.got += 1;
        let sum = &mut entry.interval;
        sum.end = sum.end.max(interval.end);
        sum.recorder.merge(&interval.recorder);
        sum.alive += interval.alive;
        sum.alive_peak += interval.alive_peak;
        sum.in_flight += interval.in_flight;
        entry.breakers.push(interval.breakers);
        self.flush(&mut state);
    }

    /// Part `part` cut its last interval, `last` (`None`: it cut none).
    pub(crate) fn finish(&self, part: u32, last: Option<u64>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.finished.insert(part, last);
        self.flush(&mut state);
    }

    /// Delivers every interval whose parts are all in: those still running, and those that
    /// finished at or after it.
    fn flush(&self, state: &mut State) {
        loop {
            let next = state.next;
            let ended_before = state
                .finished
                .values()
                .filter(|last| last.is_none_or(|l| l < next))
                .count();
            let expected = self.parts - u32::try_from(ended_before).unwrap_or(self.parts);
            if expected == 0 {
                return;
            }
            match state.pending.get(&next) {
                Some(p) if p.got >= expected => {}
                _ => return,
            }
            let Some(mut done) = state.pending.remove(&next) else {
                return;
            };
            done.interval.breakers = merge_breakers(done.breakers);
            (self.on_interval)(&done.interval);
            state.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn interval(index: u64, turns: u64, end_ms: u64) -> Interval {
        let mut i = Interval {
            index,
            start: Duration::from_millis(index * 1000),
            end: Duration::from_millis(end_ms),
            alive: 1,
            ..Interval::default()
        };
        i.recorder.counters.turns = turns;
        i
    }

    #[test]
    fn parts_are_added_and_delivered_in_order_until_each_part_ends() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        let merger = Merger::new(
            2,
            Arc::new(move |i: &Interval| {
                out.lock()
                    .unwrap()
                    .push((i.index, i.recorder.counters.turns, i.alive, i.end))
            }),
        );
        merger.deliver(interval(0, 1, 1000));
        merger.deliver(interval(1, 2, 2000));
        assert!(seen.lock().unwrap().is_empty(), "part 1 has not cut 0 yet");
        merger.deliver(interval(0, 10, 1000));
        merger.deliver(interval(1, 20, 1500));
        // Part 1 ends after interval 1 (cut short at 1.5 s); part 0 goes on alone.
        merger.finish(1, Some(1));
        merger.deliver(interval(2, 3, 2500));
        merger.finish(0, Some(2));
        let ms = Duration::from_millis;
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (0, 11, 2, ms(1000)),
                (1, 22, 2, ms(2000)),
                (2, 3, 1, ms(2500))
            ]
        );
    }
}
