//! The tool direct path against the router path: the same call goes through both, each to a
//! fresh mock with the same configuration, under paused time. The results (output and tokens,
//! or the failure with its kind, status and `Retry-After`), the time taken and the mock's
//! `/stats` must be equal, for every fault kind.

use std::time::Duration;

use serde_json::json;
use tokio::time::{Instant, sleep, timeout};

use metrics::ErrorKind;
use mock::{MockConfig, MockServer, StatsSnapshot};
use scenario::Scenario;

use crate::backend::{AnyTool, Extras, Failure, HttpTool, Measured, ToolBackend};
use crate::build::{Clients, Embedded};
use crate::tool::ToolResult;
use crate::transport::Transport;

type Outcome = (Result<(ToolResult, Measured), Failure>, Duration);

/// Two tools served by the mock, and one the client knows that the mock does not serve.
const TOOLS: &str = r#"
[tools.search]
args = { query = "string" }
[tools.search.mock]
latency = { dist = "lognormal", median = "150ms", p95 = "800ms" }
response_tokens = { dist = "lognormal", median = 300, p95 = 1200 }
[tools.flaky]
args = { order_id = "id" }
[tools.flaky.mock]
latency = "5ms"
failure_rate = 0.5
"#;

/// The HTTP backend of the embedded mock's tool `name` through its router: the oracle.
fn router(mock: &MockServer, name: &str) -> AnyTool {
    AnyTool::Http(
        HttpTool::new(
            Transport::InProcess(mock.clone()),
            &format!("http://mock.in-process/tools/{name}"),
            Extras::default(),
            true,
        )
        .expect("the URL parses"),
    )
}

fn scenario(extra: &str) -> Scenario {
    testkit::scenario(&format!("{TOOLS}\n[mock]\nstall_limit = \"7s\"\n{extra}"))
}

/// `calls` (tool name, arguments), sent at once through the router or directly, each under
/// `limit` (as `drive` runs an attempt); the outcomes and the mock's stats after them.
async fn once(
    s: &Scenario,
    direct: bool,
    calls: &[(&str, serde_json::Value)],
    limit: Duration,
) -> (Vec<Outcome>, StatsSnapshot) {
    let mock = MockServer::new(MockConfig::from_scenario(s));
    let mut clients =
        Clients::build(s, &Embedded::InProcess(mock.clone())).expect("the clients build");
    for tool in clients.tools.tools.values_mut() {
        if !direct {
            tool.backend = router(&mock, &tool.target.name);
        }
    }
    let tools = &clients.tools.tools;
    let outcomes = futures_util::future::join_all(calls.iter().map(|(name, args)| async move {
        let t0 = Instant::now();
        let tool = tools.get(*name).expect("a configured tool");
        let result = timeout(limit, tool.backend.attempt(args))
            .await
            .unwrap_or_else(|_| Err(Failure::new(ErrorKind::Timeout)));
        (result, t0.elapsed())
    }))
    .await;
    // Let the router path's bodies end before reading the stats.
    sleep(Duration::from_millis(1)).await;
    (outcomes, mock.stats())
}

/// `calls` through the router and directly: the outcomes and stats must be equal.
async fn same_with(
    s: &Scenario,
    calls: &[(&str, serde_json::Value)],
    limit: Duration,
) -> Vec<Outcome> {
    let (router, router_stats) = once(s, false, calls, limit).await;
    let (direct, direct_stats) = once(s, true, calls, limit).await;
    assert_eq!(direct, router);
    assert_eq!(direct_stats, router_stats);
    direct
}

async fn same(s: &Scenario) -> Outcome {
    let call = [("search", json!({"query": "refund policy"}))];
    let mut outcomes = same_with(s, &call, Duration::from_secs(30)).await;
    outcomes.pop().expect("one outcome")
}

fn failure(outcome: &Outcome) -> &Failure {
    outcome.0.as_ref().expect_err("the attempt fails")
}

fn with_fault(kind: &str, extra: &str) -> Scenario {
    scenario(&format!(
        "[[mock.faults]]\nendpoint = \"tools\"\nkind = \"{kind}\"\nprobability = 1.0\n{extra}\n"
    ))
}

#[tokio::test(start_paused = true)]
async fn answers_match_the_router_path() {
    let s = scenario("");
    let calls: Vec<(&str, serde_json::Value)> = (0..24)
        .map(|i| {
            if i % 3 == 0 {
                ("flaky", json!({"order_id": format!("ORD-{i}")}))
            } else {
                ("search", json!({"query": format!("question \"{i}\"\n")}))
            }
        })
        .collect();
    let outcomes = same_with(&s, &calls, Duration::from_secs(30)).await;
    let ok = outcomes.iter().filter(|(r, _)| r.is_ok()).count();
    let failed = outcomes
        .iter()
        .filter(|(r, _)| r.as_ref().is_err_and(|f| f.status == Some(500)))
        .count();
    assert!(ok > 0 && failed > 0, "{ok} answered, {failed} failed");
    for (result, took) in &outcomes {
        if let Ok((result, measured)) = result {
            assert!(!result.output.is_empty() && result.tokens > 0);
            assert_eq!(measured.tokens_out, result.tokens);
            assert!(*took > Duration::ZERO);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn faults_match_the_router_path() {
    let limited = same(&with_fault("rate-limit", "retry_after = \"2500ms\"")).await;
    let f = failure(&limited);
    assert_eq!(
        (f.kind, f.status, f.retry_after),
        (
            ErrorKind::RateLimited,
            Some(429),
            Some(Duration::from_secs(3))
        )
    );
    for (kind, want, status) in [
        ("server-error", ErrorKind::ServerError, Some(500)),
        ("unavailable", ErrorKind::Unavailable, Some(503)),
        ("reset", ErrorKind::Reset, None),
    ] {
        let outcome = same(&with_fault(kind, "")).await;
        assert_eq!(
            (failure(&outcome).kind, failure(&outcome).status),
            (want, status),
            "{kind}"
        );
        assert_eq!(outcome.1, Duration::ZERO, "{kind}");
    }
    // A stall ends in a reset at the stall limit, or the caller's timeout first.
    let stalled = same(&with_fault("stall", "")).await;
    assert_eq!(
        (failure(&stalled).kind, stalled.1),
        (ErrorKind::Reset, Duration::from_secs(7))
    );
    let call = [("search", json!({"query": "x"}))];
    let gave_up = same_with(&with_fault("stall", ""), &call, Duration::from_secs(2)).await;
    assert_eq!(failure(&gave_up[0]).kind, ErrorKind::Timeout);
    for (kind, want) in [
        ("truncate", ErrorKind::Truncated),
        ("malformed", ErrorKind::Malformed),
    ] {
        let outcome = same(&with_fault(kind, "")).await;
        assert_eq!(failure(&outcome).kind, want, "{kind}");
        assert!(
            outcome.1 > Duration::ZERO,
            "{kind}: answered after its latency"
        );
    }
    let slow = same(&with_fault("slow-first-token", "delay = \"3s\"")).await;
    assert!(slow.0.is_ok() && slow.1 > Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_tool_the_mock_does_not_serve_is_the_same_not_found() {
    let s = scenario("");
    let mut served = s.clone();
    served.tools.retain(|name, _| name == "search");
    // The clients know `flaky`; the mock (built from `served`) does not.
    let calls = [("flaky", json!({"order_id": "ORD-1"}))];
    let mut outcomes = Vec::new();
    for direct in [false, true] {
        let mock = MockServer::new(MockConfig::from_scenario(&served));
        let mut clients =
            Clients::build(&s, &Embedded::InProcess(mock.clone())).expect("the clients build");
        for tool in clients.tools.tools.values_mut() {
            if !direct {
                tool.backend = router(&mock, &tool.target.name);
            }
        }
        let tool = clients
            .tools
            .tools
            .get(calls[0].0)
            .expect("a configured tool");
        outcomes.push((tool.backend.attempt(&calls[0].1).await, mock.stats()));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    let f = outcomes[0].0.as_ref().expect_err("not served");
    assert_eq!((f.kind, f.status), (ErrorKind::ClientError, Some(404)));
}
