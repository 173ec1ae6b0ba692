//! Virtual speed, before and after (`BENCH_ONLY=speed`): the same virtual runs made by this
//! build's `fleetbench` and, when `BENCH_BEFORE` names another build's binary, by that one,
//! in interleaved rounds (`BENCH_ROUNDS`, default 5; the order flips every round), so that a
//! change is judged side by side on the same machine at the same time.
//!
//! Three runs of `BENCH_VIRTUAL_AGENTS` agents (default 10,000) for 120 s of simulated time
//! on one thread:
//! - `llm-only`: `fixtures/scenarios/zero-latency.toml` (the default session against a mock
//!   that answers at once, no tools): simulated LLM calls per second of CPU;
//! - `default`: the default scenario scaled to the fleet (as part 1): turns per CPU second;
//! - `one-token`: the same with every text one token long (the floor's last line).
//!
//! Each run's CPU time is the report's own (`process.cpu_time_ms`, start-up included), which
//! a neighbour on a shared machine disturbs less than the wall time; the best and the median
//! of the rounds are printed. With `BENCH_BEFORE`, the two builds' reports must agree on
//! everything but the `process` section (the same seed gives the same report): a difference
//! is printed and fails the bench, unless `BENCH_REPORTS_DIFFER=1` says the change alters the
//! runs on purpose (a new seed derivation, say).

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::{env_or, one_token_scenario, run_bin, scaled_scenario, virtual_120s};

struct Case {
    name: &'static str,
    file: String,
    /// The counter that measures the work.
    counter: &'static str,
}

pub(crate) fn speed(dir: &Path) -> ExitCode {
    let agents = env_or("BENCH_VIRTUAL_AGENTS", "10000");
    let rounds: usize = env_or("BENCH_ROUNDS", "5")
        .parse()
        .expect("BENCH_ROUNDS is a number");
    let n: u32 = agents.parse().expect("BENCH_VIRTUAL_AGENTS is a number");
    let cases = [
        Case {
            name: "llm-only",
            file: concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/scenarios/zero-latency.toml"
            )
            .to_owned(),
            counter: "llm_calls",
        },
        Case {
            name: "default",
            file: path(&scaled_scenario(dir, n)),
            counter: "turns",
        },
        Case {
            name: "one-token",
            file: path(&one_token_scenario(dir, n)),
            counter: "turns",
        },
    ];
    let this = env!("CARGO_BIN_EXE_fleetbench").to_owned();
    let mut builds = vec![("this build", this)];
    if let Ok(before) = std::env::var("BENCH_BEFORE") {
        builds.insert(0, ("BENCH_BEFORE", before));
    }
    println!(
        "\nvirtual speed, {agents} agents, 120 s simulated, one thread, {rounds} rounds interleaved:"
    );
    println!(
        "{:<10} {:<13} {:>10} {:>12} {:>12} {:>14}",
        "run", "build", "work", "CPU s best", "CPU s median", "work/CPU s best"
    );
    let mut same = true;
    for case in &cases {
        let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); builds.len()];
        let mut reports: Vec<Option<Value>> = vec![None; builds.len()];
        for round in 0..rounds {
            let mut order: Vec<usize> = (0..builds.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for b in order {
                let out = dir.join(format!("speed-{}-{b}", case.name));
                let args = virtual_120s(&case.file, &agents);
                let (report, _) = run_bin(&builds[b].1, &args, &out, &[]);
                cpu[b].push(report["process"]["cpu_time_ms"].as_f64().unwrap_or(0.0) / 1e3);
                reports[b] = Some(report);
            }
        }
        for (b, (label, _)) in builds.iter().enumerate() {
            let report = reports[b].as_ref().expect("every build ran");
            let work = report["counters"][case.counter].as_u64().unwrap_or(0);
            let mut times = cpu[b].clone();
            times.sort_by(f64::total_cmp);
            let (best, median) = (times[0], times[times.len() / 2]);
            println!(
                "{:<10} {:<13} {:>10} {:>12.2} {:>12.2} {:>14.0}",
                case.name,
                label,
                format!(
                    "{work} {}",
                    if case.counter == "turns" {
                        "turns"
                    } else {
                        "calls"
                    }
                ),
                best,
                median,
                work as f64 / best
            );
        }
        if let [Some(before), Some(after)] = &reports[..] {
            let differences = differences(before, after);
            if !differences.is_empty() {
                same = std::env::var("BENCH_REPORTS_DIFFER").is_ok_and(|v| v == "1");
                println!(
                    "  the two builds' reports differ ({} fields), e.g.:",
                    differences.len()
                );
                for d in differences.iter().take(5) {
                    println!("    {d}");
                }
            }
        }
    }
    if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn path(p: &Path) -> String {
    p.to_str().expect("the bench directory is UTF-8").to_owned()
}

/// The fields where two reports differ, the `process` section and the version aside.
fn differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    if at.is_empty() && (key == "process" || key == "fleetbench_version") {
                        continue;
                    }
                    let null = Value::Null;
                    let (u, v) = (x.get(key).unwrap_or(&null), y.get(key).unwrap_or(&null));
                    walk(u, v, &format!("{at}.{key}"), out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (u, v)) in x.iter().zip(y).enumerate() {
                    walk(u, v, &format!("{at}[{i}]"), out);
                }
            }
            (u, v) if u != v => out.push(format!("{at}: {u} / {v}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, "", &mut out);
    out
}
