//! What the HTTP agent driver (`[agent] kind = "http"`, `fleet::HttpDriver`) costs per turn:
//! a closed loop of N simulated users, zero think time, sends turns to an echo agent that
//! answers `POST /chat` with `{"answer": <the message>}` at once, through the whole driver
//! (the template body, the HTTP request and its JSON answer, the session marker, the mock's
//! `take_observed`, the turn split and the run's metrics), set up as `fleetbench run` sets up
//! an HTTP-agent run (`harness/commands/runtime.rs`: the embedded mock with attribution on,
//! handed to the run; the tracking allocator installed, as in the binary).
//!
//! The echo agent runs on its own thread with its own current-thread runtime. Where
//! `taskset` can pin single threads (Linux), the echo thread is pinned to `BENCH_ECHO_CPU`
//! (default 1) and then this process's main thread to `BENCH_DRIVER_CPU` (default 0), before
//! `fleet::run` builds its runtime: every thread of the driver inherits that one core (and
//! tokio, reading the affinity, starts one worker). `BENCH_PIN=off` leaves both unpinned.
//!
//! For each N (`BENCH_AGENTS`, default "1,16,64,256"), `BENCH_SECS` each (default 5), in
//! `BENCH_ROUNDS` rounds (default 2; odd rounds in reverse order, so drift lands on every N):
//! turns/s, agent_response p50 and p99, and CPU µs per turn of the driver and of the echo
//! agent. Throughput and CPU are read over the run's steady part (from the first progress
//! reading after 1 s to the last one), CPU from `/proc/self/stat` (the whole process,
//! threads that have ended included) less `/proc/self/task/TID/stat` of the echo thread.
//!
//! `cargo bench --bench http_agent`; `taskset -c 0 cargo bench --bench http_agent` makes
//! "one core" hold for the whole process even where the pinning here fails. Without
//! `--bench` (a smoke run): N = 1 and 16, 1 s each, one round.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use fleet::{HttpDriver, Progress, RunOptions};
use metrics::MetricKind;
use mock::{MockConfig, MockServer};
use scenario::Scenario;
use serde_json::{Value, json};

/// As in the `fleetbench` binary: the driver's per-turn cost includes the per-agent heap
/// attribution a real run pays (`FLEETBENCH_HEAP=off` turns it off, as there).
#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`, 100 on every Linux architecture
/// this runs on; `getconf CLK_TCK`).
const TICKS_PER_S: f64 = 100.0;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) in ticks from a `/proc/.../stat` file: the process's
/// (`/proc/self/stat`, ended threads included) or one thread's.
fn cpu_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name, in parentheses, may hold spaces: count fields after its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ').skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// This thread's kernel id, from `/proc/thread-self` (a link to `PID/task/TID`).
fn thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Pins thread `tid` (alone: no `-a`) to `cpu` with `taskset`; whether it holds now.
fn pin(tid: u32, cpu: usize) -> bool {
    let ok = Command::new("taskset")
        .args(["-pc", &cpu.to_string(), &tid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok && allowed_cpus(tid).as_deref() == Some(cpu.to_string().as_str())
}

/// The CPUs thread `tid` may run on, as the kernel lists them (`0-1`, `0`).
fn allowed_cpus(tid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))?;
    Some(line.split_whitespace().nth(1)?.to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".to_owned())
}

/// The zero-latency echo agent: its address and its thread, which runs nothing else.
struct Echo {
    addr: SocketAddr,
    tid: Option<u32>,
    pinned: bool,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Echo {
    /// Starts the echo agent on a thread of its own (pinned to `cpu` if given) with a
    /// current-thread runtime, listening on 127.0.0.1:0.
    fn start(cpu: Option<usize>) -> Self {
        let (ready, started) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("echo-agent".to_owned())
            .spawn(move || {
                let tid = thread_id();
                let pinned = matches!((cpu, tid), (Some(c), Some(t)) if pin(t, c));
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the echo agent's runtime starts");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("the echo agent listens on 127.0.0.1:0");
                    let addr = listener.local_addr().expect("a bound address");
                    ready
                        .send((addr, tid, pinned))
                        .expect("main waits for the echo agent");
                    let app = Router::new().route("/chat", post(echo));
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await
                        .expect("the echo agent serves");
                });
            })
            .expect("the echo agent's thread starts");
        let (addr, tid, pinned) = started.recv().expect("the echo agent starts");
        Self {
            addr,
            tid,
            pinned,
            stop,
            thread,
        }
    }

    /// The echo thread's `stat` file, where its CPU time is read.
    fn stat(&self) -> Option<String> {
        Some(format!("/proc/self/task/{}/stat", self.tid?))
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("the echo agent stops");
    }
}

/// The agent under test: the message back, at once.
async fn echo(Json(body): Json<Value>) -> Json<Value> {
    Json(json!({ "answer": body["message"] }))
}

/// N users in a closed loop, sessions of 1,000 turns without think time, no tools.
fn scenario(agents: u64, secs: f64, echo: SocketAddr) -> Scenario {
    let toml = format!(
        r#"
name = "http-agent-overhead"
description = "the HTTP agent driver against a zero-latency echo agent"
seed = 1

[fleet]
agents = {agents}
ramp_up = "0s"
duration = "{ms}ms"
grace = "2s"

[session]
turns = 1000
think_time = "0s"
between_sessions = "0s"
user_message_tokens = 20

[agent]
kind = "http"
url = "http://{echo}/chat"
shape = "template"
body = {{ session_id = "{{{{session}}}}", message = "{{{{message}}}}" }}
answer = "/answer"
timeout = "10s"

[targets]
min_concurrent_agents = {agents}
"#,
        ms = (secs * 1000.0) as u64,
    );
    Scenario::from_toml(&toml, "benches/http_agent.rs").expect("the bench scenario is valid")
}

/// One progress reading: when, turns so far, the process's and the echo thread's CPU ticks.
#[derive(Clone, Copy)]
struct Reading {
    elapsed: Duration,
    turns: u64,
    process: Option<u64>,
    echo: Option<u64>,
}

/// What one run of N users measured.
struct Case {
    turns_per_s: f64,
    p50: Duration,
    p99: Duration,
    failed: u64,
    /// CPU µs per turn: the driver's (the process less the echo thread) and the echo's.
    driver_us: Option<f64>,
    echo_us: Option<f64>,
}

/// Runs `agents` users for `secs` as `fleetbench run` runs an HTTP-agent scenario.
fn case(agents: u64, secs: f64, echo: &Echo) -> Case {
    let scenario = scenario(agents, secs, echo.addr);
    let mut config = MockConfig::from_scenario(&scenario);
    config.attribution = true;
    let mock = MockServer::new(config);
    let readings: Arc<Mutex<Vec<Reading>>> = Arc::default();
    let options = RunOptions {
        mock: Some(mock.clone()),
        progress: Some(Arc::new({
            let (readings, echo) = (readings.clone(), echo.stat());
            move |p: &Progress| {
                let reading = Reading {
                    elapsed: p.elapsed,
                    turns: p.turns,
                    process: cpu_ticks("/proc/self/stat"),
                    echo: echo.as_deref().and_then(cpu_ticks),
                };
                readings.lock().unwrap().push(reading);
            }
        })),
        progress_every: Duration::from_millis(250),
        ..RunOptions::default()
    };
    let driver = HttpDriver::new(mock, options.interrupt.clone());
    let agents_of = driver.clone();
    let outcome = fleet::run(&scenario, move |_| agents_of.agent(), options).expect("the run");
    assert_eq!(
        driver.fatal(),
        None,
        "the echo agent's answer is at /answer"
    );
    let response = &outcome.snapshot.latency[&MetricKind::AgentResponse];
    let readings = readings.lock().unwrap();
    let steady: Vec<_> = readings
        .iter()
        .filter(|r| r.elapsed >= Duration::from_secs(1).min(Duration::from_secs_f64(secs / 4.0)))
        .collect();
    let (first, last) = (steady.first().expect("a reading"), steady.last().unwrap());
    let turns = (last.turns - first.turns).max(1) as f64;
    let window = (last.elapsed - first.elapsed).as_secs_f64();
    let per_turn = |ticks: Option<u64>| ticks.map(|t| t as f64 / TICKS_PER_S * 1e6 / turns);
    let process = last.process.zip(first.process).map(|(b, a)| b - a);
    let echo_cpu = last.echo.zip(first.echo).map(|(b, a)| b - a);
    Case {
        turns_per_s: turns / window,
        p50: response.quantile(0.50),
        p99: response.quantile(0.99),
        failed: outcome.snapshot.counters.turns_failed,
        driver_us: per_turn(process.map(|p| p - echo_cpu.unwrap_or(0))),
        echo_us: per_turn(echo_cpu),
    }
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn cpu(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"))
}

fn print_case(agents: u64, c: &Case) {
    println!(
        "{agents:>6} {:>10.0} {:>10} {:>10} {:>13} {:>11} {:>13.2} {:>7}",
        c.turns_per_s,
        us(c.p50),
        us(c.p99),
        cpu(c.driver_us),
        cpu(c.echo_us),
        c.driver_us.map_or(0.0, |u| u * c.turns_per_s / 1e6),
        c.failed,
    );
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (rounds, secs, list) = if smoke {
        (1, 1.0, "1,16".to_owned())
    } else {
        (
            env("BENCH_ROUNDS", 2_usize),
            env("BENCH_SECS", 5.0_f64),
            env("BENCH_AGENTS", "1,16,64,256".to_owned()),
        )
    };
    let fleets: Vec<u64> = list
        .split(',')
        .map(|n| n.trim().parse().expect("BENCH_AGENTS is a list of numbers"))
        .collect();
    let pinning = env("BENCH_PIN", "on".to_owned()) != "off";
    clients::install_crypto_provider();
    // The echo thread first, pinned on its own; then this thread, whose affinity every
    // thread the run starts inherits.
    let echo = Echo::start(pinning.then(|| env("BENCH_ECHO_CPU", 1_usize)));
    let main_tid = std::process::id();
    let driver_pinned = pinning && pin(main_tid, env("BENCH_DRIVER_CPU", 0_usize));
    println!(
        "driver: CPUs {} ({}), tokio sees {} core(s); echo agent: CPUs {} ({}); load average {}",
        allowed_cpus(main_tid).unwrap_or_else(|| "n/a".to_owned()),
        if driver_pinned {
            "pinned"
        } else {
            "not pinned"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        echo.tid
            .and_then(allowed_cpus)
            .unwrap_or_else(|| "n/a".to_owned()),
        if echo.pinned { "pinned" } else { "not pinned" },
        load_average(),
    );
    // A short run first: the tokenizer tables, the first connections and the allocator's
    // first pages are paid there, not in the first measured case.
    case(4, secs.min(1.0), &echo);
    println!(
        "{secs} s a case, {rounds} round(s); CPU µs per turn over the steady part of each run"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>13} {:>11} {:>13} {:>7}",
        "agents", "turns/s", "p50", "p99", "driver CPU µs", "echo CPU µs", "driver cores", "failed"
    );
    for round in 0..rounds {
        let mut order = fleets.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        for agents in order {
            print_case(agents, &case(agents, secs, &echo));
        }
        println!(
            "  (round {} done, load average {})",
            round + 1,
            load_average()
        );
    }
    echo.stop();
}
