//! fleetbench's whole stack next to oha, on the same endpoint, in the same run.
//!
//! The endpoint is pinned to core 1: by default an nginx stub that answers every POST with
//! one fixed chat completion (`BENCH_ENDPOINT=nginx`), or `fleetbench serve` on the
//! zero-latency mock (`BENCH_ENDPOINT=serve`). The load generator is pinned to core 0, in
//! turn oha and `fleetbench run` (LLM-only agents, no think time, one-turn sessions, heap
//! tracking on, as a user runs it). For each case (`BENCH_CASES`, default
//! `64:json,1024:json,256:sse`: concurrency, then a whole JSON answer or an SSE stream),
//! `BENCH_ROUNDS` rounds (default 3) of `BENCH_SECS` each (default 5), the two tools in turn
//! and the order flipped every round so the machine's drift lands on both. Printed per round:
//! calls/s, p50 and p99 of each (oha's request latency; fleetbench's `llm_call`), the ratio,
//! and the endpoint's CPU over the round: near 100 % of its core means the endpoint, not the
//! generator, was the limit, and the round says so.
//!
//! `BENCH_FLOORS` (default `reqwest,hyper`; empty for none) adds the floors under
//! fleetbench's figure, in turn with the two tools: the same calls through a bare reqwest
//! client, and through hyper connections as oha makes them, with nothing of fleetbench
//! around them (`vs_oha/floor.rs`). Each prints its calls/s, p99 and ratio to oha.
//!
//! `BENCH_FLEETBENCH=PATH` runs that fleetbench binary instead of this build's (to compare
//! builds: run the bench once per binary, rounds interleaved, and compare the ratios).
//!
//! Needs `oha` (`cargo install oha --locked`), `nginx` (Debian `nginx-light`) and `taskset`:
//! `benches/setup.sh` installs them. `cargo bench --bench vs_oha`.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

#[path = "vs_oha/floor.rs"]
mod floor;

// The floors allocate as fleetbench does, through mimalloc (without its tracking).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`).
const TICKS_PER_S: f64 = 100.0;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `name` on the PATH or in cargo's bin directory.
fn find(name: &str) -> Option<PathBuf> {
    let cargo_bin = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin"));
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(cargo_bin)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// CPU ticks (user + system) of process `pid` so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let mut fields = stat[close + 2..].split(' ').skip(11);
    let mut next = || {
        fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    next() + next()
}

/// The answer every request gets: 16 tokens, whole or as the mock streams them.
fn answer(stream: bool) -> String {
    let words = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
    ];
    if !stream {
        return json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "mock-gpt",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": words.join(" ")}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 16, "total_tokens": 56},
        })
        .to_string();
    }
    let chunk = |delta: Value, finish: Value, usage: Value| {
        let choices = if usage.is_null() {
            json!([{"index": 0, "delta": delta, "finish_reason": finish}])
        } else {
            json!([])
        };
        let event = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "mock-gpt", "choices": choices, "usage": usage});
        format!("data: {event}\n\n")
    };
    let mut body = String::new();
    for (i, word) in words.iter().enumerate() {
        let text = if i == 0 {
            (*word).to_owned()
        } else {
            format!(" {word}")
        };
        body += &chunk(json!({"content": text}), Value::Null, Value::Null);
    }
    body += &chunk(json!({}), json!("stop"), Value::Null);
    body += &chunk(
        Value::Null,
        Value::Null,
        json!({"prompt_tokens": 40, "completion_tokens": 16, "total_tokens": 56}),
    );
    body + "data: [DONE]\n\n"
}

/// An endpoint pinned to core 1, stopped on drop.
struct Endpoint {
    child: Child,
    url: String,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx, one worker, in the foreground, answering `answer(stream)` to everything.
fn nginx(dir: &Path, nginx: &Path, stream: bool) -> Endpoint {
    let port = free_port();
    let prefix = dir.join(if stream { "nginx-sse" } else { "nginx-json" });
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    // nginx's quoted strings take \n and \' escapes; the JSON has no single quote.
    let body = answer(stream).replace('\\', "\\\\").replace('\n', "\\n");
    let media = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let p = prefix.display();
    let conf = format!(
        "worker_processes 1; daemon off; master_process off; pid {p}/nginx.pid;\n\
         error_log {p}/logs/error.log warn;\n\
         events {{ worker_connections 16384; }}\n\
         http {{ access_log off; keepalive_requests 100000000; client_body_temp_path {p}/body;\n\
           server {{ listen 127.0.0.1:{port} backlog=4096;\n\
             location / {{ default_type {media}; return 200 '{body}'; }} }} }}\n"
    );
    std::fs::write(prefix.join("nginx.conf"), conf).unwrap();
    let mut command = Command::new(nginx);
    command
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"));
    on_core_1(&command, port)
}

/// `fleetbench serve` on the zero-latency mock.
fn serve(bin: &str) -> Endpoint {
    let port = free_port();
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/scenarios/zero-latency.toml"
    );
    let mut command = Command::new(bin);
    command
        .args(["serve", "--scenario", scenario, "--port"])
        .arg(port.to_string());
    on_core_1(&command, port)
}

/// Starts `command` pinned to core 1 and waits until it listens on `port`.
fn on_core_1(command: &Command, port: u16) -> Endpoint {
    let program = command.get_program();
    let endpoint = Endpoint {
        child: Command::new("taskset")
            .args(["-c", "1"])
            .arg(program)
            .args(command.get_args())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", program.display())),
        url: format!("http://127.0.0.1:{port}/v1"),
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return endpoint;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // Dropping the endpoint stops the child.
    panic!("{} did not listen on port {port}", program.display());
}

/// One tool's figures for one round.
#[derive(Clone, Copy, Default)]
struct Figures {
    calls_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The body oha posts: about the size of the fleet's requests (20-token system prompt and
/// user message).
fn oha_body(stream: bool) -> String {
    json!({"model": "mock-gpt", "stream": stream, "max_completion_tokens": 16,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for a load test of an agent fleet and you answer briefly."},
            {"role": "user", "content": "Tell me about the load test of the agent fleet and the latency targets of it please."}]})
    .to_string()
}

fn oha(oha: &Path, url: &str, concurrency: u32, secs: u64, stream: bool) -> Figures {
    let output = Command::new("taskset")
        .args(["-c", "0"])
        .arg(oha)
        .args(["-z", &format!("{secs}s"), "-c", &concurrency.to_string()])
        .args(["--no-tui", "--output-format", "json", "-m", "POST"])
        .args(["-T", "application/json", "-d", &oha_body(stream)])
        .arg(format!("{url}/chat/completions"))
        .stderr(Stdio::inherit())
        .output()
        .expect("oha runs");
    assert!(output.status.success(), "oha failed: {}", output.status);
    let r: Value = serde_json::from_slice(&output.stdout).expect("oha prints JSON");
    let success = r["summary"]["successRate"].as_f64().unwrap_or(0.0);
    assert!(success > 0.999, "oha saw failures: success rate {success}");
    Figures {
        calls_per_s: r["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: r["latencyPercentiles"]["p50"].as_f64().unwrap_or(0.0) * 1e3,
        p99_ms: r["latencyPercentiles"]["p99"].as_f64().unwrap_or(0.0) * 1e3,
    }
}

fn scenario(dir: &Path, url: &str, stream: bool) -> PathBuf {
    let file = dir.join(format!("llm-only-{stream}.toml"));
    let text = format!(
        r#"name = "llm-only"
[fleet]
grace = "1s"
[session]
turns = 1
think_time = "0s"
system_prompt_tokens = 20
user_message_tokens = 20
max_output_tokens = 16
[[llm.providers]]
name = "endpoint"
base_url = "{url}"
model = "mock-gpt"
stream = {stream}
limits = {{ max_in_flight = 1000000, max_queue = 1000000 }}
[targets]
min_concurrent_agents = 1
"#
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn fleetbench(bin: &str, file: &Path, out: &Path, concurrency: u32, secs: u64) -> Figures {
    let _ = std::fs::remove_dir_all(out);
    let status = Command::new("taskset")
        .args(["-c", "0", bin, "run"])
        .arg(file)
        .args(["--agents", &concurrency.to_string()])
        .args(["--duration", &format!("{secs}s"), "--out"])
        .arg(out)
        .env("CI", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("fleetbench runs");
    assert!(status.success(), "fleetbench run failed: {status}");
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let r: Value = serde_json::from_str(&text).expect("the report is JSON");
    let errors = r["error_rate"].as_f64().unwrap_or(1.0);
    assert!(errors < 0.001, "fleetbench saw errors: rate {errors}");
    let call = &r["latency"]["llm_call"];
    Figures {
        calls_per_s: r["rates"]["llm_calls_per_s"].as_f64().unwrap_or(0.0),
        p50_ms: call["p50_ms"].as_f64().unwrap_or(0.0),
        p99_ms: call["p99_ms"].as_f64().unwrap_or(0.0),
    }
}

fn main() -> ExitCode {
    if floor::child().is_some() {
        return ExitCode::SUCCESS;
    }
    // `BENCH_FLEETBENCH`: another build's binary in the same rounds (a before/after).
    let this_build = env!("CARGO_BIN_EXE_fleetbench").to_owned();
    let bin = &std::env::var("BENCH_FLEETBENCH").unwrap_or(this_build);
    let (Some(oha_bin), Some(_)) = (find("oha"), find("taskset")) else {
        println!("vs_oha needs oha and taskset: run benches/setup.sh (cargo install oha --locked)");
        return ExitCode::FAILURE;
    };
    let which = env_or("BENCH_ENDPOINT", "nginx");
    let nginx_bin = find("nginx");
    if which == "nginx" && nginx_bin.is_none() {
        println!(
            "BENCH_ENDPOINT=nginx needs nginx: run benches/setup.sh (apt-get install nginx-light)"
        );
        return ExitCode::FAILURE;
    }
    let secs: u64 = env_or("BENCH_SECS", "5")
        .parse()
        .expect("BENCH_SECS is whole seconds");
    let rounds: u32 = env_or("BENCH_ROUNDS", "3")
        .parse()
        .expect("BENCH_ROUNDS is a number");
    let cases = env_or("BENCH_CASES", "64:json,1024:json,256:sse");
    let floors: Vec<String> = env_or("BENCH_FLOORS", "reqwest,hyper")
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    let dir = std::env::temp_dir().join(format!("fleetbench-vs-oha-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "endpoint {which} on core 1, generator on core 0, {secs} s a run, {rounds} rounds; load {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut header = format!(
        "{:>5} {:>4} {:>5} | {:>8} {:>6} {:>6} | {:>8} {:>6} {:>6} | {:>5} {:>7}",
        "conc", "kind", "round", "oha/s", "p50", "p99", "fleet/s", "p50", "p99", "ratio", "p99 ×"
    );
    for name in &floors {
        header += &format!(" | {:>9} {:>6} {:>5}", format!("{name}/s"), "p99", "ratio");
    }
    println!("{header} | endpoint CPU");
    for case in cases.split(',') {
        let (concurrency, kind) = case.split_once(':').expect("BENCH_CASES: N:json or N:sse");
        let concurrency: u32 = concurrency.parse().expect("a concurrency");
        let stream = kind == "sse";
        let endpoint = match (which.as_str(), &nginx_bin) {
            ("nginx", Some(n)) => nginx(&dir, n, stream),
            _ => serve(bin),
        };
        let file = scenario(&dir, &endpoint.url, stream);
        // oha, fleetbench, then the floors; in reverse every other round.
        let tools = 2 + floors.len();
        let mut ratios = Vec::new();
        let mut floor_ratios = vec![Vec::new(); floors.len()];
        for round in 0..rounds {
            let mut figures = vec![Figures::default(); tools];
            let mut busy = vec![0.0_f64; tools];
            let mut order: Vec<usize> = (0..tools).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for tool in order {
                let before = cpu_ticks(endpoint.child.id());
                let started = std::time::Instant::now();
                figures[tool] = match tool {
                    0 => oha(&oha_bin, &endpoint.url, concurrency, secs, stream),
                    1 => fleetbench(bin, &file, &dir.join("out"), concurrency, secs),
                    n => floor::run(&floors[n - 2], &endpoint.url, concurrency, secs, stream),
                };
                let ticks = cpu_ticks(endpoint.child.id()) - before;
                busy[tool] = ticks as f64 / TICKS_PER_S / started.elapsed().as_secs_f64();
            }
            let (o, f) = (figures[0], figures[1]);
            let ratio = f.calls_per_s / o.calls_per_s;
            ratios.push(ratio);
            let saturated = if busy.iter().any(|&b| b > 0.9) {
                " (endpoint saturated: the ratio is a bound)"
            } else {
                ""
            };
            let mut row = format!(
                "{concurrency:>5} {kind:>4} {round:>5} | {:>8.0} {:>6.2} {:>6.2} | {:>8.0} {:>6.2} {:>6.2} | {ratio:>5.2} {:>7.2}",
                o.calls_per_s,
                o.p50_ms,
                o.p99_ms,
                f.calls_per_s,
                f.p50_ms,
                f.p99_ms,
                f.p99_ms / o.p99_ms,
            );
            for (i, floor) in figures[2..].iter().enumerate() {
                let ratio = floor.calls_per_s / o.calls_per_s;
                floor_ratios[i].push(ratio);
                row += &format!(
                    " | {:>9.0} {:>6.2} {ratio:>5.2}",
                    floor.calls_per_s, floor.p99_ms
                );
            }
            let busy: Vec<String> = busy.iter().map(|b| format!("{:.0} %", b * 100.0)).collect();
            println!("{row} | {}{saturated}", busy.join(" / "));
        }
        let median = |ratios: &mut Vec<f64>| {
            ratios.sort_by(f64::total_cmp);
            ratios[ratios.len() / 2]
        };
        let mut line = format!(
            "{concurrency:>5} {kind:>4} median ratio {:.2} (fleetbench calls/s over oha's)",
            median(&mut ratios)
        );
        for (name, ratios) in floors.iter().zip(&mut floor_ratios) {
            line += &format!(", {name} {:.2}", median(ratios));
        }
        println!("{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::SUCCESS
}
