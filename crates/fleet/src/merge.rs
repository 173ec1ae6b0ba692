//! A run's outcome from its parts: the parts of a sharded run (threads of one process) and
//! the parts of a run split over processes (`run --part`, merged by `fleetbench merge`) go
//! through the same functions, so the two give the same report for a seed and a number of
//! parts, apart from the figures of the processes that ran them.

use metrics::{Interval, MemoryMethod, ProcessStats, RunSnapshot, SnapshotInput};
use scenario::Scenario;

use crate::intervals::Merger;
use crate::options::{IntervalFn, RunOutcome};
use crate::shard::{self, PartOutcome};

/// The outcome of `scenario` from its parts, in part order ([`shard::merge`]: histograms and
/// counters added, agents listed by id, breakers by target); its targets judged once, on the
/// whole. `process` holds the figures of the process or processes that ran it; its
/// `agents_alive_peak` is set here, from the parts.
pub fn merge_parts(
    scenario: &Scenario,
    parts: Vec<PartOutcome>,
    process: ProcessStats,
    memory_method: MemoryMethod,
) -> RunOutcome {
    let shard::Merged {
        recorder,
        agents,
        breakers,
        alive_peak,
        simulated,
        stop,
        shards,
        mock_observed,
    } = shard::merge(parts);
    let snapshot = RunSnapshot::build(SnapshotInput {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        clock: scenario.clock,
        shards,
        simulated,
        stop,
        recorder,
        agents,
        targets: &scenario.targets,
        breakers,
        process: ProcessStats {
            agents_alive_peak: alive_peak,
            ..process
        },
        memory_method,
    });
    RunOutcome {
        snapshot,
        stop,
        mock_observed,
        part: None,
    }
}

/// The run's time series from its parts' series, in part order, handed to `on_interval`
/// in time order: the intervals of one index added as a sharded run adds them while it goes
/// ([`Merger`]), a part that ended early leaving the later intervals to the others. The parts
/// are read in step, one index at a time, so only an interval per part is held at once (an
/// interval's histograms take about 190 KB each decoded; an hour of them would not fit).
pub fn merge_intervals<I>(parts: Vec<I>, on_interval: IntervalFn)
where
    I: Iterator<Item = Interval>,
{
    let of = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    let merger = Merger::new(of, on_interval);
    let mut parts: Vec<(u32, I, Option<u64>)> =
        (0..of).zip(parts).map(|(k, p)| (k, p, None)).collect();
    while !parts.is_empty() {
        parts.retain_mut(|(k, part, last)| match part.next() {
            Some(interval) => {
                *last = Some(interval.index);
                merger.deliver(interval);
                true
            }
            None => {
                merger.finish(*k, *last);
                false
            }
        });
    }
}
