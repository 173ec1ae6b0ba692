//! Recording during a run. A [`Recorder`] holds histograms, counters, errors and the latency
//! breakdown; a [`Registry`] gives each worker thread a recorder of its own (one uncontended
//! mutex per worker, no lock shared between workers), and merges them into one on demand.
//! Merging is exact, associative and commutative, so the result does not depend on which
//! thread recorded what.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::breakdown::Breakdown;
use crate::cache::{CacheOutcome, ToolCacheRecord};
use crate::counters::{CallClass, Counters, Errors};
use crate::harness::HarnessFigures;
use crate::histogram::LatencyHistogram;
use crate::{ErrorKind, MetricKind};

/// Everything one worker recorded. It serializes whole (its histograms as HDR), for a part
/// report (`run --part`) that `merge` adds.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recorder {
    /// One histogram per metric that saw a value.
    pub latency: BTreeMap<MetricKind, LatencyHistogram>,
    /// Plain counts.
    pub counters: Counters,
    /// Errors per class and kind.
    pub errors: Errors,
    /// Turn parts per response bucket.
    pub breakdown: Breakdown,
    /// The live clock's probe of the harness itself (`None` under the virtual clock); its
    /// lag samples are the `scheduler_lag` histogram in `latency`.
    pub harness: Option<HarnessFigures>,
    /// The tool cache, per tool that has one.
    pub tool_cache: BTreeMap<String, ToolCacheRecord>,
}

impl Recorder {
    /// Records one value of `kind`.
    pub fn record(&mut self, kind: MetricKind, value: Duration) {
        self.latency.entry(kind).or_default().record(value);
    }

    /// Counts the final error of a logical call or turn.
    pub fn error(&mut self, class: CallClass, kind: ErrorKind) {
        *self
            .errors
            .calls
            .entry(class)
            .or_default()
            .entry(kind)
            .or_default() += 1;
    }

    /// Counts one failed attempt.
    pub fn attempt_error(&mut self, class: CallClass, kind: ErrorKind) {
        *self
            .errors
            .attempts
            .entry(class)
            .or_default()
            .entry(kind)
            .or_default() += 1;
    }

    /// Counts one logical call of `tool` the cache served as `outcome`, with its `tool_call`
    /// latency (`None` for a call cut off by the end of the run).
    pub fn cache_call(&mut self, tool: &str, outcome: CacheOutcome, latency: Option<Duration>) {
        self.tool_cache
            .entry(tool.to_owned())
            .or_default()
            .call(outcome, latency);
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Recorder) {
        for (tool, cache) in &other.tool_cache {
            self.tool_cache
                .entry(tool.clone())
                .or_default()
                .merge(cache);
        }
        for (kind, h) in &other.latency {
            self.latency.entry(*kind).or_default().merge(h);
        }
        self.counters.merge(&other.counters);
        self.errors.merge(&other.errors);
        self.breakdown.merge(&other.breakdown);
        self.harness = match (self.harness, other.harness) {
            (Some(a), Some(b)) => Some(a.max(&b)),
            (a, b) => a.or(b),
        };
    }

    /// The histogram of `kind` (empty when nothing was recorded).
    pub fn histogram(&self, kind: MetricKind) -> LatencyHistogram {
        self.latency.get(&kind).cloned().unwrap_or_default()
    }
}

/// Recorders, one per worker thread.
#[derive(Debug)]
pub struct Registry {
    slots: Vec<Mutex<Recorder>>,
    /// What earlier intervals took from the slots ([`Registry::take_interval`]).
    settled: Mutex<Recorder>,
}

/// Slots in a registry. Threads beyond this share slots (still correct, merely contended).
const SLOTS: usize = 64;

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot index, assigned on first use.
    static THREAD_SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn thread_slot() -> usize {
    THREAD_SLOT.with(|slot| match slot.get() {
        Some(i) => i,
        None => {
            let i = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % SLOTS;
            slot.set(Some(i));
            i
        }
    })
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Mutex::default()).collect(),
            settled: Mutex::default(),
        }
    }
}

impl Registry {
    /// Runs `f` on this thread's recorder. Never hold it across an `.await` (it is a closure,
    /// so it cannot be).
    pub fn with<R>(&self, f: impl FnOnce(&mut Recorder) -> R) -> R {
        let mut recorder = self.slots[thread_slot()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut recorder)
    }

    /// Everything recorded so far, merged.
    pub fn snapshot(&self) -> Recorder {
        let mut all = self
            .settled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for slot in &self.slots {
            all.merge(&slot.lock().unwrap_or_else(PoisonError::into_inner));
        }
        all
    }

    /// What was recorded since the last call (or the start), merged: one interval of the
    /// time series. [`Registry::snapshot`] still counts it, so the snapshot is always the sum
    /// of the intervals taken and what has been recorded since.
    pub fn take_interval(&self) -> Recorder {
        // The first slot's recorder is moved, not copied: a virtual run records on one thread,
        // so its interval costs no new histogram (each is 188 KB of counts to zero).
        let mut interval: Option<Recorder> = None;
        for slot in &self.slots {
            let taken = std::mem::take(&mut *slot.lock().unwrap_or_else(PoisonError::into_inner));
            match &mut interval {
                Some(interval) => interval.merge(&taken),
                None => interval = Some(taken),
            }
        }
        let interval = interval.unwrap_or_default();
        self.settled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .merge(&interval);
        interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn recorder(values: &[(u8, u32)]) -> Recorder {
        let kinds = [
            MetricKind::AgentResponse,
            MetricKind::LlmCall,
            MetricKind::ToolCall,
        ];
        let mut r = Recorder::default();
        for (k, us) in values {
            let kind = kinds[usize::from(*k) % kinds.len()];
            r.record(kind, Duration::from_micros(u64::from(*us)));
            r.counters.turns += 1;
            r.counters.tokens_in += u64::from(*us % 100);
            if us % 7 == 0 {
                r.error(
                    CallClass::Llm,
                    ErrorKind::ALL[*us as usize % ErrorKind::ALL.len()],
                );
                r.attempt_error(CallClass::Tool, ErrorKind::Timeout);
            }
            r.breakdown.record_turn(
                Duration::from_micros(u64::from(*us)),
                &crate::TurnParts::default(),
            );
            if us % 5 == 0 {
                let outcome = [
                    CacheOutcome::Hit,
                    CacheOutcome::Miss,
                    CacheOutcome::Coalesced,
                ][*us as usize % 3];
                let tool = ["a", "b"][usize::from(*k) % 2];
                r.cache_call(tool, outcome, Some(Duration::from_micros(u64::from(*us))));
            }
            if us % 11 == 0 {
                let f = HarnessFigures {
                    probe_interval: Duration::from_millis(u64::from(us % 3)),
                    cores: us % 5,
                    cpu_utilisation: f64::from(us % 1000) / 1000.0,
                    cpu_utilisation_peak: f64::from(us % 997) / 997.0,
                    cpu_window: Duration::from_millis(u64::from(us % 7)),
                };
                r.harness = Some(r.harness.map_or(f, |h| h.max(&f)));
            }
        }
        r
    }

    proptest! {
        #[test]
        fn merge_is_associative_and_commutative(
            a in prop::collection::vec((0u8..3, 1u32..5_000_000), 0..60),
            b in prop::collection::vec((0u8..3, 1u32..5_000_000), 0..60),
            c in prop::collection::vec((0u8..3, 1u32..5_000_000), 0..60),
        ) {
            let (ra, rb, rc) = (recorder(&a), recorder(&b), recorder(&c));
            let mut ab_c = ra.clone(); ab_c.merge(&rb); ab_c.merge(&rc);
            let mut bc = rb.clone(); bc.merge(&rc);
            let mut a_bc = ra.clone(); a_bc.merge(&bc);
            let mut c_a_b = rc.clone(); c_a_b.merge(&ra); c_a_b.merge(&rb);
            let all: Vec<(u8, u32)> = a.iter().chain(&b).chain(&c).copied().collect();
            prop_assert_eq!(&ab_c, &a_bc);
            prop_assert_eq!(&ab_c, &c_a_b);
            prop_assert_eq!(&ab_c, &recorder(&all));
        }
    }

    #[test]
    fn intervals_sum_to_the_snapshot() {
        let reg = Registry::default();
        let mut intervals = Vec::new();
        for i in 0..5u64 {
            reg.with(|r| {
                r.record(MetricKind::AgentResponse, Duration::from_millis(i + 1));
                r.counters.turns += i;
            });
            intervals.push(reg.take_interval());
            assert_eq!(intervals[usize::try_from(i).unwrap()].counters.turns, i);
        }
        reg.with(|r| r.counters.turns += 100);
        let mut sum = Recorder::default();
        for interval in &intervals {
            sum.merge(interval);
        }
        assert_eq!(sum.counters.turns, 10);
        assert_eq!(sum.histogram(MetricKind::AgentResponse).count(), 5);
        // The snapshot holds the intervals and what came after the last one.
        sum.counters.turns += 100;
        assert_eq!(reg.snapshot(), sum);
    }

    #[test]
    fn registry_merges_every_thread() {
        let reg = Registry::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..1000u64 {
                        reg.with(|r| {
                            r.record(MetricKind::AgentResponse, Duration::from_millis(i));
                            r.counters.turns += 1;
                        });
                    }
                });
            }
        });
        let all = reg.snapshot();
        assert_eq!(all.counters.turns, 4000);
        assert_eq!(all.histogram(MetricKind::AgentResponse).count(), 4000);
        assert_eq!(all.histogram(MetricKind::Ttft).count(), 0);
    }
}
