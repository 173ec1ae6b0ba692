//! The soak (`BENCH_ONLY=soak`): `fixtures/scenarios/soak.toml`, 2,000 support agents for
//! `SOAK_HOURS` simulated hours (default 24) on the virtual clock, in `SOAK_SHARDS` parts
//! (default 1), run in this process so that the tracking allocator installed by the bench
//! measures the agents' heap.
//!
//! Every simulated hour it prints the run's progress: turns, sessions, agents alive, the live
//! heap of all agents' accounts and the shared heap (from the heap crate), and the process's
//! RSS. At the end it checks, and exits 1 if a check fails:
//!
//! - **memory is flat**: from the end of hour `SOAK_BASELINE_HOUR` (default 2) on, the agents'
//!   heap and the shared heap are within [`TOLERANCE`] of that hour's every hour, and their
//!   trend over the run within [`TREND`] (or [`SLACK`], whichever is larger); and once the
//!   run is over the agents' accounts are back to what they held before it (nothing an agent
//!   allocated outlives it). Why hour 2: the process's token memo (the mock's, bounded at
//!   2^20 entries and cleared when full, its table kept) fills up during the second hour of
//!   this fleet, a one-time step of the shared heap; `SOAK_BASELINE_HOUR=1` shows it. The
//!   agents' heap is each part's own, added from each part's latest reading; the shared heap
//!   is the process's, read when part 0 reaches the hour. In a sharded run the parts' clocks
//!   drift apart, so the last hour (read when another part may have ended and dropped its
//!   share of the shared heap) is left out of the check;
//! - **nothing overflowed**: no histogram value was clamped at the HdrHistogram's highest
//!   trackable value (an hour; `outliers` per metric), no counter is near `u64::MAX`, no
//!   agent's latency sketch near its `u32` bucket counts, and the heap table never ran out of
//!   accounts.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fleet::{Progress, RunOptions, ScriptedAgent};
use metrics::RunSnapshot;

use super::env_or;

/// How far an hour's heap may be from the baseline hour's, as a share of it. The agents' heap
/// is a sample of which agents are in a session and how far in: over the 24 hours of this
/// fleet its hourly figures had a standard deviation of 2.2 % with nothing growing.
const TOLERANCE: f64 = 0.10;
/// How far the least-squares line through the hours may rise or fall over the whole run, as a
/// share of the baseline: what catches a slow leak that no single hour shows.
const TREND: f64 = 0.05;
/// ... or in bytes, whichever is larger (a small figure moves by more than that for nothing).
const SLACK: u64 = 1 << 20;
/// What counts as near the top of a counter: a thousandth of the way from `u64::MAX`.
const COUNTER_HEADROOM: u64 = u64::MAX / 1000;

/// One simulated hour's progress, with what the process looked like then.
#[derive(Clone, Copy, Debug)]
struct Hour {
    progress: Progress,
    /// Resident set size when the progress arrived.
    rss: u64,
    /// Wall time since the run started.
    wall: Duration,
}

/// Runs the soak and checks it: false if memory was not flat or anything overflowed.
pub(crate) fn soak() -> bool {
    let hours: u64 = env_or("SOAK_HOURS", "24")
        .parse()
        .expect("SOAK_HOURS is a whole number of hours, e.g. SOAK_HOURS=3");
    let baseline: u64 = env_or("SOAK_BASELINE_HOUR", "2")
        .parse()
        .expect("SOAK_BASELINE_HOUR is a whole number of hours, e.g. SOAK_BASELINE_HOUR=1");
    let shards: u32 = env_or("SOAK_SHARDS", "1")
        .parse()
        .expect("SOAK_SHARDS is a whole number, e.g. SOAK_SHARDS=2");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scenarios/soak.toml");
    let mut s = scenario::load(std::path::Path::new(path)).expect("soak.toml loads");
    s.fleet.duration = Some(scenario::Dur(Duration::from_secs(hours * 3600)));
    s.fleet.shards = shards;
    s.check(path)
        .expect("SOAK_HOURS and SOAK_SHARDS make a valid scenario");
    println!(
        "soak: {} agents, {hours} simulated hour(s), {shards} shard(s), seed {}; one line per simulated hour",
        s.fleet.agents, s.seed
    );
    println!(
        "{:>4} {:>8} {:>10} {:>9} {:>7} {:>12} {:>11} {:>8} {:>8}",
        "hour", "wall s", "turns", "sessions", "alive", "agents' heap", "shared heap", "RSS", "p95"
    );

    let accounts_before = heap::accounts_live();
    let hours_seen: Arc<Mutex<Vec<Hour>>> = Arc::default();
    let started = Instant::now();
    let seen = hours_seen.clone();
    let options = RunOptions {
        progress: Some(Arc::new(move |p: &Progress| {
            let hour = Hour {
                progress: *p,
                rss: rss(),
                wall: started.elapsed(),
            };
            print_hour(&hour);
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(hour);
        })),
        progress_every: Duration::from_secs(3600),
        ..RunOptions::default()
    };
    let outcome = fleet::run(&s, |_| ScriptedAgent, options).expect("the soak runs");
    let wall = started.elapsed();
    let hours_seen = hours_seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let snap = &outcome.snapshot;
    let turns = snap.counters.turns;
    println!(
        "\n{turns} turns, {} sessions in {:.0} s wall, {:.0} s CPU ({:.0} turns a wall second; {:.1} simulated hours a wall minute)",
        snap.counters.sessions_started,
        wall.as_secs_f64(),
        snap.process.cpu_time_ms as f64 / 1000.0,
        turns as f64 / wall.as_secs_f64(),
        hours as f64 / wall.as_secs_f64() * 60.0,
    );
    println!(
        "peak RSS {}, shared heap peak {}, agent response p95 {:.1} s, error rate {:.3} %",
        mib(snap.process.peak_rss_bytes),
        mib(snap.process.shared_heap_peak_bytes),
        snap.latency
            .get(&metrics::MetricKind::AgentResponse)
            .map_or(0.0, |h| h.quantile(0.95).as_secs_f64()),
        snap.error_rate.unwrap_or(0.0) * 100.0,
    );

    // The shared heap is the process's, read at part 0's hour. Parts keep their own clocks:
    // by part 0's last hour another part may have finished and dropped its share of it.
    let checked = if shards > 1 {
        println!("sharded: the last hour's heap is not checked (another part may have ended)");
        &hours_seen[..hours_seen.len().saturating_sub(1)]
    } else {
        &hours_seen[..]
    };
    let mut failures = flat(checked, baseline);
    let left = heap::accounts_live().saturating_sub(accounts_before);
    println!(
        "after the run: the agents' accounts hold {left} bytes more than before it; shared heap {}",
        mib(heap::shared_usage().live)
    );
    if left > 0 {
        failures.push(format!("{left} bytes charged to agents outlived them"));
    }
    failures.extend(overflows(snap));
    if failures.is_empty() {
        println!("soak: PASS (memory flat, nothing overflowed)");
        true
    } else {
        for f in &failures {
            println!("soak: FAIL: {f}");
        }
        false
    }
}

fn print_hour(h: &Hour) {
    let p = &h.progress;
    println!(
        "{:>4} {:>8.1} {:>10} {:>9} {:>7} {:>12} {:>11} {:>8} {:>6.1} s",
        p.elapsed.as_secs() / 3600,
        h.wall.as_secs_f64(),
        p.turns,
        p.sessions_completed,
        p.alive,
        mib(p.agents_heap),
        mib(p.shared_heap),
        mib(h.rss),
        p.p95.as_secs_f64(),
    );
}

/// Whether memory is flat from the baseline hour on: every hour's heap within [`TOLERANCE`]
/// of the baseline's, and the least-squares trend over those hours within [`TREND`] of it over
/// the whole span. What is not, as failures.
fn flat(hours: &[Hour], baseline_hour: u64) -> Vec<String> {
    let from: Vec<&Hour> = hours
        .iter()
        .filter(|h| h.progress.elapsed.as_secs() / 3600 >= baseline_hour)
        .collect();
    let Some(first) = from.first() else {
        return vec![format!(
            "no hourly progress at or after hour {baseline_hour} (SOAK_HOURS too small?)"
        )];
    };
    let mut failures = Vec::new();
    type Figure = fn(&Progress) -> u64;
    let figures: [(&str, Figure); 2] = [
        ("agents' heap", |p| p.agents_heap),
        ("shared heap", |p| p.shared_heap),
    ];
    for (name, figure) in figures {
        let base = figure(&first.progress);
        let allowed = ((base as f64 * TOLERANCE) as u64).max(SLACK);
        let points: Vec<(f64, f64)> = from
            .iter()
            .map(|h| {
                let hour = h.progress.elapsed.as_secs_f64() / 3600.0;
                (hour, figure(&h.progress) as f64 - base as f64)
            })
            .collect();
        let worst = points
            .iter()
            .map(|p| p.1)
            .fold(0.0_f64, |w, d| if d.abs() > w.abs() { d } else { w });
        let span = points.last().map_or(0.0, |p| p.0) - points[0].0;
        let trend = slope(&points) * span;
        println!(
            "{name}: hour {baseline_hour} (baseline) {}, last hour {}; worst hour {:+.1} % (allowed ±{:.0} % or {}), trend {:+.1} % over {span:.0} h (allowed ±{:.0} %)",
            mib(base),
            mib(figure(&from[from.len() - 1].progress)),
            percent(worst, base),
            TOLERANCE * 100.0,
            mib(SLACK),
            percent(trend, base),
            TREND * 100.0,
        );
        for (h, (_, d)) in from.iter().zip(&points) {
            if d.abs() > allowed as f64 {
                failures.push(format!(
                    "{name} at hour {} is {} against {} at hour {baseline_hour}",
                    h.progress.elapsed.as_secs() / 3600,
                    mib(figure(&h.progress)),
                    mib(base),
                ));
            }
        }
        if trend.abs() > (base as f64 * TREND).max(SLACK as f64) {
            failures.push(format!(
                "{name} trends by {:+.1} MiB over {span:.0} hours",
                trend / f64::from(1 << 20)
            ));
        }
    }
    failures
}

/// The least-squares slope of `points` (0 for fewer than two).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(sxy, sxx), p| {
        (sxy + (p.0 - mx) * (p.1 - my), sxx + (p.0 - mx) * (p.0 - mx))
    });
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

/// What saturated or came near to: clamped histogram values, counters, per-agent sketches,
/// the heap table.
fn overflows(snap: &RunSnapshot) -> Vec<String> {
    let mut failures = Vec::new();
    let clamped: u64 = snap.latency.values().map(|h| h.outliers()).sum();
    let samples: u64 = snap.latency.values().map(|h| h.count()).sum();
    let (largest, count) = snap
        .latency
        .iter()
        .map(|(k, h)| (k.as_str(), h.count()))
        .max_by_key(|(_, n)| *n)
        .unwrap_or(("none", 0));
    println!(
        "histograms: {samples} samples, {clamped} clamped at the highest trackable value (1 h); the largest, {largest}, holds {count}"
    );
    for (kind, h) in &snap.latency {
        if h.outliers() > 0 {
            failures.push(format!(
                "{} of {} `{}` samples were above an hour and clamped",
                h.outliers(),
                h.count(),
                kind.as_str()
            ));
        }
    }
    let counters = serde_json::to_value(&snap.counters).expect("counters serialize");
    let (name, top) = counters
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
        .max_by_key(|(_, v)| *v)
        .unwrap_or_default();
    println!(
        "counters: the largest, {name}, is {top} ({:.1e} of u64::MAX)",
        top as f64 / u64::MAX as f64
    );
    if top > u64::MAX - COUNTER_HEADROOM {
        failures.push(format!("counter {name} is {top}, near u64::MAX"));
    }
    let busiest = snap.agents.list.iter().map(|a| a.turns).max().unwrap_or(0);
    println!(
        "per-agent sketches: the busiest agent has {busiest} turns (a bucket counts to {})",
        u32::MAX
    );
    if busiest > u64::from(u32::MAX) / 2 {
        failures.push(format!(
            "an agent has {busiest} turns, near its sketch's u32 bucket count"
        ));
    }
    let table = heap::stats();
    println!(
        "heap table: {} accounts opened, {} without a slot",
        table.accounts_opened, table.overflowed_accounts
    );
    if table.overflowed_accounts > 0 {
        failures.push(format!(
            "{} heap accounts had no slot (charged to shared)",
            table.overflowed_accounts
        ));
    }
    failures
}

/// The process's resident set size now (`VmRSS`), bytes; 0 where `/proc` is missing.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

fn percent(delta: f64, base: u64) -> f64 {
    delta / base.max(1) as f64 * 100.0
}
