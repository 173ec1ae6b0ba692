//! Snapshots for the unit tests of the writers.

use metrics::RunSnapshot;

/// An empty run of the default targets, stopped by `stop` after 90 s of fleet time.
pub(crate) fn stopped_by(stop: metrics::StopReason) -> RunSnapshot {
    RunSnapshot::build(metrics::SnapshotInput {
        scenario: "t".to_owned(),
        seed: 1,
        clock: metrics::Clock::Virtual,
        shards: 1,
        stop,
        simulated: std::time::Duration::from_secs(90),
        recorder: metrics::Recorder::default(),
        agents: Vec::new(),
        targets: &scenario::Targets::default(),
        breakers: Vec::new(),
        process: metrics::ProcessStats::default(),
        memory_method: metrics::MemoryMethod::Structural,
    })
}
