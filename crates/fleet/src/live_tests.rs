//! A [`LiveWatch`] on whole virtual runs: readings grow while the run goes, and the reading
//! once it is done holds the report's counters exactly, sharded or not.

use std::sync::{Arc, Mutex};

use scenario::{ClockMode, Scenario};

use crate::{LiveWatch, Progress, RunOptions, ScriptedAgent, run};

fn smoke(shards: u32) -> Scenario {
    let path = format!(
        "{}/../../fixtures/scenarios/smoke.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut s = scenario::load(std::path::Path::new(&path)).expect("the smoke fixture loads");
    s.clock = ClockMode::Virtual;
    s.fleet.shards = shards;
    s.check("test").expect("the scenario is valid");
    s
}

fn watched_run(shards: u32) {
    let watch = LiveWatch::new();
    let readings: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let (seen, read) = (readings.clone(), watch.clone());
    let options = RunOptions {
        // A scrape at each progress tick: mid-run, synchronised by the run's own clock.
        progress: Some(Arc::new(move |_: &Progress| {
            let r = read.read();
            seen.lock()
                .expect("not poisoned")
                .push((r.recorder.counters.turns, r.recorder.counters.llm_calls));
        })),
        live: Some(watch.clone()),
        ..RunOptions::default()
    };
    let outcome = run(&smoke(shards), |_| ScriptedAgent, options).expect("the run starts");
    let readings = readings.lock().expect("not poisoned").clone();
    assert!(readings.len() >= 2, "{readings:?}");
    let (first, last) = (readings[0], readings[readings.len() - 1]);
    assert!(
        last.0 > first.0 && last.1 > first.1,
        "turns and LLM calls grow between scrapes: {readings:?}"
    );
    let done = watch.read();
    assert_eq!((done.parts, done.parts_done), (shards, shards));
    assert_eq!(done.alive, 0);
    assert_eq!(done.recorder.counters, outcome.snapshot.counters);
    assert!(done.recorder.counters.turns > last.0);
}

#[test]
fn readings_grow_during_the_run_and_end_at_the_reports_counters() {
    watched_run(1);
}

#[test]
fn a_sharded_runs_reading_adds_its_parts() {
    watched_run(2);
}
