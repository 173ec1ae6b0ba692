//! `fleetbench sweep`: the capacity search finds where a known limit binds, gives the same
//! answer for the same seed, and refuses bad ranges with exit 2.

use crate::common::fleetbench;

/// One LLM call per turn at 70 ms each on a mock serving 4 at once: about 57 calls/s. Each
/// agent thinks 200 ms between turns, so queueing pushes the response p95 past 300 ms between
/// 20 agents (254 ms) and 24 (330 ms).
const SMALL: &str = r#"
name = "sweep-small"
seed = 11
clock = "virtual"

[fleet]
agents = 4
ramp_up = "1s"
duration = "10s"
grace = "2s"

[session]
turns = 2
think_time = "200ms"
user_message_tokens = 40
max_output_tokens = 64

[[llm.providers]]
name = "mock"
base_url = "embedded"
model = "mock-gpt"

[mock]
capacity = 4
base_latency = "50ms"
inter_token = "1ms"
output_tokens = 10
tool_call_probability = 0.0

[targets]
agent_response_p95 = "300ms"
min_concurrent_agents = 1
error_rate = 0.05
"#;

/// The range and resolution the tests sweep the small scenario over.
const AGENTS: [&str; 4] = ["--vary", "agents=2..64", "--resolution", "1"];

fn small() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("small.toml");
    std::fs::write(&path, SMALL).expect("the scenario is written");
    (dir, path)
}

/// `sweep PATH --format json ARGS`, which must exit 0, its stdout parsed.
fn sweep_json(path: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = fleetbench()
        .arg("sweep")
        .arg(path)
        .args(["--format", "json"])
        .args(args)
        .output()
        .expect("fleetbench starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn passes(path: &std::path::Path, agents: u64) -> bool {
    let out = fleetbench()
        .arg("run")
        .arg(path)
        .args(["--agents", &agents.to_string()])
        .output()
        .expect("fleetbench starts");
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("{other:?}: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

#[test]
fn finds_the_largest_passing_fleet_and_it_agrees_with_run() {
    let (_dir, path) = small();
    let report = sweep_json(&path, &AGENTS);
    let largest = report["largest_passing"].as_u64().unwrap();
    let failing = report["smallest_failing"].as_u64().unwrap();
    assert!((20..24).contains(&largest), "{report:#}");
    assert_eq!(failing, largest + 1, "{report:#}");
    // Probe, doubling up to the first failure, then bisection.
    let steps = report["steps"].as_array().unwrap();
    let values: Vec<u64> = steps.iter().map(|s| s["value"].as_u64().unwrap()).collect();
    assert_eq!(&values[..6], [2, 4, 8, 16, 32, 24], "{report:#}");
    assert_eq!(steps[0]["phase"], "probe");
    assert_eq!(steps[5]["phase"], "bisect");
    // The failing steps say which target they missed, and what bound.
    let failed = steps.iter().find(|s| s["passed"] == false).unwrap();
    assert_eq!(
        failed["missed"][0]["target"], "agent_response_p95",
        "{failed:#}"
    );
    assert!(failed["p95_response_ms"].as_f64().unwrap() >= 300.0);
    assert!(failed["bottleneck"].is_string(), "{failed:#}");
    // A plain run at either side gives the same verdicts.
    assert!(passes(&path, largest));
    assert!(!passes(&path, failing));
}

#[test]
fn the_same_seed_gives_the_same_steps_and_answer() {
    let (_dir, path) = small();
    let a = sweep_json(&path, &[&AGENTS[..], &["--shards", "2"]].concat());
    let b = sweep_json(&path, &[&AGENTS[..], &["--shards", "2"]].concat());
    assert_eq!(a, b);
    assert_eq!(a["shards"], 2);
}

#[test]
fn the_table_shows_each_step_and_the_answer() {
    let (dir, path) = small();
    let written = dir.path().join("sweep");
    let out = fleetbench()
        .arg("sweep")
        .arg(&path)
        .args(["--vary", "agents=2..64", "--resolution", "8", "--out"])
        .arg(&written)
        .output()
        .expect("fleetbench starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("step  phase   agents  result  p95 response"),
        "{stdout}"
    );
    assert!(stdout.contains("largest passing agents: "), "{stdout}");
    // One line per step on stderr, no progress.
    let steps = stdout
        .lines()
        .filter(|l| l.contains(" probe ") || l.contains(" double ") || l.contains(" bisect "))
        .count();
    assert_eq!(
        stderr.lines().filter(|l| l.contains("agents ")).count(),
        steps + 1,
        "{stderr}"
    );

    // --out: sweep.json (the --format json document) and its chart, sweep.html, which
    // `fleetbench report` redraws the same from sweep.json.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(written.join("sweep.json")).unwrap())
            .expect("sweep.json is JSON");
    assert_eq!(doc["steps"].as_array().map(Vec::len), Some(steps));
    // The scenario's response target, which the page draws as a line.
    assert_eq!(doc["limits"]["agent_response_p95_ms"], 300.0);
    let page = std::fs::read_to_string(written.join("sweep.html")).expect("sweep.html");
    assert!(
        page.contains("aria-label=\"p95 response by step\""),
        "{page:.300}"
    );
    assert_eq!(page.matches("<circle").count(), 2 * steps);
    assert!(page.contains(&format!(
        "agents = {} is the largest that meets every target",
        doc["largest_passing"]
    )));
    std::fs::remove_file(written.join("sweep.html")).unwrap();
    fleetbench().arg("report").arg(&written).assert().code(0);
    assert_eq!(
        std::fs::read_to_string(written.join("sweep.html")).unwrap(),
        page
    );
}

fn refused(args: &[&str]) -> String {
    let (_dir, path) = small();
    let out = fleetbench()
        .arg("sweep")
        .arg(&path)
        .args(args)
        .output()
        .expect("fleetbench starts");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "{stderr}");
    stderr
}

#[test]
fn an_empty_range_is_exit_2_with_the_fix() {
    let err = refused(&["--vary", "agents=10..5"]);
    assert!(
        err.contains("--vary agents=10..5: the range is empty"),
        "{err}"
    );
    assert!(err.contains("like agents=5..10"), "{err}");
}

#[test]
fn an_unknown_variable_is_exit_2_naming_the_known_ones() {
    let err = refused(&["--vary", "users=1..5"]);
    assert!(
        err.contains("--vary users=1..5: unknown variable `users`"),
        "{err}"
    );
    assert!(err.contains("`agents`"), "{err}");
    // A rate needs open-loop arrivals.
    let err = refused(&["--vary", "rate=1..5"]);
    assert!(err.contains("closed-loop"), "{err}");
}

#[test]
fn a_failing_lower_end_is_exit_2_with_its_failures_and_a_fix() {
    let err = refused(&["--vary", "agents=40..64"]);
    assert!(
        err.contains("--vary agents=40..64: the lower end 40 agents already misses agent_response_p95 (measured"),
        "{err}"
    );
    assert!(err.contains("like --vary agents=20..HIGH"), "{err}");
}

#[test]
fn an_open_loop_rate_is_swept_too() {
    // Two calls a session on the same mock (about 57 calls/s): the limit is near 28 sessions/s.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("open.toml");
    let open = SMALL.replace(
        "agents = 4\n",
        "agents = 200\narrival = \"constant\"\nrate = 5\n",
    );
    std::fs::write(&path, open).expect("the scenario is written");
    let report = sweep_json(&path, &["--vary", "rate=1..40", "--resolution", "0.5"]);
    assert_eq!(report["variable"], "rate");
    let largest = report["largest_passing"].as_f64().unwrap();
    let failing = report["smallest_failing"].as_f64().unwrap();
    assert!((20.0..36.0).contains(&largest), "{report:#}");
    assert!(failing > largest && failing - largest <= 0.5, "{report:#}");
}
