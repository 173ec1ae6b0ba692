//! Whole-fleet figures, measured by running the `fleetbench` binary on the embedded default
//! scenario and reading its `report.json` (each run in its own process, so peak RSS is that
//! run's):
//!
//! 1. Virtual clock: simulated turns per wall-clock second, and how long an hour of simulated
//!    time for `BENCH_VIRTUAL_AGENTS` agents (default 10,000) takes, extrapolated from a
//!    `BENCH_VIRTUAL_SIM`-long run (default 120 s of simulated time), on the default scenario
//!    scaled as below, for each of `BENCH_SHARDS` (default "1,2": one thread, and the fleet
//!    in two parts on two threads).
//! 2. Live clock, growing fleets (`BENCH_AGENTS`, default "2000,4000,6000,8000,12000") for
//!    `BENCH_SECS` each (default 30): agent response p95 next to the same fleet under the
//!    virtual clock (the latency model's own answer, no harness overhead), error rate, CPU,
//!    peak RSS, and memory per agent. The mock's capacity and the provider's in-flight bound
//!    grow with the fleet (a quarter of the agents each, 500 for the default 2,000), so the
//!    modelled latency stays the same and only the harness is loaded more. A fleet is
//!    **held** when its live p95 is within 10 % of the virtual p95 and its error rate below
//!    0.1 %: beyond that, the harness (or the two cores) is part of what is measured.
//!
//! 3. Heap tracking on and off (`FLEETBENCH_HEAP=off`): virtual-clock wall time and live CPU
//!    time of the same fleet (`BENCH_HEAP_AGENTS`, default 2,000), best of
//!    `BENCH_HEAP_REPEAT`.
//!
//! 4. The floor under the virtual clock (`BENCH_ONLY=floor`, part of `virtual`): the same
//!    number of tasks doing nothing but sleeping `BENCH_FLOOR_SLEEPS` times a turn (default
//!    "6,12") on one paused current-thread runtime, turns lasting 4.2 s as the default
//!    scenario's do: what tokio's timer and wake-ups alone cost an hour of such a fleet; and
//!    the default scenario with one-token texts (the clients, mock, metrics and agent loop
//!    without text).
//!
//! 5. The soak (`BENCH_ONLY=soak`, not part of `all`): `fixtures/scenarios/soak.toml`, 2,000
//!    agents for `SOAK_HOURS` simulated hours (default 24) in `SOAK_SHARDS` parts (default 1),
//!    run in this process with progress every simulated hour; checks that memory is flat and
//!    nothing overflowed, and exits 1 if not (`soak.rs`).
//!
//! 6. Virtual speed, before and after (`BENCH_ONLY=speed`, not part of `all`): this build
//!    and the build `BENCH_BEFORE` names, interleaved (`speed.rs`).
//!
//! `cargo bench --bench fleet` (one part: `BENCH_ONLY=virtual|floor|live|heap|soak|speed`)

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[path = "fleet/soak.rs"]
mod soak;
#[path = "fleet/speed.rs"]
mod speed;

/// The soak measures agents' heap in this process, as the `fleetbench` binary does in its
/// own. The other parts run the binary (or, the floor, tasks that allocate once each and then
/// only sleep), so it leaves their figures alone.
#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use serde_json::Value;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Runs `fleetbench run` with `args` and returns its report and the wall time.
fn run(args: &[&str], out: &Path) -> (Value, f64) {
    run_with(args, out, &[])
}

/// [`run`] with extra environment variables.
fn run_with(args: &[&str], out: &Path, env: &[(&str, &str)]) -> (Value, f64) {
    run_bin(env!("CARGO_BIN_EXE_fleetbench"), args, out, env)
}

/// [`run_with`] of the `fleetbench` binary at `bin`.
fn run_bin(bin: &str, args: &[&str], out: &Path, env: &[(&str, &str)]) -> (Value, f64) {
    let started = Instant::now();
    let status = Command::new(bin)
        .envs(env.iter().copied())
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("fleetbench runs");
    let wall = started.elapsed().as_secs_f64();
    assert!(
        status.code().is_some_and(|c| c == 0 || c == 1),
        "fleetbench failed: {status}"
    );
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json is written");
    (
        serde_json::from_str(&text).expect("the report is JSON"),
        wall,
    )
}

/// `run`'s arguments for `agents` agents of `file` on the virtual clock for 120 s.
fn virtual_120s<'a>(file: &'a str, agents: &'a str) -> [&'a str; 7] {
    [
        file,
        "--clock",
        "virtual",
        "--agents",
        agents,
        "--duration",
        "120s",
    ]
}

fn p95_ms(r: &Value) -> f64 {
    r["latency"]["agent_response"]["p95_ms"]
        .as_f64()
        .unwrap_or(0.0)
}

fn virtual_speed(dir: &Path) {
    let agents = env_or("BENCH_VIRTUAL_AGENTS", "10000");
    let sim = env_or("BENCH_VIRTUAL_SIM", "120s");
    let file = scaled_scenario(
        dir,
        agents.parse().expect("BENCH_VIRTUAL_AGENTS is a number"),
    );
    let file = file.to_str().unwrap();
    for shards in env_or("BENCH_SHARDS", "1,2").split(',') {
        let args = [
            file,
            "--clock",
            "virtual",
            "--agents",
            &agents,
            "--duration",
            &sim,
            "--shards",
            shards,
        ];
        let (r, wall) = run(&args, &dir.join(format!("virtual-{shards}")));
        let turns = r["counters"]["turns"].as_u64().unwrap_or(0);
        let simulated = r["simulated_ms"].as_f64().unwrap_or(0.0) / 1000.0;
        println!("virtual clock, {agents} agents, {simulated:.0} s simulated, {shards} shard(s):");
        println!(
            "  {turns} turns in {wall:.1} s wall: {:.0} turns/s, {:.1} simulated s per wall s; an hour would take {:.0} s",
            turns as f64 / wall,
            simulated / wall,
            wall * 3600.0 / simulated
        );
        println!(
            "  peak RSS {:.0} MB, agent response p95 {:.0} ms, error rate {}",
            r["process"]["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1e6,
            p95_ms(&r),
            r["error_rate"]
        );
    }
}

/// The default scenario with the mock's capacity and the in-flight bound scaled to `agents`.
fn scaled_scenario(dir: &Path, agents: u32) -> std::path::PathBuf {
    let default = include_str!("../fixtures/scenarios/default.toml");
    let slots = (agents / 4).max(1);
    let text = default
        .replace("capacity = 512", &format!("capacity = {slots}"))
        .replace("max_in_flight = 512", &format!("max_in_flight = {slots}"));
    assert_ne!(
        text, default,
        "default.toml sets capacity and max_in_flight to 512"
    );
    let path = dir.join(format!("scaled-{agents}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn live_fleets(dir: &Path) {
    let secs = env_or("BENCH_SECS", "30");
    let duration = format!("{secs}s");
    println!("\nlive clock, {duration} each (ramp-up a third of it):");
    println!(
        "{:>7} {:>9} {:>11} {:>10} {:>9} {:>8} {:>9} {:>10} {:>6}",
        "agents", "turns", "p95 live", "p95 virt", "errors", "CPU %", "RSS MB", "KB/agent", "held"
    );
    let mut last: Option<(f64, f64)> = None;
    for agents in env_or("BENCH_AGENTS", "2000,4000,6000,8000,12000").split(',') {
        let n: f64 = agents.parse().unwrap();
        let file = scaled_scenario(dir, agents.parse().unwrap());
        let file = file.to_str().unwrap();
        let args = [file, "--agents", agents, "--duration", &duration];
        let (live, _) = run(&args, &dir.join(format!("live-{agents}")));
        let (virt, _) = run(
            &[&args[..], &["--clock", "virtual"]].concat(),
            &dir.join(format!("virt-{agents}")),
        );
        let rss = live["process"]["peak_rss_bytes"].as_f64().unwrap_or(0.0);
        let cpu = live["process"]["cpu_time_ms"].as_f64().unwrap_or(0.0);
        let wall = live["process"]["wall_time_ms"].as_f64().unwrap_or(1.0);
        let errors = live["error_rate"].as_f64().unwrap_or(0.0);
        let held = p95_ms(&live) <= p95_ms(&virt) * 1.1 && errors < 0.001;
        // Memory per agent: the marginal RSS between consecutive fleet sizes, which leaves out
        // the process's fixed cost (runtime, tokenizer tables, the mock).
        let per_agent = last.map_or(rss / n, |(n0, rss0)| (rss - rss0) / (n - n0));
        last = Some((n, rss));
        println!(
            "{:>7} {:>9} {:>8.0} ms {:>7.0} ms {:>8.3}% {:>8.0} {:>9.0} {:>10.1} {:>6}",
            agents,
            live["counters"]["turns"],
            p95_ms(&live),
            p95_ms(&virt),
            errors * 100.0,
            cpu / wall * 100.0,
            rss / 1e6,
            per_agent / 1e3,
            if held { "yes" } else { "no" }
        );
    }
}

/// The cost of per-agent heap tracking on whole fleets: the same runs with the tracking
/// allocator on (the default) and off (`FLEETBENCH_HEAP=off`: every call goes straight to the
/// system allocator), each `BENCH_HEAP_REPEAT` times (default 3), best wall time kept.
fn heap_overhead(dir: &Path) {
    let repeat: usize = env_or("BENCH_HEAP_REPEAT", "3").parse().unwrap();
    let agents = env_or("BENCH_HEAP_AGENTS", "2000");
    let file = scaled_scenario(dir, agents.parse().unwrap());
    let file = file.to_str().unwrap();
    println!("\nheap tracking on and off, {agents} agents, best of {repeat}:");
    println!(
        "{:<32} {:>10} {:>10} {:>9} {:>10} {:>9}",
        "run", "tracking", "off", "cost", "p95 on", "p95 off"
    );
    let cases: [(&str, Vec<&str>); 2] = [
        (
            "virtual, 60 s simulated (wall s)",
            vec![
                file,
                "--agents",
                &agents,
                "--clock",
                "virtual",
                "--duration",
                "60s",
            ],
        ),
        (
            "live, 30 s (CPU s)",
            vec![file, "--agents", &agents, "--duration", "30s"],
        ),
    ];
    for (name, args) in cases {
        let live = !args.contains(&"virtual");
        let mut best = [(f64::MAX, 0.0); 2];
        for (i, env) in [&[][..], &[("FLEETBENCH_HEAP", "off")][..]]
            .iter()
            .enumerate()
        {
            for n in 0..repeat {
                let (r, wall) = run_with(&args, &dir.join(format!("heap-{i}-{n}")), env);
                let method = r["agents"]["memory_method"].as_str().unwrap_or("");
                assert_eq!(method, if i == 0 { "allocator" } else { "structural" });
                // Live runs last as long either way: their cost shows in CPU time.
                let cost = if live {
                    r["process"]["cpu_time_ms"].as_f64().unwrap_or(0.0) / 1000.0
                } else {
                    wall
                };
                if cost < best[i].0 {
                    best[i] = (cost, p95_ms(&r));
                }
            }
        }
        println!(
            "{:<32} {:>10.2} {:>10.2} {:>8.1}% {:>7.0} ms {:>6.0} ms",
            name,
            best[0].0,
            best[1].0,
            (best[0].0 / best[1].0 - 1.0) * 100.0,
            best[0].1,
            best[1].1
        );
    }
}

/// Tokio's own cost per simulated turn: `agents` tasks sleeping `sleeps` times a turn of
/// 4.2 s for `sim`, on one paused current-thread runtime; and the default scenario with
/// one-token texts through the binary.
fn floor(dir: &Path) {
    let agents: u64 = env_or("BENCH_VIRTUAL_AGENTS", "10000").parse().unwrap();
    let sim = std::time::Duration::from_secs(120);
    println!(
        "\nthe floor: {agents} tasks that only sleep, {} s simulated:",
        sim.as_secs()
    );
    for sleeps in env_or("BENCH_FLOOR_SLEEPS", "6,12").split(',') {
        let sleeps: u64 = sleeps.parse().unwrap();
        let turns = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let started = Instant::now();
        runtime.block_on(async {
            let end = tokio::time::Instant::now() + sim;
            let mut tasks = tokio::task::JoinSet::new();
            for a in 0..agents {
                let turns = turns.clone();
                tasks.spawn(async move {
                    // xorshift: sleeps of 0.5 to 1.5 times a turn's share, 4.2 s a turn.
                    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    let share = 4200 / sleeps;
                    while tokio::time::Instant::now() < end {
                        for _ in 0..sleeps {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let ms = share / 2 + x % share;
                            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                        }
                        turns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        });
        let wall = started.elapsed().as_secs_f64();
        let turns = turns.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "  {sleeps:>2} sleeps a turn: {turns} turns in {wall:.2} s: {:.0} turns/s, {:.0} ns a sleep; an hour would take {:.0} s",
            turns as f64 / wall,
            wall * 1e9 / (turns * sleeps) as f64,
            wall * 3600.0 / sim.as_secs_f64()
        );
    }
    let path = one_token_scenario(dir, u32::try_from(agents).unwrap());
    let agents = agents.to_string();
    let args = virtual_120s(path.to_str().unwrap(), &agents);
    let (r, wall) = run(&args, &dir.join("one-token"));
    let turns = r["counters"]["turns"].as_u64().unwrap_or(0);
    println!(
        "  the default scenario with one-token texts: {turns} turns in {wall:.1} s: {:.0} turns/s; an hour would take {:.0} s",
        turns as f64 / wall,
        wall * 30.0
    );
}

/// The default scenario scaled to `agents` (as [`scaled_scenario`]) with every text one token
/// long: the clients, the mock, the metrics and the agent loop without the text.
fn one_token_scenario(dir: &Path, agents: u32) -> std::path::PathBuf {
    let default = include_str!("../fixtures/scenarios/default.toml");
    let slots = (agents / 4).max(1);
    let tiny = [
        ("capacity = 512", format!("capacity = {slots}")),
        ("max_in_flight = 512", format!("max_in_flight = {slots}")),
        (
            "system_prompt_tokens = 400",
            "system_prompt_tokens = 1".to_owned(),
        ),
        (
            "user_message_tokens = { dist = \"lognormal\", median = 60, p95 = 300 }",
            "user_message_tokens = 1".to_owned(),
        ),
        (
            "output_tokens = { dist = \"lognormal\", median = 50, p95 = 200 }",
            "output_tokens = 1".to_owned(),
        ),
        (
            "response_tokens = { dist = \"lognormal\", median = 300, p95 = 1200 }",
            "response_tokens = 1".to_owned(),
        ),
        (
            "response_tokens = { dist = \"uniform\", min = 60, max = 200 }",
            "response_tokens = 1".to_owned(),
        ),
        (
            "response_tokens = { dist = \"lognormal\", median = 500, p95 = 3000 }",
            "response_tokens = 1".to_owned(),
        ),
    ]
    .iter()
    .fold(default.to_owned(), |text, (from, to)| {
        assert!(text.contains(from), "default.toml has `{from}`");
        text.replace(from, to)
    });
    let path = dir.join("one-token-texts.toml");
    std::fs::write(&path, tiny).unwrap();
    path
}

fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("fleetbench-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let only = env_or("BENCH_ONLY", "all");
    if only == "all" || only == "virtual" {
        virtual_speed(&dir);
    }
    if only == "all" || only == "virtual" || only == "floor" {
        floor(&dir);
    }
    if only == "all" || only == "live" {
        live_fleets(&dir);
    }
    if only == "all" || only == "heap" {
        heap_overhead(&dir);
    }
    if only == "speed" && speed::speed(&dir) == ExitCode::FAILURE {
        let _ = std::fs::remove_dir_all(&dir);
        return ExitCode::FAILURE;
    }
    let passed = only != "soak" || soak::soak();
    let _ = std::fs::remove_dir_all(&dir);
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
