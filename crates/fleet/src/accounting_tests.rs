//! Every call and attempt that started is counted with its outcome, under every stop reason
//! and every fault the mock injects (the fault matrix of `docs/metrics.md`, "Counters and
//! accounting"); the mock's own `/stats` is the independent witness of what the clients sent.
//! Virtual clock: each run is a few simulated minutes, a fraction of a second of wall time.

use std::sync::Arc;
use std::time::Duration;

use metrics::{CallClass, ErrorKind, RunSnapshot};
use scenario::{ClockMode, Scenario};
use serde_json::Value;

use crate::{Progress, RunOptions, RunOutcome, ScriptedAgent, run};

/// A small fleet with two providers (failover; the backup speaks the Responses API), two
/// tools, rate limits and breakers. Faults are appended per case.
const BASE: &str = r#"
name = "matrix"
seed = 5
clock = "virtual"

[fleet]
agents = 30
ramp_up = "2s"
duration = "40s"
grace = "3s"

[session]
turns = { dist = "uniform", min = 2, max = 4 }
think_time = { dist = "uniform", min = "200ms", max = "1s" }
user_message_tokens = 40
max_output_tokens = 64

[[llm.providers]]
name = "primary"
base_url = "embedded"
model = "mock-a"
timeout = "2s"
retry = { max_attempts = 3, initial_backoff = "100ms", max_retry_after = "2s" }
limits = { rpm = 900, tpm = 600000, max_in_flight = 16 }
breaker = { min_calls = 10, window = "5s", open_for = "2s", half_open_probes = 2 }

[[llm.providers]]
name = "backup"
base_url = "embedded"
model = "mock-b"
api = "responses"
timeout = "2s"
retry = { max_attempts = 3, initial_backoff = "100ms", max_retry_after = "2s" }
limits = { rpm = 900, tpm = 600000, max_in_flight = 16 }

[tools.search]
args = { query = "string" }
timeout = "1s"
retry = { max_attempts = 2 }
cache = { ttl = "5s", capacity = 100 }
[tools.search.mock]
latency = { dist = "lognormal", median = "50ms", p95 = "300ms" }
response_tokens = 60

[tools.report]
args = { report_id = "id" }
timeout = "1s"
retry = { max_attempts = 1 }
[tools.report.mock]
latency = "100ms"
response_tokens = 30

[mock]
capacity = 16
base_latency = "50ms"
inter_token = "1ms"
output_tokens = 20
tool_call_probability = 0.6
stall_limit = "1h"
"#;

fn scenario(faults: &str) -> Scenario {
    let mut s = Scenario::from_toml(&format!("{BASE}\n{faults}"), "matrix").unwrap();
    s.clock = ClockMode::Virtual;
    s
}

fn fault(endpoint: &str, kind: &str, probability: f64, extra: &str) -> String {
    format!(
        "[[mock.faults]]\nendpoint = \"{endpoint}\"\nkind = \"{kind}\"\nprobability = {probability}\n{extra}\n"
    )
}

fn run_with(s: &Scenario, options: RunOptions) -> RunOutcome {
    s.check("test").unwrap();
    run(s, |_| ScriptedAgent, options).unwrap()
}

fn errors(s: &RunSnapshot, class: CallClass, kind: ErrorKind) -> u64 {
    s.errors
        .calls
        .get(&class)
        .and_then(|m| m.get(&kind))
        .copied()
        .unwrap_or(0)
}

fn attempt_errors(s: &RunSnapshot, class: CallClass) -> u64 {
    s.errors
        .attempts
        .get(&class)
        .map_or(0, |m| m.values().sum())
}

fn sum(observed: &[Value], f: impl Fn(&Value) -> u64) -> u64 {
    observed.iter().map(f).sum()
}

/// The accounting identity, the mock as witness, the end within duration + grace, and the
/// providers' rate limits as the mock saw them.
fn check(name: &str, s: &Scenario, outcome: &RunOutcome) {
    let snap = &outcome.snapshot;
    let c = &snap.counters;
    let failed = |class| snap.errors.calls_failed(class);
    // Logical calls: each started call is a success or one final error by kind (cancelled
    // included), counted independently.
    assert_eq!(
        c.llm_calls,
        c.llm_succeeded + failed(CallClass::Llm),
        "{name}: {c:?}"
    );
    assert_eq!(
        c.tool_calls,
        c.tool_succeeded + failed(CallClass::Tool),
        "{name}: {c:?}"
    );
    // Attempts: the one success of its call or an attempt error (a cache hit makes none).
    assert_eq!(
        c.llm_attempts,
        c.llm_succeeded + attempt_errors(snap, CallClass::Llm),
        "{name}: {c:?} {:?}",
        snap.errors
    );
    assert_eq!(
        c.tool_attempts + c.cache_hits,
        c.tool_succeeded + attempt_errors(snap, CallClass::Tool),
        "{name}: {c:?} {:?}",
        snap.errors
    );
    // The witness: every attempt the clients counted reached the mock, and nothing else did.
    let observed = &outcome.mock_observed;
    assert_eq!(observed.len(), 1, "{name}");
    let requests = |key: &str| sum(observed, |o| o[key].as_u64().unwrap());
    assert_eq!(
        requests("chat_requests") + requests("responses_requests"),
        c.llm_attempts,
        "{name}"
    );
    assert_eq!(requests("tool_requests"), c.tool_attempts, "{name}");
    // The run, grace and the cancellation included, ends within duration + grace (+ the
    // moment cancelled agents get to return), on the mock's clock.
    let limit = s
        .fleet
        .duration
        .map_or(Duration::MAX, |d| d.0)
        .saturating_add(s.fleet.grace.0);
    let uptime = Duration::from_millis(sum(observed, |o| o["uptime_ms"].as_u64().unwrap()));
    assert!(
        uptime <= limit.saturating_add(Duration::from_secs(1)),
        "{name}: ran {uptime:?}, limit {limit:?}"
    );
    // The clients keep to each provider's rpm and tpm as the mock saw them, in every
    // sliding minute.
    for p in &s.llm.providers {
        let seen = &observed[0]["by_model"][&p.model];
        if seen.is_null() {
            continue;
        }
        if let Some(rpm) = p.limits.rpm {
            let max = seen["max_requests_60s"].as_u64().unwrap();
            assert!(
                max <= u64::from(rpm),
                "{name}: {} sent {max} > rpm {rpm}",
                p.name
            );
        }
        if let Some(tpm) = p.limits.tpm {
            let max = seen["max_tokens_60s"].as_u64().unwrap();
            assert!(
                max <= tpm,
                "{name}: {} sent {max} tokens > tpm {tpm}",
                p.name
            );
        }
    }
}

#[test]
fn every_fault_kind_is_accounted_for() {
    let cases = [
        (
            "429 storm",
            fault("chat", "rate-limit", 0.4, "retry_after = \"1s\""),
        ),
        (
            "5xx burst",
            fault(
                "chat",
                "server-error",
                0.8,
                "from = \"10s\"\nuntil = \"20s\"",
            ),
        ),
        ("503", fault("chat", "unavailable", 0.2, "")),
        ("resets", fault("chat", "reset", 0.2, "")),
        ("stalls", fault("chat", "stall", 0.2, "")),
        ("truncated streams", fault("chat", "truncate", 0.2, "")),
        ("malformed streams", fault("chat", "malformed", 0.2, "")),
        (
            "slow first token",
            fault("chat", "slow-first-token", 0.2, "delay = \"3s\""),
        ),
        ("failing tools", fault("tools", "unavailable", 0.3, "")),
        ("resetting tools", fault("tool:search", "reset", 0.3, "")),
        ("stalled tools", fault("tool:report", "stall", 0.3, "")),
    ];
    for (name, faults) in cases {
        let s = scenario(&faults);
        let outcome = run_with(&s, RunOptions::default());
        check(name, &s, &outcome);
        let faults: u64 = outcome.mock_observed[0]["faults"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert!(faults > 0, "{name}: the mock injected nothing");
        assert!(outcome.snapshot.counters.turns > 50, "{name}");
    }
}

#[test]
fn slow_and_failing_tools_are_accounted_for() {
    let mut s = scenario("");
    let report = s.tools.get_mut("report").unwrap();
    report.mock.latency = scenario::Dist::Constant(scenario::Dur::secs(3));
    let search = s.tools.get_mut("search").unwrap();
    search.mock.failure_rate = scenario::Probability(0.3);
    let outcome = run_with(&s, RunOptions::default());
    check("slow and failing tools", &s, &outcome);
    let snap = &outcome.snapshot;
    assert!(snap.counters.tool_timeouts > 0);
    assert!(errors(snap, CallClass::Tool, ErrorKind::Timeout) > 0);
    assert!(snap.counters.tool_calls > snap.counters.tool_succeeded);
}

#[test]
fn a_provider_outage_fails_over_and_the_breaker_moves_as_configured() {
    // The primary answers 503 to everything from 10 s to 25 s.
    let s = scenario(&fault(
        "chat",
        "unavailable",
        1.0,
        "from = \"10s\"\nuntil = \"25s\"\nmodel = \"mock-a\"",
    ));
    let outcome = run_with(&s, RunOptions::default());
    check("outage", &s, &outcome);
    let snap = &outcome.snapshot;
    let primary = snap
        .breakers
        .iter()
        .find(|b| b.target == "llm:primary")
        .unwrap();
    // Open during the outage, probing every `open_for`, closed again after it.
    assert!(primary.opened >= 1, "{primary:?}");
    assert!(primary.half_opened >= 1, "{primary:?}");
    assert!(primary.closed >= 1, "{primary:?}");
    assert_eq!(primary.state, metrics::BreakerState::Closed, "{primary:?}");
    assert!(primary.rejected > 0, "{primary:?}");
    assert!(snap.counters.failovers > 0);
    let backup = &outcome.mock_observed[0]["by_model"]["mock-b"];
    assert!(backup["requests"].as_u64().unwrap() > 0);
    // The backup speaks the Responses API: its requests are counted as such.
    assert_eq!(
        outcome.mock_observed[0]["responses_requests"], backup["requests"],
        "{}",
        outcome.mock_observed[0]
    );
    // The backup took the load: few calls failed for good.
    assert!(
        snap.errors.calls_failed(CallClass::Llm) * 10 < snap.counters.llm_calls,
        "{:?} {:?} {}",
        snap.errors,
        snap.counters,
        serde_json::to_string_pretty(&outcome.mock_observed).unwrap()
    );
}

/// Every fault kind at once, on chat and tools, for the runs under each stop reason.
fn every_fault() -> String {
    [
        fault("chat", "rate-limit", 0.05, "retry_after = \"1s\""),
        fault("chat", "server-error", 0.05, ""),
        fault("chat", "unavailable", 0.05, ""),
        fault("chat", "reset", 0.05, ""),
        fault("chat", "stall", 0.05, ""),
        fault("chat", "truncate", 0.05, ""),
        fault("chat", "malformed", 0.05, ""),
        fault("chat", "slow-first-token", 0.05, "delay = \"2s\""),
        fault("tools", "unavailable", 0.05, ""),
        fault("tools", "reset", 0.05, ""),
        fault("tools", "stall", 0.05, ""),
    ]
    .concat()
}

/// Calls that would hang far past the grace period: the provider's timeout and deadline are
/// long and the mock stalls a third of its answers for an hour; every other fault kind is
/// there too, so each stop reason meets all of them.
fn hanging() -> Scenario {
    let mut s = scenario(&format!(
        "{}{}",
        fault("chat", "stall", 0.3, ""),
        every_fault()
    ));
    for p in &mut s.llm.providers {
        p.timeout = scenario::Dur::secs(600);
        p.deadline = scenario::Dur::secs(900);
    }
    s
}

/// The calls the end of the run cut off are there, as `cancelled`, with their attempts.
fn assert_cancelled(name: &str, snap: &RunSnapshot) {
    let cancelled = errors(snap, CallClass::Llm, ErrorKind::Cancelled);
    assert!(cancelled > 0, "{name}: {:?}", snap.errors);
    // Those on the wire end with a cancelled attempt; the others were waiting (for a pool
    // slot, the limiter or a backoff).
    let on_the_wire = snap.errors.attempts[&CallClass::Llm][&ErrorKind::Cancelled];
    assert!(
        on_the_wire > 0 && on_the_wire <= cancelled,
        "{name}: {:?}",
        snap.errors
    );
    assert_eq!(
        snap.counters.turns_cancelled,
        errors(snap, CallClass::Turn, ErrorKind::Cancelled),
        "{name}"
    );
    assert!(snap.counters.turns_cancelled > 0, "{name}");
}

#[test]
fn calls_in_flight_at_the_end_of_grace_are_cancelled_and_counted_under_every_stop() {
    // Duration.
    let s = hanging();
    let outcome = run_with(&s, RunOptions::default());
    check("duration", &s, &outcome);
    assert_eq!(outcome.snapshot.stop, metrics::StopReason::Duration);
    assert_cancelled("duration", &outcome.snapshot);

    // Turns.
    let mut s = hanging();
    s.fleet.duration = None;
    s.fleet.max_turns = Some(60);
    let outcome = run_with(&s, RunOptions::default());
    check("turns", &s, &outcome);
    assert_eq!(outcome.snapshot.stop, metrics::StopReason::Turns);
    assert_cancelled("turns", &outcome.snapshot);

    // Sessions.
    let mut s = hanging();
    s.fleet.duration = None;
    s.fleet.max_sessions = Some(40);
    let outcome = run_with(&s, RunOptions::default());
    check("sessions", &s, &outcome);
    assert_eq!(outcome.snapshot.stop, metrics::StopReason::Sessions);
    assert_cancelled("sessions", &outcome.snapshot);

    // An interrupt at 15 s.
    let s = hanging();
    let options = RunOptions::default();
    let interrupt = options.interrupt.clone();
    let options = RunOptions {
        progress_every: Duration::from_secs(1),
        progress: Some(Arc::new(move |p: &Progress| {
            if p.elapsed >= Duration::from_secs(15) {
                interrupt.cancel();
            }
        })),
        ..options
    };
    let outcome = run_with(&s, options);
    check("interrupt", &s, &outcome);
    assert_eq!(outcome.snapshot.stop, metrics::StopReason::Interrupted);
    assert_cancelled("interrupt", &outcome.snapshot);
}

#[test]
fn a_sharded_run_accounts_for_every_call_in_every_part() {
    let mut s = hanging();
    s.fleet.shards = 2;
    let outcome = run_with(&s, RunOptions::default());
    let observed = &outcome.mock_observed;
    assert_eq!(observed.len(), 2);
    let c = &outcome.snapshot.counters;
    let chat: u64 = sum(observed, |o| {
        o["chat_requests"].as_u64().unwrap() + o["responses_requests"].as_u64().unwrap()
    });
    assert_eq!(chat, c.llm_attempts);
    assert_eq!(
        c.llm_calls,
        c.llm_succeeded + outcome.snapshot.errors.calls_failed(CallClass::Llm)
    );
    assert_cancelled("sharded", &outcome.snapshot);
}
