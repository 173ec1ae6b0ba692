//! The mock's MCP server (`/mcp`) over real sockets, with the official SDK's client (rmcp,
//! streamable HTTP, reqwest): `tools/list` offers what the LLM is offered, `tools/call` gives
//! what `POST /tools/{name}` gives, faults reach the client as it can classify them, and
//! `/stats` counts MCP tool calls with the HTTP ones. Plain and TLS.
//!
//! Every test runs under a 20 s `tokio::time::timeout`; tool latencies are 1 ms.

use std::future::Future;
use std::time::Duration;

use fleetbench_mock as mock;
use mock::MockConfig;
use rmcp::model::{CallToolRequestParams, CallToolResult, ErrorCode, JsonObject};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{Value, json};
use testkit::MockHandle;
use testkit::tls::TestCa;

const LIMIT: Duration = Duration::from_secs(20);

type Client = RunningService<RoleClient, ()>;

/// Two tools that answer, one that always fails, and `mock_extra` at the end of `[mock]`.
fn config(mock_extra: &str) -> MockConfig {
    let toml = format!(
        r#"
name = "mcp"
seed = 7

[tools.search]
description = "Search the knowledge base"
args = {{ query = "string", limit = "integer" }}
[tools.search.mock]
latency = "1ms"
response_tokens = 25

[tools.lookup_order]
description = "Look up an order by id"
args = {{ order_id = "id" }}
[tools.lookup_order.mock]
latency = "1ms"
response_tokens = 10

[tools.broken]
description = "Always fails"
[tools.broken.mock]
latency = "1ms"
failure_rate = 1.0

[mock]
base_latency = "1ms"
stall_limit = "200ms"
{mock_extra}
"#
    );
    MockConfig::from_scenario(&testkit::scenario(&toml))
}

/// A rule hitting every call of `lookup_order` with `kind`.
fn lookup_fault(kind: &str) -> String {
    format!(
        "[[mock.faults]]\nendpoint = \"tool:lookup_order\"\nkind = \"{kind}\"\nprobability = 1.0\n"
    )
}

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test took longer than 20 s")
}

/// An initialized MCP session with the mock's `/mcp`, through `http`.
async fn connect_with(mock: &MockHandle, http: reqwest::Client) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(mock.url("/mcp"));
    let transport = StreamableHttpClientTransport::with_client(http, config);
    ().serve(transport).await.expect("the MCP handshake")
}

async fn connect(mock: &MockHandle) -> Client {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a reqwest client");
    connect_with(mock, http).await
}

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments are an object, not {other}"),
    }
}

async fn call(
    client: &Client,
    name: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args(arguments)))
        .await
}

fn text(result: &CallToolResult) -> &str {
    result.content[0]
        .as_text()
        .map(|t| t.text.as_str())
        .expect("a text content")
}

/// The HTTP status (and `Retry-After`) of a call the transport failed, if it was one.
fn http_status(err: &ServiceError) -> Option<(u16, Option<String>)> {
    let ServiceError::TransportSend(send) = err else {
        return None;
    };
    match send
        .error
        .downcast_ref::<StreamableHttpError<reqwest::Error>>()
    {
        Some(StreamableHttpError::HttpStatus(status)) => {
            Some((status.status, status.retry_after.clone()))
        }
        _ => None,
    }
}

#[tokio::test]
async fn tools_list_offers_the_llm_schema_and_calls_answer_as_http_tools_do() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let client = connect(&mock).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["broken", "lookup_order", "search"]);
        let search = &tools[2];
        assert_eq!(
            search.description.as_deref(),
            Some("Search the knowledge base")
        );
        let scenario_args = &mock.server.config().tools["search"].args;
        assert_eq!(
            Value::Object((*search.input_schema).clone()),
            mock::tool_parameters(scenario_args)
        );

        let arguments = json!({"query": "refund policy", "limit": 3});
        let result = call(&client, "search", arguments.clone())
            .await
            .expect("tools/call");
        assert_ne!(result.is_error, Some(true));
        let tokens = result.meta.as_ref().expect("_meta")["tokens"].as_u64();
        assert_eq!(tokens, Some(25));

        // The same arguments over HTTP: the same output and tokens.
        let http: Value = reqwest::Client::new()
            .post(mock.url("/tools/search"))
            .body(serde_json::to_vec(&arguments).expect("json"))
            .send()
            .await
            .expect("POST /tools/search")
            .json()
            .await
            .expect("a tool result");
        assert_eq!(http["output"].as_str(), Some(text(&result)));
        assert_eq!(http["tokens"].as_u64(), tokens);

        let stats = mock.stats();
        assert_eq!(stats.tool_requests, 2, "one MCP call, one HTTP call");
        assert_eq!(stats.by_tool["search"].requests, 2);
        // initialize, tools/list, tools/call.
        assert_eq!(stats.mcp_requests, 3);
        client.cancel().await.expect("the session closes");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_tool_is_invalid_params_and_a_failing_tool_is_an_error_result() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let client = connect(&mock).await;
        match call(&client, "nope", json!({})).await {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
                assert!(e.message.contains("unknown tool `nope`"), "{}", e.message);
            }
            other => panic!("expected invalid params, got {other:?}"),
        }
        let failed = call(&client, "broken", json!({})).await.expect("a result");
        assert_eq!(failed.is_error, Some(true));
        assert!(
            text(&failed).contains("simulated failure rate"),
            "{}",
            text(&failed)
        );
        let stats = mock.stats();
        assert_eq!(stats.tool_requests, 1, "the unknown tool is not counted");
        assert_eq!(stats.by_tool["broken"].requests, 1);
    })
    .await;
}

#[tokio::test]
async fn rate_limit_and_unavailable_are_http_statuses_and_the_session_survives() {
    for (kind, status, retry_after) in [
        ("rate-limit", 429, Some("1".to_owned())),
        ("unavailable", 503, None),
    ] {
        bounded(async {
            let mock = testkit::spawn_mock(config(&lookup_fault(kind))).await;
            let client = connect(&mock).await;
            let err = call(&client, "lookup_order", json!({"order_id": "ORD-1"}))
                .await
                .expect_err("the fault fails the call");
            assert_eq!(
                http_status(&err),
                Some((status, retry_after.clone())),
                "{err:?}"
            );
            let ok = call(&client, "search", json!({"query": "q", "limit": 1}))
                .await
                .expect("the same session still answers");
            assert_ne!(ok.is_error, Some(true));
            let stats = mock.stats();
            assert_eq!(stats.faults[kind], 1);
            assert_eq!(stats.tool_requests, 2);
        })
        .await;
    }
}

#[tokio::test]
async fn a_server_error_fault_is_an_error_result() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&lookup_fault("server-error"))).await;
        let client = connect(&mock).await;
        let result = call(&client, "lookup_order", json!({"order_id": "ORD-1"}))
            .await
            .expect("a result");
        assert_eq!(result.is_error, Some(true));
        assert!(
            text(&result).contains("injected fault"),
            "{}",
            text(&result)
        );
    })
    .await;
}

#[tokio::test]
async fn reset_stall_truncate_and_malformed_fail_the_call_on_the_wire() {
    for kind in ["reset", "stall", "truncate", "malformed"] {
        bounded(async {
            let mock = testkit::spawn_mock(config(&lookup_fault(kind))).await;
            let client = connect(&mock).await;
            let err = tokio::time::timeout(
                Duration::from_secs(5),
                call(&client, "lookup_order", json!({"order_id": "ORD-1"})),
            )
            .await
            .unwrap_or_else(|_| panic!("{kind}: the call did not end"))
            .expect_err(kind);
            assert_eq!(http_status(&err), None, "{kind}: {err:?}");
            assert!(!matches!(err, ServiceError::McpError(_)), "{kind}: {err:?}");
            assert_eq!(mock.stats().faults[kind], 1, "{kind}");
            // reset and stall: the POST's connection reset (rmcp: `TransportSend`); truncate
            // and malformed: the answer's stream ends without it (`TransportClosed`).
            match kind {
                "reset" | "stall" => assert!(matches!(err, ServiceError::TransportSend(_))),
                _ => assert!(
                    matches!(err, ServiceError::TransportClosed),
                    "{kind}: {err:?}"
                ),
            }
            let after = call(&client, "search", json!({"query": "q", "limit": 1}))
                .await
                .unwrap_or_else(|e| panic!("{kind}: the session did not survive: {e:?}"));
            assert_ne!(after.is_error, Some(true));
        })
        .await;
    }
}

#[tokio::test]
async fn mcp_is_served_over_tls() {
    bounded(async {
        let ca = TestCa::new("mcp test CA");
        let mock =
            testkit::spawn_tls_mock(config(""), &ca.server(&["localhost", "127.0.0.1"])).await;
        assert!(mock.url("/mcp").starts_with("https://"));
        let roots = reqwest::Certificate::from_pem_bundle(ca.pem.as_bytes()).expect("PEM");
        let http = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only(roots)
            .build()
            .expect("a reqwest client");
        let client = connect_with(&mock, http).await;
        assert_eq!(client.list_all_tools().await.expect("tools/list").len(), 3);
        let result = call(&client, "lookup_order", json!({"order_id": "ORD-9"}))
            .await
            .expect("tools/call");
        assert_eq!(result.meta.expect("_meta")["tokens"].as_u64(), Some(10));
        assert_eq!(mock.stats().tool_requests, 1);
    })
    .await;
}

/// One JSON-RPC message to `/mcp` by hand, in `session`; the response.
async fn post(
    http: &reqwest::Client,
    mock: &MockHandle,
    session: Option<&str>,
    message: Value,
) -> reqwest::Response {
    let mut request = http
        .post(mock.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&message);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.expect("POST /mcp")
}

/// The JSON of the one event of an answer's stream.
async fn event(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("an event stream");
    let data = text
        .lines()
        .find_map(|line| line.strip_prefix("data:"))
        .unwrap_or_else(|| panic!("no data line in {text:?}"));
    serde_json::from_str(data.trim()).expect("the event's data is JSON")
}

#[tokio::test]
async fn on_the_wire_a_session_answers_one_event_per_post_and_ends_with_delete() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "curl", "version": "1"}}});
        let response = post(&http, &mock, None, init).await;
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert_eq!(
            event(response).await["result"]["serverInfo"]["name"],
            "fleetbench-mock"
        );
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(
            post(&http, &mock, Some(&session), initialized)
                .await
                .status(),
            202
        );
        let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "lookup_order", "arguments": {"order_id": "ORD-7"}}});
        let answer = event(post(&http, &mock, Some(&session), call.clone()).await).await;
        let result = &answer["result"];
        assert_eq!(result["content"][0]["type"], "text");
        assert_eq!(result["isError"], false);
        assert_eq!(result["_meta"]["tokens"], 10);
        assert!(result.get("structuredContent").is_none(), "{result}");

        let deleted = http
            .delete(mock.url("/mcp"))
            .header("mcp-session-id", &session)
            .send()
            .await
            .expect("DELETE /mcp");
        assert!(deleted.status().is_success(), "{}", deleted.status());
        let gone = post(&http, &mock, Some(&session), call).await;
        assert_eq!(gone.status(), 404);
        // initialize and the two calls; not the notification.
        assert_eq!(mock.stats().mcp_requests, 3);
        assert_eq!(mock.stats().tool_requests, 1);
    })
    .await;
}

#[tokio::test]
async fn an_open_get_stream_ends_when_the_mock_shuts_down() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "curl", "version": "1"}}});
        let response = post(&http, &mock, None, init).await;
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        post(&http, &mock, Some(&session), initialized).await;
        let stream = http
            .get(mock.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .send()
            .await
            .expect("GET /mcp");
        assert_eq!(stream.status(), 200);
        // Well inside the 5 s the server gives open connections to drain: the session's
        // stream ends with the mock, it does not hold the shutdown.
        tokio::time::timeout(Duration::from_secs(3), mock.stop())
            .await
            .expect("the mock stops with a GET stream open")
            .expect("the mock stops cleanly");
        drop(stream);
    })
    .await;
}
