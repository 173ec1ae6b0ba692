//! A deterministic run: 1200 agents, 3000 turns, every latency metric but `schedule_delay`,
//! errors of each class, a slow tail held up by pool waits, two breakers, and two targets
//! missed (`error_rate`, and an extra `ttft_p99`).

use std::time::Duration;

use metrics::{
    AgentSummary, BreakerSummary, CallClass, ErrorKind, HeapFigures, MemoryMethod, MetricKind,
    ProcessStats, Recorder, RunSnapshot, SnapshotInput, TurnParts,
};
use scenario::{Dur, LatencyTarget, Probability, Targets};

const AGENTS: u64 = 1200;
/// Agents that ran turns; the last ten started but never finished one.
const BUSY_AGENTS: u64 = 1190;
const TURNS: u64 = 3000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A spread of `0..n` that looks random but is the same every run.
fn spread(i: u64, n: u64) -> u64 {
    i.wrapping_mul(7919).wrapping_add(13) % n
}

/// The targets: the defaults, plus `ttft_p99 < 500 ms`.
pub(crate) fn targets() -> Targets {
    Targets {
        extra: vec![LatencyTarget {
            metric: MetricKind::Ttft,
            percentile: 99.0,
            max: Dur::millis(500),
        }],
        ..Targets::default()
    }
}

/// Targets the fixture meets: a looser error rate, no extra target.
pub(crate) fn lenient_targets() -> Targets {
    Targets {
        error_rate: Probability(0.01),
        ..Targets::default()
    }
}

fn recorder_and_agents() -> (Recorder, Vec<AgentSummary>) {
    let mut r = Recorder::default();
    let mut agents: Vec<AgentSummary> = (0..AGENTS)
        .map(|id| AgentSummary {
            id,
            structural_peak_bytes: 2_000_000 + spread(id, 10_000) * 1_000 + id,
            structural_final_bytes: 1_500_000 + spread(id, 10_000) * 500,
            heap: Some(HeapFigures {
                peak_bytes: 3_000_000 + spread(id, 10_000) * 1_500 + id,
                final_bytes: 2_500_000 + spread(id, 10_000) * 700,
            }),
            conversation_bytes: 20_000 + spread(id, 500) * 100,
            conversation_tokens: 5_000 + spread(id, 500) * 25,
            ..AgentSummary::default()
        })
        .collect();
    for t in 0..TURNS {
        let agent =
            &mut agents[usize::try_from(t % BUSY_AGENTS).expect("an agent index fits usize")];
        // One turn in twenty waits long for a pool slot: that is the slow tail.
        let pool_wait = if t % 20 == 7 {
            900 + spread(t, 300)
        } else {
            spread(t, 5)
        };
        let ttft = 150 + spread(t, 250);
        let generation = 200 + spread(t * 3, 400);
        let tools = if t % 3 == 0 { 80 + spread(t, 200) } else { 0 };
        let response = pool_wait + ttft + generation + tools + 2;
        r.record(MetricKind::AgentResponse, ms(response));
        agent.response.record(ms(response));
        agent.turns += 1;
        r.breakdown.record_turn(
            ms(response),
            &TurnParts {
                pool_wait: ms(pool_wait),
                ttft: ms(ttft),
                generation: ms(generation),
                tools: ms(tools),
                context_build: Duration::from_micros(40),
                ..TurnParts::default()
            },
        );
        r.record(MetricKind::LlmCall, ms(response - tools));
        r.record(MetricKind::LlmAttempt, ms(ttft + generation));
        r.record(
            MetricKind::Ttft,
            ms(ttft + if t % 50 == 0 { 400 } else { 0 }),
        );
        r.record(
            MetricKind::InterToken,
            Duration::from_micros(8_000 + spread(t, 9_000)),
        );
        r.record(MetricKind::PoolWait, ms(pool_wait));
        r.record(
            MetricKind::LimiterWait,
            Duration::from_micros(spread(t, 2_000)),
        );
        r.record(
            MetricKind::ContextBuild,
            Duration::from_micros(25 + spread(t, 60)),
        );
        if tools > 0 {
            r.record(MetricKind::ToolCall, ms(tools));
            r.record(MetricKind::ToolAttempt, ms(tools - 2));
        }
        if t % 100 == 0 {
            r.record(
                MetricKind::Compression,
                Duration::from_micros(300 + spread(t, 900)),
            );
        }
    }
    // Three turns failed; their agents miss their own error-rate target.
    for (id, kind) in [
        (4, ErrorKind::RateLimited),
        (9, ErrorKind::RateLimited),
        (17, ErrorKind::Deadline),
    ] {
        agents[id].errors += 1;
        r.error(CallClass::Llm, kind);
        r.error(CallClass::Turn, kind);
    }
    r.error(CallClass::Tool, ErrorKind::Timeout);
    r.error(CallClass::Tool, ErrorKind::Timeout);
    r.error(CallClass::Tool, ErrorKind::Reset);
    for (class, kind, n) in [
        (CallClass::Llm, ErrorKind::RateLimited, 41),
        (CallClass::Llm, ErrorKind::ServerError, 15),
        (CallClass::Llm, ErrorKind::BreakerOpen, 12),
        (CallClass::Llm, ErrorKind::Deadline, 1),
        (CallClass::Tool, ErrorKind::Timeout, 4),
        (CallClass::Tool, ErrorKind::Reset, 3),
    ] {
        for _ in 0..n {
            r.attempt_error(class, kind);
        }
    }
    let c = &mut r.counters;
    c.turns = TURNS;
    c.turns_failed = 3;
    c.turns_on_target = TURNS - 3;
    c.llm_calls = TURNS;
    c.llm_succeeded = TURNS - 3;
    c.llm_attempts = TURNS + 69;
    c.tool_calls = TURNS / 3;
    c.tool_succeeded = TURNS / 3 - 3;
    c.tool_attempts = TURNS / 3 + 7;
    c.tool_timeouts = 4;
    c.retries = 76;
    c.tokens_in = 14_523_871;
    c.tokens_out = 612_004;
    c.cache_hits = 312;
    c.cache_misses = 688;
    c.failovers = 9;
    c.breaker_rejections = 12;
    c.sessions_started = AGENTS;
    c.sessions_completed = 1187;
    c.compressions = 2_310;
    c.compressed_tokens = 9_871_004;
    c.summaries = 12;
    (r, agents)
}

/// The run judged by `targets`, with fixed process figures and version so it renders the
/// same everywhere.
pub(crate) fn snapshot_with(targets: &Targets) -> RunSnapshot {
    let (recorder, agents) = recorder_and_agents();
    let mut s = RunSnapshot::build(SnapshotInput {
        scenario: "support-fleet".to_owned(),
        seed: 42,
        clock: metrics::Clock::Virtual,
        shards: 1,
        stop: metrics::StopReason::Duration,
        simulated: Duration::from_secs(600),
        recorder,
        agents,
        targets,
        breakers: vec![
            BreakerSummary {
                target: "llm:primary".to_owned(),
                state: metrics::BreakerState::Closed,
                opened: 1,
                half_opened: 1,
                closed: 1,
                rejected: 12,
            },
            BreakerSummary {
                target: "tool:search".to_owned(),
                state: metrics::BreakerState::Closed,
                ..BreakerSummary::default()
            },
        ],
        process: ProcessStats {
            peak_rss_bytes: 734_003_200,
            cpu_time_ms: 48_250,
            open_files: 37,
            agents_alive_peak: AGENTS,
            wall_time_ms: 3_412,
            shared_heap_peak_bytes: 41_943_040,
            shared_heap_final_bytes: 12_582_912,
            parts: Vec::new(),
            start_spread_ms: None,
        },
        memory_method: MemoryMethod::Allocator,
    });
    // The crate version would change every snapshot on each release.
    s.fleetbench_version = "0.0.0-test".to_owned();
    s
}

/// The fixed run, judged by [`targets`] (two targets missed).
pub(crate) fn snapshot() -> RunSnapshot {
    snapshot_with(&targets())
}

/// A run where nothing happened: no turns, no calls, no agents.
pub(crate) fn empty() -> RunSnapshot {
    let mut s = RunSnapshot::build(SnapshotInput {
        scenario: "idle".to_owned(),
        seed: 0,
        clock: metrics::Clock::Live,
        shards: 1,
        stop: metrics::StopReason::Interrupted,
        simulated: Duration::ZERO,
        recorder: Recorder::default(),
        agents: Vec::new(),
        targets: &Targets::default(),
        breakers: Vec::new(),
        process: ProcessStats::default(),
        memory_method: MemoryMethod::Structural,
    });
    s.fleetbench_version = "0.0.0-test".to_owned();
    s
}
