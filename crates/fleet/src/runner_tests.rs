//! Whole-fleet runs under the virtual clock: deterministic, seconds of wall time.

use std::time::Duration;

use metrics::{CallClass, ErrorKind, MetricKind, RunSnapshot};
use scenario::{Arrival, ClockMode, Dist, Dur, Rate, Scenario, Summarizer, Tokens, Trigger};

use crate::{RunOptions, ScriptedAgent, StopReason, run};

fn fixture(name: &str) -> Scenario {
    let path = format!(
        "{}/../../fixtures/scenarios/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    scenario::load(std::path::Path::new(&path)).unwrap()
}

fn virtual_run(mut s: Scenario) -> RunSnapshot {
    s.clock = ClockMode::Virtual;
    s.check("test").unwrap();
    let outcome = run(&s, |_| ScriptedAgent, RunOptions::default()).unwrap();
    outcome.snapshot
}

/// The report without its machine-dependent section.
fn comparable(s: &RunSnapshot) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap();
    v.as_object_mut().unwrap().remove("process");
    v
}

#[test]
fn a_virtual_run_is_deterministic_for_a_seed() {
    let a = virtual_run(fixture("smoke"));
    let b = virtual_run(fixture("smoke"));
    assert!(a.counters.turns > 20, "{:?}", a.counters);
    assert_eq!(a.stop, metrics::StopReason::Duration);
    assert_eq!(a.simulated_ms, 5000);
    assert_eq!(comparable(&a), comparable(&b));
    let mut other = fixture("smoke");
    other.seed += 1;
    let c = virtual_run(other);
    assert_ne!(comparable(&a)["latency"], comparable(&c)["latency"]);
    assert_ne!(a.counters, c.counters);
}

#[test]
fn the_smoke_run_meets_its_targets_and_fills_every_section() {
    let s = virtual_run(fixture("smoke"));
    assert!(s.passed, "{:#?}", s.targets);
    for kind in [
        MetricKind::AgentResponse,
        MetricKind::LlmCall,
        MetricKind::LlmAttempt,
        MetricKind::Ttft,
        MetricKind::InterToken,
        MetricKind::ToolCall,
        MetricKind::ContextBuild,
        MetricKind::LimiterWait,
        MetricKind::PoolWait,
    ] {
        assert!(
            s.latency.get(&kind).is_some_and(|h| h.count() > 0),
            "{kind} is empty"
        );
    }
    assert_eq!(s.agents.count, 20);
    assert_eq!(s.process.agents_alive_peak, 20);
    assert!(
        s.agents
            .list
            .iter()
            .all(|a| a.turns > 0 && a.conversation_bytes > 0)
    );
    assert_eq!(s.agents.meeting_all_targets, 1.0);
    assert!(s.goodput_turns_per_s > 0.0);
    assert_eq!(
        s.counters.llm_attempts, s.counters.llm_calls,
        "no faults, no retries"
    );
    assert!(
        s.breakdown.turns > 0 && s.breakdown.bottleneck.is_some(),
        "{:?}",
        s.breakdown
    );
    assert_eq!(
        s.breakers.len(),
        3,
        "one provider and two tools: {:?}",
        s.breakers
    );
}

#[test]
fn a_fault_run_completes_and_accounts_for_every_call() {
    let s = virtual_run(fixture("faults"));
    let c = &s.counters;
    assert_eq!(s.stop, metrics::StopReason::Duration);
    let failed = |class| s.errors.calls_failed(class);
    let attempt_errors = |class: CallClass| {
        s.errors
            .attempts
            .get(&class)
            .map_or(0, |m| m.values().sum::<u64>())
    };
    // Every logical call that ended has a latency (one the end of the run cut off, as
    // `cancelled`, has none), and is a success or one final error.
    let cancelled = |class| {
        s.errors
            .calls
            .get(&class)
            .and_then(|m| m.get(&ErrorKind::Cancelled))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        s.latency[&MetricKind::LlmCall].count(),
        c.llm_calls - cancelled(CallClass::Llm)
    );
    assert_eq!(
        s.latency[&MetricKind::ToolCall].count(),
        c.tool_calls - cancelled(CallClass::Tool)
    );
    assert!(failed(CallClass::Llm) > 0 && failed(CallClass::Llm) < c.llm_calls);
    assert!(failed(CallClass::Tool) > 0 && failed(CallClass::Tool) < c.tool_calls);
    // Logical calls: successes plus final errors by kind, counted independently.
    assert_eq!(c.llm_calls, c.llm_succeeded + failed(CallClass::Llm));
    assert_eq!(c.tool_calls, c.tool_succeeded + failed(CallClass::Tool));
    // Attempts: each is the one success of its call or an attempt error (a cache hit makes
    // no attempt, a breaker rejection neither).
    assert_eq!(
        c.llm_attempts,
        c.llm_succeeded + attempt_errors(CallClass::Llm)
    );
    assert_eq!(
        c.tool_attempts,
        c.tool_succeeded - c.cache_hits + attempt_errors(CallClass::Tool)
    );
    // Turns fail when an LLM call fails for good, or are cancelled at the end.
    let turn_errors: u64 = s
        .errors
        .calls
        .get(&CallClass::Turn)
        .map_or(0, |m| m.values().sum());
    assert_eq!(c.turns_failed + c.turns_cancelled, turn_errors);
    let llm_attempt_errors = &s.errors.attempts[&CallClass::Llm];
    for kind in [
        ErrorKind::RateLimited,
        ErrorKind::ServerError,
        ErrorKind::Timeout,
        ErrorKind::Truncated,
    ] {
        assert!(
            llm_attempt_errors.get(&kind).copied().unwrap_or(0) > 0,
            "no {kind:?} in {llm_attempt_errors:?}"
        );
    }
    assert!(c.tool_timeouts > 0, "slow_report times out");
    assert!(c.retries > 0);
    // The 5xx burst opens the breaker.
    let llm_breaker = s.breakers.iter().find(|b| b.target == "llm:mock").unwrap();
    assert!(llm_breaker.opened > 0, "{llm_breaker:?}");
    // Where the slow turns' time went.
    let parts = &s.breakdown.parts;
    assert!(parts["backoff"].mean_ms > 0.0, "{:?}", s.breakdown);
    assert!(parts["failed_attempts"].mean_ms > 0.0, "{:?}", s.breakdown);
    assert!(s.breakdown.bottleneck.is_some());
    let total: u64 = s.errors.calls.values().flat_map(|m| m.values()).sum();
    assert!(total > 0);
}

#[test]
fn open_loop_latency_includes_the_queueing() {
    // Two slots, ten session starts a second, sessions of one turn that take ~1 s: starts queue
    // for a slot. The wait is in schedule_delay and in the first turn's response.
    let mut s = fixture("smoke");
    s.fleet.agents = 2;
    s.fleet.arrival = Arrival::Constant;
    s.fleet.rate = Some(Rate(10.0));
    s.fleet.ramp_up = Dur::secs(0);
    s.fleet.duration = Some(Dur::secs(20));
    s.session.turns = Dist::Constant(Tokens(1));
    s.session.think_time = Dist::Constant(Dur::secs(0));
    s.mock.base_latency = Dist::Constant(Dur::secs(1));
    s.targets.min_concurrent_agents = 1;
    let snap = virtual_run(s);
    let delay = &snap.latency[&MetricKind::ScheduleDelay];
    let response = &snap.latency[&MetricKind::AgentResponse];
    let llm = &snap.latency[&MetricKind::LlmCall];
    assert!(snap.counters.late_starts > 10, "{:?}", snap.counters);
    assert!(
        snap.counters.dropped_starts > 0,
        "the backlog is bounded: {:?}",
        snap.counters
    );
    // No session starts after the stop: a start still waiting for a slot then is dropped,
    // so every session that started ran its one turn (or was cut off in it).
    let c = &snap.counters;
    assert!(c.sessions_started <= c.turns + c.turns_cancelled, "{c:?}");
    assert_eq!(c.sessions_completed, c.turns, "{c:?}");
    // The server answers in about a second plus tools, but agents waited much longer.
    assert!(llm.quantile(0.95) < Duration::from_secs(3), "{llm:?}");
    assert!(
        delay.quantile(0.95) > Duration::from_millis(500),
        "{delay:?}"
    );
    assert!(
        response.quantile(0.95) >= delay.quantile(0.95),
        "{response:?} vs {delay:?}"
    );
    assert!(response.max() >= delay.max());
    assert!(!snap.passed || response.quantile(0.95) < Duration::from_secs(2));
}

#[test]
fn an_interrupt_stops_the_run_and_keeps_what_it_measured() {
    let mut s = fixture("smoke");
    s.clock = ClockMode::Virtual;
    s.fleet.duration = Some(Dur::secs(3600));
    let options = RunOptions::default();
    let token = options.interrupt.clone();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = count.clone();
    let options = RunOptions {
        progress: Some(std::sync::Arc::new(move |p: &crate::Progress| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if p.elapsed >= Duration::from_secs(10) {
                token.cancel();
            }
        })),
        ..options
    };
    let outcome = run(&s, |_| ScriptedAgent, options).unwrap();
    assert_eq!(outcome.stop, StopReason::Interrupted);
    assert_eq!(outcome.snapshot.stop, metrics::StopReason::Interrupted);
    assert!(outcome.snapshot.simulated_ms >= 10_000 && outcome.snapshot.simulated_ms < 12_000);
    assert!(outcome.snapshot.counters.turns > 0);
    assert!(count.load(std::sync::atomic::Ordering::Relaxed) >= 10);
}

#[test]
fn a_max_turns_stop_counts_exactly() {
    let mut s = fixture("smoke");
    s.fleet.duration = None;
    s.fleet.max_turns = Some(50);
    let snap = virtual_run(s);
    assert_eq!(snap.stop, metrics::StopReason::Turns);
    assert!(snap.counters.turns >= 50, "{:?}", snap.counters);
}

/// The smoke fleet with sessions long enough for conversations to pass the trigger, a prefill
/// that makes prompt length visible in TTFT, `strategy` compressing, and a fixed number of
/// turns, so every strategy is measured over the same work.
fn compressed_run(strategy: &str) -> RunSnapshot {
    compressed_run_with(strategy, Summarizer::Extractive)
}

/// [`compressed_run`] with `summarizer` writing the summaries.
fn compressed_run_with(strategy: &str, summarizer: Summarizer) -> RunSnapshot {
    let mut s = fixture("smoke");
    s.compression.summarizer = summarizer;
    s.session.turns = Dist::Uniform {
        min: Tokens(12),
        max: Tokens(16),
    };
    s.fleet.duration = None;
    s.fleet.max_turns = Some(240);
    s.mock.prefill_per_token = Dur::micros(200);
    s.compression.strategy = strategy.parse().unwrap();
    s.compression.trigger = Trigger::Tokens(1500);
    s.compression.mask_keep_last = 2;
    virtual_run(s)
}

#[test]
fn compression_lowers_prompt_tokens_ttft_and_agent_memory() {
    let none = compressed_run("none");
    let ttft_p50 = |s: &RunSnapshot| s.latency[&MetricKind::Ttft].quantile(0.5);
    let mean_peak_memory = |s: &RunSnapshot| {
        s.agents
            .list
            .iter()
            .map(|a| a.peak_memory_bytes)
            .sum::<u64>()
            / s.agents.count
    };
    // A none-only pipeline never runs (issue 15): no compressions that removed nothing.
    assert_eq!(none.counters.compressions, 0, "{:?}", none.counters);
    assert_eq!(none.counters.compressed_tokens, 0);
    for strategy in ["observation-masking", "window"] {
        let s = compressed_run(strategy);
        let (c, n) = (&s.counters, &none.counters);
        assert!(c.turns >= 240 && n.turns >= 240, "{c:?} {n:?}");
        assert!(
            c.compressions > 0 && c.compressed_tokens > 0,
            "{strategy}: {c:?}"
        );
        assert!(c.tokens_in < n.tokens_in, "{strategy}: {c:?} vs none {n:?}");
        assert!(ttft_p50(&s) < ttft_p50(&none), "{strategy}: TTFT p50");
        assert!(
            s.agents.peak_memory_max_bytes < none.agents.peak_memory_max_bytes
                && mean_peak_memory(&s) < mean_peak_memory(&none),
            "{strategy}: peak memory {} vs none {}",
            s.agents.peak_memory_max_bytes,
            none.agents.peak_memory_max_bytes
        );
        assert!(s.latency[&MetricKind::Compression].count() > 0);
    }
}

#[test]
fn an_llm_summarizer_writes_summaries_through_the_shared_client() {
    let extractive = compressed_run_with("rolling-summary", Summarizer::Extractive);
    let llm = compressed_run_with("rolling-summary", Summarizer::Llm);
    let (e, l) = (&extractive.counters, &llm.counters);
    assert_eq!(e.summaries, 0);
    assert!(l.summaries > 0 && l.summaries <= l.compressions, "{l:?}");
    // The summary calls draw from the agents' RNG, so the runs differ slightly (a turn or
    // two past `max_turns`); per turn, exactly one more call per summary (see `scripted`).
    assert!(l.llm_calls > e.llm_calls, "{l:?} vs {e:?}");
    assert_eq!(l.llm_calls, l.llm_succeeded, "{l:?}");
    assert_eq!(l.turns_failed, 0);
}

#[test]
fn the_compression_fixture_compresses() {
    let mut s = fixture("compression");
    s.fleet.agents = 10;
    s.fleet.ramp_up = Dur::secs(1);
    s.fleet.duration = Some(Dur::secs(60));
    s.targets.min_concurrent_agents = 10;
    let snap = virtual_run(s);
    let c = &snap.counters;
    assert!(c.compressions > 0 && c.compressed_tokens > 0, "{c:?}");
}

fn sharded(mut s: Scenario, shards: u32) -> Scenario {
    s.fleet.shards = shards;
    s
}

#[test]
fn a_sharded_run_is_deterministic_and_runs_the_whole_fleet() {
    let whole = virtual_run(fixture("smoke"));
    let a = virtual_run(sharded(fixture("smoke"), 3));
    let b = virtual_run(sharded(fixture("smoke"), 3));
    assert_eq!(comparable(&a), comparable(&b));
    assert_eq!((a.shards, whole.shards), (3, 1));
    // Every agent ran, in one part each, for the whole duration.
    let ids = |s: &RunSnapshot| s.agents.list.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&whole));
    assert_eq!(ids(&a), (0..20).collect::<Vec<u64>>());
    assert!(a.agents.list.iter().all(|agent| agent.turns > 0));
    assert_eq!(a.simulated_ms, 5000);
    assert_eq!(a.process.agents_alive_peak, 20);
    // Each part is a smaller copy of the fleet: about as much work.
    let (ta, tw) = (a.counters.turns as f64, whole.counters.turns as f64);
    assert!((ta / tw - 1.0).abs() < 0.15, "{ta} turns vs {tw}");
    let c = &a.counters;
    assert_eq!(
        c.llm_calls,
        c.llm_succeeded + a.errors.calls_failed(CallClass::Llm)
    );
    assert_eq!(
        c.tool_calls,
        c.tool_succeeded + a.errors.calls_failed(CallClass::Tool)
    );
    // The histograms are the parts' merged: every turn is in agent_response.
    assert_eq!(
        a.latency[&MetricKind::AgentResponse].count(),
        c.turns + c.turns_failed
    );
}

#[test]
fn a_sharded_open_loop_splits_the_rate_and_ids_stay_unique() {
    let mut s = fixture("smoke");
    s.fleet.arrival = Arrival::Constant;
    s.fleet.rate = Some(Rate(10.0));
    s.fleet.ramp_up = Dur::secs(0);
    s.fleet.duration = Some(Dur::secs(20));
    s.session.turns = Dist::Constant(Tokens(1));
    s.targets.min_concurrent_agents = 1;
    let whole = virtual_run(s.clone());
    let two = virtual_run(sharded(s, 2));
    let started = |s: &RunSnapshot| s.counters.sessions_started;
    assert_eq!(
        started(&two),
        started(&whole),
        "10 a second for 20 s, split or not; the start due at the stop's own tick is not made"
    );
    let mut ids: Vec<u64> = two.agents.list.iter().map(|a| a.id).collect();
    let listed = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), listed, "session ids are unique across parts");
}

#[test]
fn sharded_stop_counts_and_progress_add_up() {
    let mut s = sharded(fixture("smoke"), 2);
    s.fleet.duration = None;
    s.fleet.max_turns = Some(50);
    let snap = virtual_run(s);
    assert_eq!(snap.stop, metrics::StopReason::Turns);
    assert!(snap.counters.turns >= 50, "{:?}", snap.counters);

    // Progress is the sum of the parts: all 20 agents alive once both ramps are done.
    let mut s = sharded(fixture("smoke"), 2);
    s.clock = ClockMode::Virtual;
    let alive = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = alive.clone();
    let options = RunOptions {
        progress: Some(std::sync::Arc::new(move |p: &crate::Progress| {
            seen.fetch_max(p.alive, std::sync::atomic::Ordering::Relaxed);
        })),
        ..RunOptions::default()
    };
    run(&s, |_| ScriptedAgent, options).unwrap();
    assert_eq!(alive.load(std::sync::atomic::Ordering::Relaxed), 20);
}
