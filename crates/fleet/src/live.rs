//! Reading a run from outside while it goes (a Prometheus scrape, docs/prometheus.md).
//!
//! A [`LiveWatch`] is handed to the run in [`RunOptions::live`](crate::RunOptions); each part
//! of the run registers a reader of its recorders, agents alive and calls in flight when it
//! starts, and replaces it with what it collected when its agents are done. A reading reads
//! the same recorders the progress line does, on demand: nothing is added to the hot path.
//! Once every part is done, a reading is exactly what the run's report is made of.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use metrics::Recorder;

/// The run as read at one moment, all parts added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveReading {
    /// What the recorders hold now, merged.
    pub recorder: Recorder,
    /// Agents (or open-loop sessions) running now.
    pub alive: u64,
    /// LLM and tool requests holding a pool slot now.
    pub in_flight: u64,
    /// Parts that have started.
    pub parts: u32,
    /// Parts whose agents are done: the recorders are final.
    pub parts_done: u32,
}

type Reader = Arc<dyn Fn() -> LiveReading + Send + Sync>;

/// One part's source: its live reader, or what it collected.
enum Source {
    Running(Reader),
    Done(Box<Recorder>),
}

/// A handle to read a run while it goes; clones read the same run.
#[derive(Clone, Default)]
pub struct LiveWatch {
    /// Part index → its source. Why a mutex: parts start and finish on their own threads
    /// (one per shard) while a scrape reads; it is held only to read, never across an await.
    parts: Arc<Mutex<BTreeMap<u32, Source>>>,
}

impl std::fmt::Debug for LiveWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWatch").finish_non_exhaustive()
    }
}

impl LiveWatch {
    /// A watch on no run yet: a reading is empty until the run starts.
    pub fn new() -> Self {
        Self::default()
    }

    /// The run now: every part's recorders merged, agents alive and calls in flight added.
    pub fn read(&self) -> LiveReading {
        let parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = LiveReading::default();
        for source in parts.values() {
            total.parts += 1;
            match source {
                Source::Running(read) => {
                    let part = read();
                    total.recorder.merge(&part.recorder);
                    total.alive += part.alive;
                    total.in_flight += part.in_flight;
                }
                Source::Done(recorder) => {
                    total.parts_done += 1;
                    total.recorder.merge(recorder);
                }
            }
        }
        total
    }

    /// Part `index` has started; `read` reads it.
    pub(crate) fn running(&self, index: u32, read: Reader) {
        self.set(index, Source::Running(read));
    }

    /// Part `index` is done and collected `recorder` (what the report is made of).
    pub(crate) fn done(&self, index: u32, recorder: Recorder) {
        self.set(index, Source::Done(Box::new(recorder)));
    }

    fn set(&self, index: u32, source: Source) {
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(index, source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_and_a_done_part_is_final() {
        let watch = LiveWatch::new();
        assert_eq!(watch.read(), LiveReading::default());
        watch.running(
            0,
            Arc::new(|| {
                let mut recorder = Recorder::default();
                recorder.counters.turns = 3;
                LiveReading {
                    recorder,
                    alive: 2,
                    in_flight: 1,
                    ..LiveReading::default()
                }
            }),
        );
        let mut done = Recorder::default();
        done.counters.turns = 4;
        watch.done(1, done);
        let reading = watch.read();
        assert_eq!(reading.recorder.counters.turns, 7);
        assert_eq!((reading.alive, reading.in_flight), (2, 1));
        assert_eq!((reading.parts, reading.parts_done), (2, 1));
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod run_tests;
