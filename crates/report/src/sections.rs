//! What the human-readable reports say, as lines and [`Table`]s; `terminal` and `markdown`
//! lay the same content out for their medium.

use std::collections::BTreeMap;

use metrics::figures::PERCENTILES;
use metrics::{
    CallClass, ErrorKind, MemoryMethod, PARTS, RunSnapshot, SaturationReason, StopReason,
};

use crate::readable::{self, count};
use crate::table::{Align, Table};

/// How many of the worst agents the Markdown report lists.
pub(crate) const WORST_AGENTS: usize = 10;

/// `scenario smoke, virtual clock, seed 42, …`: what ran and how it stopped.
pub(crate) fn header(s: &RunSnapshot) -> String {
    let shards = if s.shards > 1 {
        format!(" in {} shards", s.shards)
    } else {
        String::new()
    };
    format!(
        "scenario {}, {} clock{shards}, seed {}, {} simulated, stop: {}, {} agents alive at peak",
        s.scenario,
        s.clock,
        s.seed,
        readable::clock(s.simulated_ms),
        s.stop,
        count(s.process.agents_alive_peak)
    )
}

/// One row per target: measured, limit, PASS/FAIL and the note.
pub(crate) fn targets(s: &RunSnapshot) -> Table {
    let mut t = Table::new(&[
        ("target", Align::Left),
        ("measured", Align::Right),
        ("limit", Align::Right),
        ("result", Align::Left),
        ("note", Align::Left),
    ]);
    for v in &s.targets {
        t.row(vec![
            v.target.to_string(),
            readable::measured(v),
            readable::limit(v),
            if v.passed { "PASS" } else { "FAIL" }.to_owned(),
            v.note.clone().unwrap_or_default(),
        ]);
    }
    t
}

/// One row per latency metric that saw a value, in the metrics' declared order, with the
/// points compared ([`PERCENTILES`]).
pub(crate) fn latency(s: &RunSnapshot) -> Table {
    let mut columns = vec![("metric", Align::Left), ("count", Align::Right)];
    columns.extend(PERCENTILES.iter().map(|p| (p.label, Align::Right)));
    let mut t = Table::new(&columns);
    // `latency` is a BTreeMap keyed by the metric enum, so this is the enum's order:
    // agent_response, llm_call, llm_attempt, ttft, inter_token, tool_call, ….
    for (metric, h) in s.latency.iter().filter(|(_, h)| h.count() > 0) {
        let mut row = vec![metric.as_str().to_owned(), count(h.count())];
        row.extend(PERCENTILES.iter().map(|p| readable::duration(p.of(h))));
        t.row(row);
    }
    t
}

/// Counts: name, value, detail.
pub(crate) fn counters(s: &RunSnapshot) -> Table {
    let c = &s.counters;
    let mut t = Table::new(&[
        ("counter", Align::Left),
        ("value", Align::Right),
        ("detail", Align::Left),
    ]);
    let lookups = c.cache_hits + c.cache_misses;
    let hit_rate = if lookups == 0 {
        "-".to_owned()
    } else {
        readable::percent(c.cache_hits as f64 / lookups as f64)
    };
    let mut rows: Vec<(&str, String, String)> = vec![
        (
            "turns",
            count(c.turns),
            format!(
                "{} failed, {} cancelled, {} on target",
                count(c.turns_failed),
                count(c.turns_cancelled),
                count(c.turns_on_target)
            ),
        ),
        (
            "llm calls",
            count(c.llm_calls),
            format!(
                "{} succeeded, {} attempts",
                count(c.llm_succeeded),
                count(c.llm_attempts)
            ),
        ),
        (
            "tool calls",
            count(c.tool_calls),
            format!(
                "{} succeeded, {} attempts, {} timed out",
                count(c.tool_succeeded),
                count(c.tool_attempts),
                count(c.tool_timeouts)
            ),
        ),
        (
            "retries",
            count(c.retries),
            "attempts after the first".to_owned(),
        ),
        ("tokens in", count(c.tokens_in), String::new()),
        ("tokens out", count(c.tokens_out), String::new()),
        (
            "tool cache hit rate",
            hit_rate,
            format!(
                "{} hits, {} misses",
                count(c.cache_hits),
                count(c.cache_misses)
            ),
        ),
        ("failovers", count(c.failovers), String::new()),
        (
            "breaker rejections",
            count(c.breaker_rejections),
            String::new(),
        ),
        (
            "sessions",
            count(c.sessions_started),
            format!("{} completed", count(c.sessions_completed)),
        ),
        (
            "late starts",
            count(c.late_starts),
            "open loop: no agent slot free in time".to_owned(),
        ),
        (
            "dropped starts",
            count(c.dropped_starts),
            "open loop: too many already waiting".to_owned(),
        ),
        (
            "compressions",
            count(c.compressions),
            format!(
                "{} prompt tokens removed, {} summaries written by the LLM",
                count(c.compressed_tokens),
                count(c.summaries)
            ),
        ),
    ];
    // Offload's figures, shown only when a fleet offloaded or recalled.
    if c.recalls > 0 {
        rows.push((
            "recalls",
            count(c.recalls),
            format!(
                "{} tokens brought back from the cold stores",
                count(c.recalled_tokens)
            ),
        ));
    }
    if c.cold_raw_bytes > 0 {
        rows.push((
            "cold stores",
            readable::bytes(c.cold_bytes as f64),
            format!(
                "{} before compression, {:.2}x",
                readable::bytes(c.cold_raw_bytes as f64),
                c.cold_raw_bytes as f64 / c.cold_bytes.max(1) as f64
            ),
        ));
    }
    for (name, value, detail) in rows {
        t.row(vec![name.to_owned(), value, detail]);
    }
    t
}

/// Errors by class and kind: final errors of logical calls and failed attempts. Empty when
/// nothing failed.
pub(crate) fn errors(s: &RunSnapshot) -> Table {
    let mut t = Table::new(&[
        ("class", Align::Left),
        ("kind", Align::Left),
        ("calls", Align::Right),
        ("attempts", Align::Right),
    ]);
    for class in CallClass::ALL {
        for kind in ErrorKind::ALL {
            let calls = errors_of(&s.errors.calls, class, kind);
            let attempts = errors_of(&s.errors.attempts, class, kind);
            if calls > 0 || attempts > 0 {
                t.row(vec![
                    class.as_str().to_owned(),
                    kind.as_str().to_owned(),
                    count(calls),
                    count(attempts),
                ]);
            }
        }
    }
    t
}

/// Errors of `class` and `kind` in `map`.
fn errors_of(
    map: &BTreeMap<CallClass, BTreeMap<ErrorKind, u64>>,
    class: CallClass,
    kind: ErrorKind,
) -> u64 {
    map.get(&class)
        .and_then(|kinds| kinds.get(&kind))
        .copied()
        .unwrap_or(0)
}

/// `slowest 5% of turns (>= 1.9 s, …): bottleneck pool_wait 62 %`.
pub(crate) fn tail_headline(s: &RunSnapshot) -> String {
    let b = &s.breakdown;
    if b.turns == 0 {
        return "slowest 5% of turns: no turn finished".to_owned();
    }
    let bottleneck = match &b.bottleneck {
        Some(name) => {
            let share = b.parts.get(name).map_or(0.0, |p| p.share);
            format!("bottleneck {name} {}", readable::percent(share))
        }
        None => "no part took measurable time".to_owned(),
    };
    format!(
        "slowest 5% of turns (>= {}, {} turns, mean {}): {bottleneck}",
        readable::ms(b.threshold_ms),
        count(b.turns),
        readable::ms(b.mean_response_ms)
    )
}

/// The parts of the slowest turns that took time, in the breakdown's order.
pub(crate) fn tail_parts(s: &RunSnapshot) -> Table {
    let mut t = Table::new(&[
        ("part", Align::Left),
        ("mean", Align::Right),
        ("share", Align::Right),
    ]);
    let known = PARTS.iter().copied();
    let others = s
        .breakdown
        .parts
        .keys()
        .map(String::as_str)
        .filter(|k| !PARTS.contains(k));
    for name in known.chain(others) {
        if let Some(p) = s.breakdown.parts.get(name).filter(|p| p.mean_ms > 0.0) {
            t.row(vec![
                name.to_owned(),
                readable::ms(p.mean_ms),
                readable::percent(p.share),
            ]);
        }
    }
    t
}

/// `2,000 agents, 1,990 with turns: 97.5 % meeting all targets; …`.
pub(crate) fn agents(s: &RunSnapshot) -> String {
    let a = &s.agents;
    format!(
        "{} agents, {} with turns: {} meeting all targets; response p95 median {}, worst {}",
        count(a.count),
        count(a.with_turns),
        readable::percent(a.meeting_all_targets),
        readable::ms(a.response_p95_median_ms),
        readable::ms(a.response_p95_max_ms),
    )
}

/// `memory per agent (heap, by the allocator): p50 …, p95 …, max … (agents 13, 19); …`.
pub(crate) fn memory(s: &RunSnapshot) -> String {
    let a = &s.agents;
    let method = match a.memory_method {
        MemoryMethod::Allocator => "heap, by the tracking allocator",
        MemoryMethod::Structural => "structural size of agent state; no tracking allocator",
    };
    let worst: Vec<String> = a.worst_memory.iter().map(|w| w.id.to_string()).collect();
    let mut line = format!(
        "memory per agent ({method}): p50 {}, p95 {}, max {}",
        readable::bytes(a.peak_memory_p50_bytes as f64),
        readable::bytes(a.peak_memory_p95_bytes as f64),
        readable::bytes(a.peak_memory_max_bytes as f64),
    );
    if !worst.is_empty() {
        line.push_str(&format!(" (largest: agent {})", worst.join(", ")));
    }
    line.push_str(&format!(
        "; {} held by all agents after their last turns",
        readable::bytes(a.final_memory_total_bytes as f64)
    ));
    if a.memory_method == MemoryMethod::Allocator {
        line.push_str(&format!(
            "; shared heap peak {}",
            readable::bytes(s.process.shared_heap_peak_bytes as f64)
        ));
    }
    line.push_str(&format!(
        "; process peak RSS {}",
        readable::bytes(s.process.peak_rss_bytes as f64)
    ));
    line
}

/// The agents with turns with the highest response p95 (ties by id), at most `n`.
pub(crate) fn worst_agents(s: &RunSnapshot, n: usize) -> Table {
    let mut t = Table::new(&[
        ("agent", Align::Right),
        ("turns", Align::Right),
        ("errors", Align::Right),
        ("p50", Align::Right),
        ("p95", Align::Right),
        ("max", Align::Right),
        ("peak memory", Align::Right),
        ("conversation", Align::Right),
        ("met targets", Align::Left),
    ]);
    let mut list: Vec<_> = s.agents.list.iter().filter(|a| a.turns > 0).collect();
    list.sort_by(|a, b| {
        b.response_p95_ms
            .total_cmp(&a.response_p95_ms)
            .then(a.id.cmp(&b.id))
    });
    for a in list.into_iter().take(n) {
        t.row(vec![
            a.id.to_string(),
            count(a.turns),
            count(a.errors),
            readable::ms(a.response_p50_ms),
            readable::ms(a.response_p95_ms),
            readable::ms(a.response_max_ms),
            readable::bytes(a.peak_memory_bytes as f64),
            format!("{} tokens", count(a.conversation_tokens)),
            if a.met_all_targets { "yes" } else { "no" }.to_owned(),
        ]);
    }
    t
}

/// Circuit breakers at the end of the run.
pub(crate) fn breakers(s: &RunSnapshot) -> Table {
    let mut t = Table::new(&[
        ("breaker", Align::Left),
        ("state", Align::Left),
        ("opened", Align::Right),
        ("half-opened", Align::Right),
        ("closed", Align::Right),
        ("rejected", Align::Right),
    ]);
    for b in &s.breakers {
        t.row(vec![
            b.target.clone(),
            b.state.to_string(),
            count(b.opened),
            count(b.half_opened),
            count(b.closed),
            count(b.rejected),
        ]);
    }
    t
}

/// `goodput 16.5 turns/s within the response target, error rate 0.05 %`.
pub(crate) fn goodput(s: &RunSnapshot) -> String {
    let rate = s
        .error_rate
        .map_or_else(|| "- (no calls)".to_owned(), readable::percent);
    format!(
        "goodput {} turns/s within the response target, error rate {rate}",
        s.goodput_turns_per_s
    )
}

/// The process's figures (machine-dependent); for a run merged from parts, the parts'
/// added, how many ran where, how together they started, and the parts missing.
pub(crate) fn process(s: &RunSnapshot) -> String {
    let p = &s.process;
    let mut line = format!(
        "process: peak RSS {}, CPU {}, wall {}, {} open files at the end",
        readable::bytes(p.peak_rss_bytes as f64),
        readable::ms(p.cpu_time_ms as f64),
        readable::clock(p.wall_time_ms),
        count(p.open_files)
    );
    if !p.parts.is_empty() {
        let mut hosts: Vec<&str> = p.parts.iter().map(|q| q.host.as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        line += &format!(
            " (the sum of {} parts' processes on {} host{}",
            p.parts.len(),
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        );
        if let Some(spread) = p.start_spread_ms {
            line += &format!(", started within {}", readable::ms(spread as f64));
        }
        line += ")";
    }
    if !s.missing_parts.is_empty() {
        let missing: Vec<String> = s.missing_parts.iter().map(u32::to_string).collect();
        line += &format!(
            "; MISSING parts {} of {}: the figures are the other parts' alone",
            missing.join(", "),
            s.shards
        );
    }
    line
}

/// `harness: scheduler lag p99 1.1 ms (max 4 ms over 1,000 wake-ups every 10 ms), cpu 45 %
/// of 2 cores (busiest 1 s: 62 %)`: the live clock's probe of the harness itself; `None`
/// without one (the virtual clock).
pub(crate) fn harness(s: &RunSnapshot) -> Option<String> {
    let h = s.harness.as_ref()?;
    let lag = match (h.scheduler_lag_p99_ms, h.scheduler_lag_max_ms) {
        (Some(p99), Some(max)) => format!(
            "scheduler lag p99 {} (max {} over {} wake-ups every {})",
            readable::ms(p99),
            readable::ms(max),
            count(h.scheduler_lag_samples),
            readable::ms(h.probe_interval_ms)
        ),
        _ => "scheduler lag not measured (the run was shorter than one probe)".to_owned(),
    };
    Some(format!(
        "harness: {lag}, cpu {} of {} cores (busiest {}: {}){}",
        readable::percent(h.cpu_utilisation),
        h.cores,
        readable::clock(h.cpu_window_ms),
        readable::percent(h.cpu_utilisation_peak),
        if h.saturated { ": saturated" } else { "" }
    ))
}

/// `harness saturated: scheduler lag p99 38 ms > 10 ms — latencies measure the harness; …`
/// naming each figure over its threshold; `None` when the harness was not saturated.
pub(crate) fn saturation_warning(s: &RunSnapshot) -> Option<String> {
    let h = s.harness.as_ref().filter(|h| h.saturated)?;
    let figures: Vec<String> = h
        .reasons
        .iter()
        .map(|reason| match reason {
            SaturationReason::SchedulerLag => format!(
                "scheduler lag p99 {} > {}",
                h.scheduler_lag_p99_ms
                    .map_or_else(|| "-".to_owned(), readable::ms),
                readable::ms(h.thresholds.scheduler_lag_p99_ms)
            ),
            SaturationReason::Cpu => format!(
                "cpu {} of {} cores > {}",
                readable::percent(h.cpu_utilisation),
                h.cores,
                readable::percent(h.thresholds.cpu_utilisation)
            ),
        })
        .collect();
    Some(format!(
        "harness saturated: {} — latencies measure the harness; use fewer agents per process or more cores",
        figures.join(", ")
    ))
}

/// Whether the run passed: every target met, over the whole run (an interrupted run is never
/// a pass, whatever it measured before the stop).
pub(crate) fn passed(s: &RunSnapshot) -> bool {
    s.passed && s.targets.iter().all(|v| v.passed) && s.stop != StopReason::Interrupted
}

/// `PASS: all 6 targets met` or `FAIL: 2 of 6 targets missed: a, b`; an interrupted run's is
/// `NOT A PASS: interrupted before its end; over the time it ran, ...`.
pub(crate) fn verdict(s: &RunSnapshot) -> String {
    let total = s.targets.len();
    let missed: Vec<String> = s
        .targets
        .iter()
        .filter(|v| !v.passed)
        .map(|v| v.target.to_string())
        .collect();
    let (word, detail) = if s.passed && missed.is_empty() {
        ("PASS", format!("all {total} targets met"))
    } else if missed.is_empty() {
        (
            "FAIL",
            format!("the run is marked failed although all {total} targets were met"),
        )
    } else {
        (
            "FAIL",
            format!(
                "{} of {total} targets missed: {}",
                missed.len(),
                missed.join(", ")
            ),
        )
    };
    if s.stop == StopReason::Interrupted {
        format!("NOT A PASS: interrupted before its end; over the time it ran, {detail}")
    } else {
        format!("{word}: {detail}")
    }
}

#[cfg(test)]
#[path = "sections_tests.rs"]
mod tests;
