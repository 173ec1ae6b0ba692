use std::path::{Path, PathBuf};
use std::time::Duration;

use fleet::{RunOptions, ScriptedAgent};
use scenario::ClockMode;
use serde_json::Value;

use crate::common::{fleetbench, scenario};

/// smoke.toml with its provider speaking `api`, streamed or not, written into `dir`.
fn smoke_as(dir: &Path, api: &str, stream: bool) -> PathBuf {
    let text = std::fs::read_to_string(scenario("smoke.toml")).expect("the fixture exists");
    let provider = "model = \"mock-gpt\"\n";
    assert!(
        text.contains(provider),
        "smoke.toml names its provider's model"
    );
    let text = text.replacen(
        provider,
        &format!("{provider}api = \"{api}\"\nstream = {stream}\n"),
        1,
    );
    let path = dir.join(format!("smoke-{api}-{stream}.toml"));
    std::fs::write(&path, text).expect("the temp dir is writable");
    path
}

/// `fleetbench run` of `file` for 2 s on the live clock; its JSON report.
fn run_binary(file: &Path, out: &Path) -> Value {
    fleetbench()
        .arg("run")
        .arg(file)
        .args(["--duration", "2s", "--out"])
        .arg(out)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(out.join("report.json")).expect("the report exists");
    serde_json::from_str(&text).expect("the report is JSON")
}

fn count(report: &Value, path: &[&str]) -> u64 {
    let mut v = report;
    for key in path {
        v = &v[*key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is a count: {v}"))
}

/// What every run against a healthy mock shows, whichever API: no errors, LLM and tool
/// calls made and timed, TTFT and inter-token gaps exactly when streamed.
fn healthy(report: &Value, stream: bool) {
    let what = format!("stream {stream}: {}", report["counters"]);
    assert_eq!(report["errors"]["calls"], serde_json::json!({}), "{what}");
    assert_eq!(
        report["errors"]["attempts"],
        serde_json::json!({}),
        "{what}"
    );
    assert_eq!(count(report, &["counters", "turns_failed"]), 0, "{what}");
    let calls = count(report, &["counters", "llm_calls"]);
    assert!(calls > 0, "{what}");
    assert_eq!(
        count(report, &["counters", "llm_attempts"]),
        calls,
        "{what}"
    );
    assert_eq!(
        count(report, &["counters", "llm_succeeded"]),
        calls,
        "{what}"
    );
    assert!(count(report, &["counters", "tool_calls"]) > 0, "{what}");
    assert!(count(report, &["counters", "tokens_out"]) > 0, "{what}");
    assert_eq!(count(report, &["latency", "llm_call", "count"]), calls);
    // A histogram without samples is left out of the report.
    let samples = |name: &str| report["latency"][name]["count"].as_u64().unwrap_or(0);
    let (ttft, gaps) = (samples("ttft"), samples("inter_token"));
    if stream {
        assert_eq!(ttft, calls, "every streamed call has a first token: {what}");
        assert!(gaps > 0, "{what}");
    } else {
        assert_eq!((ttft, gaps), (0, 0), "{what}");
    }
}

/// The binary, live clock, against the embedded mock over loopback HTTP: a Responses run,
/// streamed and whole, reports like a chat run.
#[test]
fn a_responses_run_reports_as_a_chat_run() {
    let dir = tempfile::tempdir().expect("a temp dir");
    for stream in [true, false] {
        for api in ["responses", "chat"] {
            let file = smoke_as(dir.path(), api, stream);
            let report = run_binary(&file, &dir.path().join(format!("out-{api}-{stream}")));
            healthy(&report, stream);
        }
    }
}

/// A run in-process (as the binary runs it), its mock's `/stats` beside its counters: every
/// LLM attempt reached `POST /v1/responses` (live: over loopback HTTP; virtual: the mock
/// in-process, counted the same), none the chat endpoint; and the other way round for chat.
#[test]
fn the_mock_sees_every_attempt_on_the_providers_api() {
    let dir = tempfile::tempdir().expect("a temp dir");
    for clock in [ClockMode::Live, ClockMode::Virtual] {
        for (api, stream) in [("responses", true), ("responses", false), ("chat", true)] {
            let mut s = scenario::load(&smoke_as(dir.path(), api, stream)).expect("it loads");
            s.clock = clock;
            s.fleet.duration = Some(scenario::Dur(Duration::from_millis(1500)));
            s.check("test").expect("the scenario is valid");
            let outcome =
                fleet::run(&s, |_| ScriptedAgent, RunOptions::default()).expect("the run starts");
            let report = serde_json::to_value(&outcome.snapshot).expect("a snapshot serializes");
            healthy(&report, stream);
            let attempts = count(&report, &["counters", "llm_attempts"]);
            let [observed] = outcome.mock_observed.as_slice() else {
                panic!("one mock: {:?}", outcome.mock_observed);
            };
            let (chat, responses) = (
                count(observed, &["chat_requests"]),
                count(observed, &["responses_requests"]),
            );
            let want = if api == "responses" {
                (0, attempts)
            } else {
                (attempts, 0)
            };
            assert_eq!((chat, responses), want, "{api} {clock:?} stream {stream}");
        }
    }
}

/// Without tools the two APIs carry the same conversation (tools are the one thing the
/// Responses request spells out differently: `strict`), so on the virtual clock a Responses
/// run is the chat run: the same counters and latencies, to the microsecond.
#[test]
fn without_tools_a_virtual_responses_run_is_the_chat_run() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let run = |api: &str| {
        let mut s = scenario::load(&smoke_as(dir.path(), api, true)).expect("it loads");
        s.clock = ClockMode::Virtual;
        s.tools.clear();
        s.check("test").expect("the scenario is valid");
        let outcome =
            fleet::run(&s, |_| ScriptedAgent, RunOptions::default()).expect("the run starts");
        let report = serde_json::to_value(&outcome.snapshot).expect("a snapshot serializes");
        (report["counters"].clone(), report["latency"].clone())
    };
    let (chat, responses) = (run("chat"), run("responses"));
    assert!(count(&chat.0, &["llm_calls"]) > 0, "{}", chat.0);
    assert_eq!(responses, chat);
}
