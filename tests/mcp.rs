use std::time::Duration;

use serde_json::Value;
use testkit::tls::TempDir;

use crate::common::{Running, fleetbench};

/// One agent (the same conversations every run), eight sessions of three turns, tool calls
/// on most model turns; `search`'s latency from a lognormal model. `tool` is the tool's keys besides its model; the LLM is
/// the run's embedded mock either way.
fn scenario(tool: &str) -> String {
    format!(
        r#"
name = "mcp"
seed = 5
clock = "live"
[fleet]
agents = 1
ramp_up = "0s"
max_sessions = 8
grace = "10s"
[session]
turns = 3
think_time = "0s"
max_output_tokens = 64
[[llm.providers]]
name = "mock"
model = "mock-gpt"
base_url = "embedded"
[tools.search]
description = "Search"
args = {{ query = "string" }}
{tool}
[tools.search.mock]
latency = {{ dist = "lognormal", median = "20ms", p95 = "60ms" }}
response_tokens = 30
[mock]
base_latency = "2ms"
inter_token = "0s"
output_tokens = 20
tool_call_probability = 0.9
max_tool_calls = 2
[targets]
min_concurrent_agents = 1
"#
    )
}

/// The counters that must not depend on how the tool is reached.
const COUNTERS: &[&str] = &[
    "llm_calls",
    "llm_succeeded",
    "tool_calls",
    "tool_succeeded",
    "tool_attempts",
    "turns",
    "sessions_started",
];

struct Run {
    report: Value,
    stderr: String,
    code: Option<i32>,
}

fn run(dir: &TempDir, name: &str, toml: &str) -> Run {
    let file = dir.write(&format!("{name}.toml"), toml);
    let out = dir.path().join(format!("{name}-out"));
    let output = fleetbench()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("fleetbench runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = std::fs::read_to_string(out.join("report.json")).unwrap_or_default();
    Run {
        report: serde_json::from_str(&report).unwrap_or(Value::Null),
        stderr,
        code: output.status.code(),
    }
}

fn counters(report: &Value) -> Vec<(&'static str, u64)> {
    COUNTERS
        .iter()
        .map(|&k| (k, report["counters"][k].as_u64().expect("a counter")))
        .collect()
}

fn median_ms(report: &Value, metric: &str) -> f64 {
    report["latency"][metric]["p50_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {metric} in {:#}", report["latency"]))
}

/// `fleetbench serve` of `scenario` on a free port: the process and its origin URL.
fn serve(scenario: &std::path::Path) -> (Running, String) {
    let mut server = Running::spawn([
        "serve".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--scenario".as_ref(),
        scenario.as_os_str(),
    ]);
    let url = server.served_url().trim_end_matches("/v1").to_owned();
    (server, url)
}

/// What `fleetbench serve` said it served when it stopped.
fn served(server: Running) -> String {
    server.signal("INT");
    let finished = server.finish(Duration::from_secs(20));
    assert!(finished.status.success(), "{finished:?}");
    finished.stdout
}

/// The issue's round trip: a fleet whose tool is the MCP server of `fleetbench serve` counts
/// what the same fleet counts with the tool over HTTP (the run's embedded mock on loopback,
/// whose answers the agent reads as the MCP result's: the tool's output text; an HTTP tool at
/// a URL hands the agent the whole JSON body instead, so its conversations differ), with no
/// errors, and its tool latency comes from the same model. The medians are compared loosely:
/// within 15 ms or 50 % of each other (the model's median is 20 ms; MCP adds JSON-RPC framing
/// and an event stream on loopback, and two processes share two cores), which a different
/// model (a 5 ms or a 200 ms median, say) would fail.
#[test]
fn a_fleet_over_the_mcp_server_of_serve_counts_what_http_tools_count() {
    let dir = TempDir::new();
    let http = run(&dir, "http", &scenario(""));
    assert_eq!(http.code, Some(0), "{}", http.stderr);

    let served_file = dir.write("served.toml", scenario(""));
    let (server, origin) = serve(&served_file);
    let mcp = run(
        &dir,
        "mcp",
        &scenario(&format!("protocol = \"mcp\"\nendpoint = \"{origin}/mcp\"")),
    );
    let mcp_served = served(server);
    assert_eq!(mcp.code, Some(0), "{}", mcp.stderr);

    let expected = counters(&http.report);
    assert!(
        expected[2].1 >= 10,
        "enough tool calls to compare: {expected:?}"
    );
    assert_eq!(counters(&mcp.report), expected);
    for run in [&http, &mcp] {
        assert_eq!(run.report["errors"]["calls"], serde_json::json!({}));
    }
    // The server saw every tool call (and no chat: the LLM is the run's own mock).
    let tools = format!(
        "served 0 chat, 0 responses and {} tool requests",
        expected[2].1
    );
    assert!(mcp_served.contains(&tools), "{mcp_served}");

    let (a, b) = (
        median_ms(&http.report, "tool_call"),
        median_ms(&mcp.report, "tool_call"),
    );
    assert!(
        a >= 10.0 && b >= 10.0,
        "the model's latency: http {a} ms, mcp {b} ms"
    );
    assert!(
        (a - b).abs() <= 15.0_f64.max(a.max(b) * 0.5),
        "tool_call medians: http {a} ms, mcp {b} ms"
    );

    // The run's own embedded mock serves its tools over MCP too (`endpoint = "embedded"`).
    let embedded = run(&dir, "embedded", &scenario("protocol = \"mcp\""));
    assert_eq!(embedded.code, Some(0), "{}", embedded.stderr);
    assert_eq!(counters(&embedded.report), expected);
    assert_eq!(embedded.report["errors"]["calls"], serde_json::json!({}));
}

/// Bad input known before traffic: a configured tool the MCP server does not list stops the
/// run with exit 2, naming the key, the server and the tools it lists.
#[test]
fn an_mcp_server_without_the_configured_tool_is_exit_2_before_traffic() {
    let dir = TempDir::new();
    let served_file = dir.write("served.toml", scenario(""));
    let (server, origin) = serve(&served_file);
    let toml = scenario(&format!("protocol = \"mcp\"\nendpoint = \"{origin}/mcp\""))
        .replace("[tools.search]", "[tools.weather]")
        .replace("[tools.search.mock]", "[tools.weather.mock]");
    let bad = run(&dir, "missing", &toml);
    let stdout = served(server);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("`tools.weather`"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains(&format!("{origin}/mcp")),
        "{}",
        bad.stderr
    );
    assert!(bad.stderr.contains("lists: search"), "{}", bad.stderr);
    // No traffic: the only requests were the preflight's (no chat, no tool call).
    assert!(
        stdout.contains("served 0 chat, 0 responses and 0 tool requests"),
        "{stdout}"
    );
}
