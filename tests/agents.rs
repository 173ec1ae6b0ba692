//! The HTTP agent driver end to end: the example Python agent (examples/agents/python/, the
//! official `openai` SDK, tools over HTTP or MCP) under a fleet, its calls attributed through
//! the embedded mock, the split and its memory in the report; faults it passes on told apart;
//! bad input before traffic. The Python tests fail, never skip, without the example's virtual
//! environment, which `.ci/run` creates.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::common::fleetbench;

/// The example's directory.
fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/agents/python")
}

/// The example's Python: `FLEETBENCH_AGENT_PYTHON`, else its virtual environment's.
fn python() -> PathBuf {
    let python = std::env::var_os("FLEETBENCH_AGENT_PYTHON")
        .map_or_else(|| example().join(".venv/bin/python"), PathBuf::from);
    let probe = Command::new(&python)
        .args(["-c", "import openai, mcp"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs the example agent's packages: python3 -m venv examples/agents/python/.venv && \
         examples/agents/python/.venv/bin/pip install -r examples/agents/python/requirements.txt \
         (`.ci/run` does it), or FLEETBENCH_AGENT_PYTHON naming a python that has them; probe of {}: {probe:?}",
        python.display()
    );
    python
}

/// A free port of 127.0.0.1 (free now: the test binds it right after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The example agent, started with `args`, killed when dropped.
struct AgentProcess {
    child: Child,
    port: u16,
}

impl AgentProcess {
    fn start(mock_port: u16, args: &[&str]) -> Self {
        let mut child = Command::new(python())
            .arg(example().join("agent.py"))
            .args(["--port", "0"])
            .args([
                "--llm-base-url",
                &format!("http://127.0.0.1:{mock_port}/v1"),
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the example agent starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the agent prints where it listens");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("`listening on http://HOST:PORT`, not {line:?}"));
        Self { child, port }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example's scenario, made small and pointed at `agent_port`, the mock on `mock_port`,
/// with `extra` TOML appended, in `dir`.
fn scenario(dir: &Path, agent_port: u16, mock_port: u16, agents: u32, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(example().join("scenario.toml")).expect("the example");
    let text = text
        .replace("127.0.0.1:8700", &format!("127.0.0.1:{agent_port}"))
        .replace("127.0.0.1:8790", &format!("127.0.0.1:{mock_port}"))
        .replace("agents = 200", &format!("agents = {agents}"))
        .replace(
            "min_concurrent_agents = 200",
            &format!("min_concurrent_agents = {agents}"),
        )
        .replace("duration = \"30s\"", "duration = \"5s\"")
        .replace("ramp_up = \"5s\"", "ramp_up = \"1s\"")
        .replace(
            "min = \"1s\", max = \"3s\"",
            "min = \"100ms\", max = \"400ms\"",
        );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, format!("{text}{extra}")).expect("the scenario is written");
    path
}

/// `fleetbench run SCENARIO --out DIR ARGS`: its exit code, stderr and report.
fn run(scenario: &Path, dir: &Path, args: &[&str]) -> (Option<i32>, String, Value) {
    let out = dir.join("out");
    let output = fleetbench()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(&out)
        .args(args)
        .output()
        .expect("fleetbench runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = std::fs::read_to_string(out.join("report.json"))
        .map(|t| serde_json::from_str(&t).expect("the report is JSON"))
        .unwrap_or(Value::Null);
    (output.status.code(), stderr, report)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

#[test]
fn the_python_agent_under_load_with_http_tools() {
    let dir = tempdir();
    let mock = free_port();
    let agent = AgentProcess::start(
        mock,
        &["--tools-url", &format!("http://127.0.0.1:{mock}/tools")],
    );
    let path = scenario(dir.path(), agent.port, mock, 30, "");
    let (code, stderr, r) = run(&path, dir.path(), &["--pid", &agent.pid()]);
    assert!(
        stderr.contains(&format!("mock:    listening on http://127.0.0.1:{mock}")),
        "{stderr}"
    );
    let rt = &r["runtime"];
    assert!(rt["llm_calls"].as_u64().unwrap() > 0, "{rt}");
    assert!(rt["tool_calls"].as_u64().unwrap() > 0, "{rt}");
    assert_eq!(rt["unattributed_llm_calls"], 0, "{rt}");
    assert_eq!(rt["unattributed_tool_calls"], 0, "{rt}");
    // Every call the mock attributed is one of the report's calls.
    assert_eq!(rt["llm_calls"], r["counters"]["llm_calls"]);
    assert_eq!(rt["tool_calls"], r["counters"]["tool_calls"]);
    assert!(
        r["counters"]["turns"].as_u64().unwrap() > 20,
        "{}",
        r["counters"]
    );
    assert_eq!(r["counters"]["turns_failed"], 0, "{stderr}");
    for metric in [
        "agent_response",
        "turn_llm",
        "turn_tools",
        "framework_overhead",
        "tool_call",
    ] {
        assert!(
            r["latency"][metric]["count"].as_u64().unwrap() > 0,
            "{metric}"
        );
    }
    assert!(r["latency"].get("context_build").is_none());
    // The split adds up: overhead is what neither the LLM nor the tools took.
    let p50 = |m: &str| r["latency"][m]["p50_ms"].as_f64().unwrap();
    assert!(p50("framework_overhead") < p50("agent_response"));
    assert!(p50("turn_llm") > 0.0);
    let share = rt["overhead_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "{share}");
    let memory = &rt["memory"];
    assert!(memory["samples"].as_u64().unwrap() > 10, "{memory}");
    assert!(
        memory["peak_bytes"].as_u64().unwrap() > 10_000_000,
        "{memory}"
    );
    assert!(
        memory["live_sessions_peak"].as_u64().unwrap() > 0,
        "{memory}"
    );
    assert!(memory["per_agent_bytes"].is_number(), "{memory}");
    assert_eq!(
        r["breakdown"]["parts"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["framework_overhead", "llm", "tools"]
    );
    assert!(code == Some(0) || code == Some(1), "{code:?}: {stderr}");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"),
        )
        .expect("the schema"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let problems: Vec<String> = validator.iter_errors(&r).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn the_python_agent_with_mcp_tools_is_attributed_the_same() {
    let dir = tempdir();
    let mock = free_port();
    let agent = AgentProcess::start(
        mock,
        &[
            "--tools",
            "mcp",
            "--tools-url",
            &format!("http://127.0.0.1:{mock}/mcp"),
        ],
    );
    let path = scenario(dir.path(), agent.port, mock, 10, "");
    let (_, stderr, r) = run(&path, dir.path(), &[]);
    let rt = &r["runtime"];
    assert!(rt["tool_calls"].as_u64().unwrap() > 0, "{rt}\n{stderr}");
    assert_eq!(rt["unattributed_tool_calls"], 0, "{rt}");
    assert_eq!(rt["unattributed_llm_calls"], 0, "{rt}");
    assert_eq!(r["counters"]["turns_failed"], 0, "{stderr}");
    assert!(rt.get("memory").is_none());
}

#[test]
fn faults_the_runtime_passes_on_are_told_from_its_own_failures() {
    let dir = tempdir();
    let mock = free_port();
    // No retries in the SDK: an LLM fault fails the turn.
    let agent = AgentProcess::start(
        mock,
        &[
            "--tools-url",
            &format!("http://127.0.0.1:{mock}/tools"),
            "--llm-retries",
            "0",
        ],
    );
    let faults =
        "[[mock.faults]]\nkind = \"server-error\"\nprobability = 0.3\nendpoint = \"chat\"\n";
    let path = scenario(dir.path(), agent.port, mock, 10, faults);
    let (code, stderr, r) = run(&path, dir.path(), &[]);
    let f = &r["runtime"]["failures"];
    assert!(
        f["after_injected_fault"]["server_error"].as_u64().unwrap() > 0,
        "{f}\n{stderr}"
    );
    assert!(f["own"].as_object().unwrap().is_empty(), "{f}");
    assert!(
        f["examples"]["server_error"]
            .as_str()
            .unwrap()
            .contains("502"),
        "{f}"
    );
    assert!(
        r["errors"]["calls"]["llm"]["server_error"]
            .as_u64()
            .unwrap()
            > 0,
        "{}",
        r["errors"]
    );
    // The error-rate target judges the runtime's turns.
    let failed = r["counters"]["turns_failed"].as_f64().unwrap();
    let turns = r["counters"]["turns"].as_f64().unwrap();
    // Equal up to the last digit (it failed once on a 1-ULP difference).
    let rate = r["error_rate"].as_f64().unwrap();
    assert!(
        (rate - failed / turns).abs() < 1e-12,
        "{rate} vs {failed}/{turns}"
    );
    assert_eq!(code, Some(1), "{stderr}");
}

#[test]
fn a_pointer_that_matches_nothing_in_the_first_answer_is_exit_2() {
    let dir = tempdir();
    let mock = free_port();
    let agent = AgentProcess::start(
        mock,
        &["--tools-url", &format!("http://127.0.0.1:{mock}/tools")],
    );
    let path = scenario(dir.path(), agent.port, mock, 2, "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("answer = \"/answer\"", "answer = \"/reply/text\"");
    std::fs::write(&path, text).unwrap();
    let (code, stderr, _) = run(&path, dir.path(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("`agent.answer`"), "{stderr}");
    assert!(stderr.contains("`/reply/text`"), "{stderr}");
    assert!(
        stderr.contains("\"answer\""),
        "the answer is shown: {stderr}"
    );
}

#[test]
fn an_agent_that_is_not_up_is_exit_2_before_traffic() {
    let dir = tempdir();
    let path = scenario(dir.path(), free_port(), free_port(), 2, "");
    let (code, stderr, r) = run(&path, dir.path(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("`agent.url`"), "{stderr}");
    assert!(stderr.contains("start your agent first"), "{stderr}");
    assert!(r.is_null(), "no report: nothing ran");
}

#[test]
fn pid_without_an_http_agent_or_process_is_exit_2() {
    let dir = tempdir();
    let (code, stderr, _) = run(
        &crate::common::scenario("smoke.toml"),
        dir.path(),
        &["--pid", "1"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("set [agent] kind = \"http\""), "{stderr}");
    let path = scenario(dir.path(), free_port(), free_port(), 2, "");
    let (code, stderr, _) = run(&path, dir.path(), &["--pid", "4294967295"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--pid 4294967295: cannot read"), "{stderr}");
}

#[test]
fn an_unknown_placeholder_is_exit_2_naming_the_key() {
    let dir = tempdir();
    let path = scenario(dir.path(), free_port(), free_port(), 2, "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("{{session}}", "{{conversation}}");
    std::fs::write(&path, text).unwrap();
    let (code, stderr, _) = run(&path, dir.path(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("agent.body.session_id"), "{stderr}");
    assert!(
        stderr.contains("unknown placeholder `{{conversation}}`"),
        "{stderr}"
    );
}

#[test]
fn the_python_agent_records_a_corpus_the_lab_reads() {
    let dir = tempdir();
    let mock = free_port();
    let corpus = dir.path().join("runs.jsonl");
    let mut agent = AgentProcess::start(
        mock,
        &[
            "--tools-url",
            &format!("http://127.0.0.1:{mock}/tools"),
            "--record",
            corpus.to_str().expect("a UTF-8 path"),
        ],
    );
    let path = scenario(dir.path(), agent.port, mock, 5, "");
    let (_, stderr, r) = run(&path, dir.path(), &[]);
    let sessions = r["counters"]["sessions_started"]
        .as_u64()
        .expect("sessions");
    let completed = r["counters"]["sessions_completed"]
        .as_u64()
        .expect("sessions");
    // SIGTERM: the agent writes the sessions it still holds on the way out.
    let killed = Command::new("kill")
        .args(["-TERM", &agent.pid()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exited = agent.child.wait().expect("the agent exits");
    assert!(exited.success(), "{exited:?}");
    let text = std::fs::read_to_string(&corpus).expect("the corpus is written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    // Every session that talked is recorded once (one cut off before its first answer has
    // nothing to record).
    let recorded = lines.len() as u64;
    assert!(
        completed <= recorded && recorded <= sessions,
        "{recorded} of {sessions}: {stderr}"
    );
    assert!(lines.iter().all(|l| l["messages"][0]["role"] == "system"));
    let output = fleetbench()
        .args(["compress", "--corpus"])
        .arg(&corpus)
        .args([
            "--strategy",
            "window",
            "--trigger",
            "tokens=300",
            "--no-timing",
        ])
        .output()
        .expect("compress runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains(&format!("corpus: {recorded} conversations")),
        "{out}"
    );
}
