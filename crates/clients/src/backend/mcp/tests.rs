//! The MCP backend against the mock's MCP server (`/mcp`) on loopback: the same answers as
//! the mock's HTTP tool path, one session shared and started once, the key and query on every
//! request, the preflight's errors, failures classified as HTTP ones.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock, ErrorData, JsonObject, MetaObject};
use serde_json::json;

use metrics::ErrorKind;
use mock::MockConfig;
use scenario::{Scenario, Secrets};

use super::{McpTool, classify, read};
use crate::backend::{AnyTool, ToolBackend};
use crate::build::{BuildError, Clients, Embedded};

/// Two MCP tools of the embedded mock, and the same tool over HTTP for comparison.
const TOOLS: &str = r#"
[tools.search]
protocol = "mcp"
args = { query = "string" }
[tools.search.mock]
latency = "5ms"
response_tokens = { dist = "lognormal", median = 300, p95 = 1200 }
[tools.lookup]
protocol = "mcp"
args = { order_id = "id" }
[tools.lookup.mock]
latency = "5ms"
failure_rate = 1.0
"#;

fn scenario(extra: &str) -> Scenario {
    testkit::scenario(&format!("{TOOLS}\n{extra}"))
}

fn clients(s: &Scenario, base: &str) -> Clients {
    Clients::build_with(s, &Embedded::Http(base.to_owned()), &Secrets::default())
        .expect("the clients build")
}

fn mcp<'c>(clients: &'c Clients, name: &str) -> &'c McpTool {
    match &clients.tools.tools[name].backend {
        AnyTool::Mcp(tool) => tool,
        other => panic!("{name} is {other:?}"),
    }
}

#[tokio::test]
async fn a_call_answers_as_the_http_tool_of_the_same_mock_does() {
    let s = scenario("");
    let mock = testkit::spawn_mock(MockConfig::from_scenario(&s)).await;
    let over_mcp = clients(&s, &mock.url(""));
    over_mcp
        .preflight()
        .await
        .expect("the mock lists both tools");
    let http = scenario("").tools.into_iter().map(|(n, mut t)| {
        t.protocol = scenario::ToolProtocol::Http;
        (n, t)
    });
    let s_http = Scenario {
        tools: http.collect(),
        ..scenario("")
    };
    let over_http = clients(&s_http, &mock.url(""));
    let args = json!({"query": "rust mcp"});
    let (a, b) = (
        mcp(&over_mcp, "search").attempt(&args).await,
        over_http.tools.tools["search"].backend.attempt(&args).await,
    );
    let ((a, measured), (b, _)) = (a.expect("mcp answers"), b.expect("http answers"));
    assert_eq!(a, b, "same output and tokens (the server's, from _meta)");
    assert!(a.tokens > 0 && !a.output.is_empty());
    assert_eq!(measured.tokens_out, a.tokens);
    assert_eq!(mock.stats().by_tool["search"].requests, 2);
}

#[tokio::test]
async fn concurrent_calls_share_one_session_started_once() {
    let s = scenario("");
    let mock = testkit::spawn_mock(MockConfig::from_scenario(&s)).await;
    let clients = Arc::new(clients(&s, &mock.url("")));
    assert!(
        Arc::ptr_eq(
            &mcp(&clients, "search").session,
            &mcp(&clients, "lookup").session
        ),
        "the tools of one server share its session"
    );
    // No preflight: the first calls start the session, together.
    let calls = (0..20).map(|i| {
        let clients = clients.clone();
        tokio::spawn(async move {
            let args = json!({"query": format!("q{i}")});
            clients.tools.call("search", &args, i).await.1
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.expect("no panic").expect("every call answers");
    }
    let stats = mock.stats();
    assert_eq!(stats.tool_requests, 20);
    // 20 calls and one handshake (`initialize`; `notifications/initialized` is no request).
    assert_eq!(stats.mcp_requests, 21, "{stats:?}");
}

#[tokio::test]
async fn a_failing_tool_is_a_server_error_and_an_unknown_one_a_client_error() {
    let s = scenario("");
    let mock = testkit::spawn_mock(MockConfig::from_scenario(&s)).await;
    let clients = clients(&s, &mock.url(""));
    let failed = mcp(&clients, "lookup")
        .attempt(&json!({"order_id": "ORD-1"}))
        .await;
    assert_eq!(failed.expect_err("isError").kind, ErrorKind::ServerError);
    let unknown = McpTool::new(
        "nosuch",
        mcp(&clients, "search").session.clone(),
        Duration::from_secs(5),
    );
    let failed = unknown.attempt(&json!({})).await.expect_err("no such tool");
    assert_eq!(failed.kind, ErrorKind::ClientError);
    let failed = mcp(&clients, "search").attempt(&json!([1])).await;
    assert_eq!(
        failed.expect_err("not an object").kind,
        ErrorKind::ClientError
    );
}

#[tokio::test]
async fn the_mock_s_rate_limit_is_rate_limited_with_its_retry_after() {
    let s = scenario(
        "[[mock.faults]]\nendpoint = \"tools\"\nkind = \"rate-limit\"\nprobability = 1.0\nretry_after = \"3s\"\n",
    );
    let mock = testkit::spawn_mock(MockConfig::from_scenario(&s)).await;
    let clients = clients(&s, &mock.url(""));
    let failed = mcp(&clients, "search")
        .attempt(&json!({"query": "x"}))
        .await;
    let failed = failed.expect_err("429");
    assert_eq!(failed.kind, ErrorKind::RateLimited);
    assert_eq!(failed.status, Some(429));
    assert_eq!(failed.retry_after, Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn the_key_and_query_go_with_every_request() {
    let s = scenario("");
    let mut s_keyed = s.clone();
    for t in s_keyed.tools.values_mut() {
        t.api_key_env = Some("MCP_KEY".to_owned());
    }
    let mock = testkit::spawn_mock(MockConfig::from_scenario(&s)).await;
    let secrets = Secrets::from_pairs([("MCP_KEY", "sk-mcp-test")]);
    let clients = Clients::build_with(&s_keyed, &Embedded::Http(mock.url("")), &secrets)
        .expect("the clients build");
    clients
        .preflight()
        .await
        .expect("the mock lists both tools");
    mcp(&clients, "search")
        .attempt(&json!({"query": "x"}))
        .await
        .expect("answers");
    let stats = mock.stats();
    assert!(
        !stats.by_key.contains_key("anonymous"),
        "{:?}",
        stats.by_key
    );
    assert_eq!(stats.by_key.values().map(|k| k.requests).sum::<u64>(), 1);
}

#[tokio::test]
async fn the_preflight_names_a_tool_the_server_does_not_list_and_those_it_does() {
    let served = scenario("");
    let mock = testkit::spawn_mock(MockConfig::from_scenario(&served)).await;
    let url = mock.url("/mcp");
    let s = testkit::scenario(&format!(
        "[tools.search]\nprotocol = \"mcp\"\nendpoint = \"{url}\"\n[tools.weather]\nprotocol = \"mcp\"\nendpoint = \"{url}\"\n"
    ));
    let err = clients(&s, "http://127.0.0.1:9").preflight().await;
    let err = err.expect_err("weather is not served");
    assert!(
        matches!(&err, BuildError::McpToolMissing { target, listed, .. }
            if target == "weather" && listed == &["lookup", "search"]),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains("`tools.weather`") && shown.contains(&url),
        "{shown}"
    );
    assert!(shown.contains("lists: lookup, search"), "{shown}");
}

#[tokio::test]
async fn the_preflight_names_a_server_it_cannot_reach() {
    // Port 9 (discard) on loopback: nothing listens there.
    let s = testkit::scenario(
        "[tools.search]\nprotocol = \"mcp\"\nendpoint = \"http://127.0.0.1:9/mcp\"\nquery = { team = \"q-secret\" }\n",
    );
    let err = clients(&s, "http://127.0.0.1:9").preflight().await;
    let err = err.expect_err("nothing listens");
    assert!(matches!(err, BuildError::McpServer { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("tool `search`") && shown.contains("http://127.0.0.1:9/mcp"));
    // The kind and the cause, never reqwest's text: it holds the URL with its query.
    assert!(
        shown.contains("connect (") && !shown.contains("q-secret"),
        "{shown}"
    );
    // A call is classified as a refused connection.
    let clients = clients(&s, "http://127.0.0.1:9");
    let failed = mcp(&clients, "search").attempt(&json!({})).await;
    assert_eq!(failed.expect_err("refused").kind, ErrorKind::Connect);
}

#[test]
fn a_result_s_text_is_joined_and_its_tokens_are_the_server_s_or_estimated() {
    let mut result = CallToolResult::success(vec![
        ContentBlock::text("first"),
        ContentBlock::text("second"),
    ]);
    let (out, _) = read(&result).expect("a success");
    assert_eq!(&*out.output, "first\nsecond");
    assert_eq!(out.tokens, 3, "12 characters at 4 a token");
    let mut meta = JsonObject::new();
    meta.insert("tokens".to_owned(), 42.into());
    result.meta = Some(MetaObject(meta));
    assert_eq!(read(&result).expect("a success").0.tokens, 42);
    result.structured_content = Some(json!({"tokens": 7}));
    assert_eq!(read(&result).expect("a success").0.tokens, 7);
    let error = CallToolResult::error(vec![ContentBlock::text("boom")]);
    assert_eq!(
        read(&error).expect_err("isError").kind,
        ErrorKind::ServerError
    );
}

#[test]
fn json_rpc_errors_are_the_request_s_or_the_server_s() {
    let kind = |e: ErrorData| classify::json_rpc(&e).kind;
    assert_eq!(
        kind(ErrorData::invalid_params("x", None)),
        ErrorKind::ClientError
    );
    assert_eq!(
        kind(ErrorData::method_not_found::<
            rmcp::model::CallToolRequestMethod,
        >()),
        ErrorKind::ClientError
    );
    assert_eq!(
        kind(ErrorData::internal_error("x", None)),
        ErrorKind::ServerError
    );
    let unavailable = ErrorData::internal_error("x", Some(json!({"status": 503})));
    let failure = classify::json_rpc(&unavailable);
    assert_eq!(
        (failure.kind, failure.status),
        (ErrorKind::Unavailable, Some(503))
    );
}

#[tokio::test]
async fn a_session_the_server_dropped_is_started_again() {
    let s = scenario("");
    let first = testkit::spawn_mock(MockConfig::from_scenario(&s)).await;
    let addr = first.addr;
    let clients = clients(&s, &first.url(""));
    let search = mcp(&clients, "search");
    search
        .attempt(&json!({"query": "a"}))
        .await
        .expect("answers");
    first.stop().await.expect("the mock stops");
    // A new server on the same address knows nothing of the session.
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let server = mock::MockServer::new(MockConfig::from_scenario(&s));
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(mock::serve_with(listener, server.clone(), async move {
        stopped.cancelled().await
    }));
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(search.attempt(&json!({"query": "b"})).await.map(|_| ()));
    }
    stop.cancel();
    // At most the first attempt finds the session gone; then a new one answers.
    assert!(outcomes[1..].iter().all(Result::is_ok), "{outcomes:?}");
    assert!(server.stats().tool_requests >= 2);
}

#[test]
fn the_mcp_backend_does_not_grow_every_tool_call_s_future() {
    // A tool call's future lives in the calling agent's task, and so in its memory figure:
    // the MCP variant (rmcp's call future is kilobytes) is boxed so that the other backends'
    // calls stay the size they were.
    let s = testkit::scenario("[tools.search]\nargs = { query = \"string\" }\n");
    let clients = clients(&s, "http://127.0.0.1:9");
    let any = &clients.tools.tools["search"].backend;
    let AnyTool::Http(http) = any else {
        panic!("an HTTP tool: {any:?}")
    };
    let args = json!({});
    let (whole, http) = (
        std::mem::size_of_val(&any.attempt(&args)),
        std::mem::size_of_val(&http.attempt(&args)),
    );
    assert!(whole <= http + 64, "AnyTool {whole} bytes, HttpTool {http}");
}
