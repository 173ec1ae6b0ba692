//! Session attribution over real sockets (`127.0.0.1:0`): an LLM request whose user message
//! carries the driver's marker gets tool calls whose string arguments carry it back, the tool
//! calls made with those arguments (HTTP and MCP) are attributed to the same session and
//! turn, and `MockServer::take_observed` hands them over once; injected faults are noted,
//! calls without a marker are counted as unattributed, and with attribution off nothing of
//! the mock's answers or `/stats` changes.
//!
//! Every test runs under a 20 s `tokio::time::timeout`; mock latencies are a few ms, and
//! nothing sleeps to wait for something.

use std::future::Future;
use std::time::Duration;

use fleetbench_mock as mock;
use futures_util::StreamExt;
use mock::{AttributionStats, Injected, MockConfig, Observed, ObservedCall};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use scenario::FaultKind;
use serde_json::{Value, json};
use testkit::MockHandle;
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(20);
const MARKER: &str = "[fb:s5t2]";

/// Two tools with string arguments and one without; the mock LLM always calls a tool when
/// offered one; `mock_extra` at the end of `[mock]`. Attribution as `attribution` says.
fn config(attribution: bool, mock_extra: &str) -> MockConfig {
    let toml = format!(
        r#"
name = "attribution"
seed = 11

[tools.search]
description = "Search the knowledge base"
args = {{ query = "string", limit = "integer" }}
[tools.search.mock]
latency = "1ms"

[tools.lookup_order]
description = "Look up an order by id"
args = {{ order_id = "id" }}
[tools.lookup_order.mock]
latency = "1ms"

[tools.broken]
description = "Always fails"
args = {{ note = "string" }}
[tools.broken.mock]
latency = "1ms"
failure_rate = 1.0

[mock]
base_latency = "2ms"
inter_token = "5ms"
output_tokens = {{ dist = "uniform", min = 8, max = 16 }}
tool_call_probability = 1.0
max_tool_calls = 2
{mock_extra}
"#
    );
    let mut config = MockConfig::from_scenario(&testkit::scenario(&toml));
    config.attribution = attribution;
    config
}

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test took longer than 20 s")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a reqwest client")
}

/// A chat request: a user message, the two string-argument tools offered when `tools`.
fn chat(user: &str, tools: bool, stream: bool) -> Value {
    let mut body = json!({
        "model": "mock-gpt",
        "messages": [
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": user}
        ],
        "stream": stream,
    });
    if tools {
        body["tools"] = json!([
            {"type": "function", "function": {"name": "search", "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}}}},
            {"type": "function", "function": {"name": "lookup_order", "parameters": {
                "type": "object", "properties": {"order_id": {"type": "string"}}}}}
        ]);
    }
    body
}

async fn post(mock: &MockHandle, path: &str, body: &Value) -> reqwest::Response {
    http()
        .post(mock.url(path))
        .json(body)
        .send()
        .await
        .expect("the mock answers")
}

/// The tool calls of a non-streamed chat answer: (name, arguments).
async fn tool_calls(mock: &MockHandle, body: &Value) -> Vec<(String, Value)> {
    let answer: Value = post(mock, "/v1/chat/completions", body)
        .await
        .json()
        .await
        .expect("a JSON answer");
    answer["choices"][0]["message"]["tool_calls"]
        .as_array()
        .expect("tool calls")
        .iter()
        .map(|c| {
            let arguments = c["function"]["arguments"].as_str().expect("arguments");
            (
                c["function"]["name"].as_str().expect("a name").to_owned(),
                serde_json::from_str(arguments).expect("JSON arguments"),
            )
        })
        .collect()
}

fn strings(args: &Value) -> Vec<&str> {
    args.as_object()
        .expect("an object")
        .values()
        .filter_map(Value::as_str)
        .collect()
}

fn assert_timed(o: &Observed) {
    assert!(o.started <= o.finished, "{o:?}");
}

#[tokio::test]
async fn tool_calls_carry_the_marker_back_and_both_calls_are_attributed() {
    bounded(async {
        let mock = testkit::spawn_mock(config(true, "")).await;
        let user = format!("where is my order? {MARKER}");
        let calls = tool_calls(&mock, &chat(&user, true, false)).await;
        assert!(!calls.is_empty());
        for (name, args) in &calls {
            let strings = strings(args);
            assert_eq!(strings.len(), 1, "{args}");
            assert!(strings[0].ends_with(" [fb:s5t2]"), "{args}");
            if let Some(limit) = args.get("limit") {
                assert!(limit.is_u64(), "integers carry no marker: {args}");
            }
            let answer = post(&mock, &format!("/tools/{name}"), args).await;
            assert_eq!(answer.status(), 200);
        }
        let observed = mock.server.take_observed(5);
        assert_eq!(observed.len(), 1 + calls.len(), "{observed:?}");
        assert_eq!(
            observed[0].call,
            ObservedCall::Llm {
                model: "mock-gpt".to_owned()
            }
        );
        assert!(observed[0].tokens_in > 0 && observed[0].tokens_out > 0);
        for (o, (name, _)) in observed[1..].iter().zip(&calls) {
            assert_eq!(o.call, ObservedCall::Tool { name: name.clone() });
            assert_eq!((o.tokens_in, o.tokens_out), (0, 0));
        }
        for o in &observed {
            assert_eq!((o.turn, o.status, o.injected), (2, 200, None), "{o:?}");
            assert_timed(o);
        }
        assert!(observed[0].finished <= observed[1].started);
        assert!(mock.server.take_observed(5).is_empty());
        let counts = mock.stats().attribution.expect("attribution is on");
        assert_eq!(
            counts,
            AttributionStats {
                llm_attributed: 1,
                tool_attributed: calls.len() as u64,
                ..AttributionStats::default()
            }
        );
        mock.server.forget_session(5);
    })
    .await;
}

#[tokio::test]
async fn a_stream_is_observed_until_its_last_event() {
    bounded(async {
        let mock = testkit::spawn_mock(config(true, "")).await;
        let user = format!("tell me a story {MARKER}");
        let answer = post(&mock, "/v1/chat/completions", &chat(&user, false, true)).await;
        let mut body = answer.bytes_stream();
        let mut first = None;
        let mut text = Vec::new();
        while let Some(chunk) = body.next().await {
            first.get_or_insert_with(Instant::now);
            text.extend_from_slice(&chunk.expect("a chunk"));
        }
        let ended = Instant::now();
        let text = String::from_utf8(text).expect("UTF-8");
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        let observed = mock.server.take_observed(5);
        assert_eq!(observed.len(), 1, "{observed:?}");
        let o = &observed[0];
        assert_eq!((o.turn, o.status), (2, 200));
        // 8 tokens at least, 5 ms apart: the stream lasts 35 ms after its first token, which
        // the client had; the record is complete before the client saw the body end.
        assert!(o.finished - o.started >= Duration::from_millis(35), "{o:?}");
        assert!(o.finished >= first.expect("events came"), "{o:?}");
        assert!(o.finished <= ended, "{o:?}");
    })
    .await;
}

#[tokio::test]
async fn an_injected_fault_is_noted_with_its_status() {
    bounded(async {
        let faults = "[[mock.faults]]\nendpoint = \"chat\"\nkind = \"server-error\"\nprobability = 1.0\n\
                      [[mock.faults]]\nendpoint = \"tool:lookup_order\"\nkind = \"rate-limit\"\nprobability = 1.0\n";
        let mock = testkit::spawn_mock(config(true, faults)).await;
        let user = format!("hello {MARKER}");
        let answer = post(&mock, "/v1/chat/completions", &chat(&user, true, false)).await;
        assert_eq!(answer.status(), 500);
        let args = json!({"order_id": "ORD-00001 [fb:s5t2]"});
        assert_eq!(post(&mock, "/tools/lookup_order", &args).await.status(), 429);
        let args = json!({"note": "x [fb:s5t2]"});
        assert_eq!(post(&mock, "/tools/broken", &args).await.status(), 500);
        let observed = mock.server.take_observed(5);
        let got: Vec<_> = observed.iter().map(|o| (o.status, o.injected)).collect();
        assert_eq!(
            got,
            [
                (500, Some(Injected::Fault(FaultKind::ServerError))),
                (429, Some(Injected::Fault(FaultKind::RateLimit))),
                (500, Some(Injected::ToolFailure)),
            ]
        );
        observed.iter().for_each(assert_timed);
    })
    .await;
}

#[tokio::test]
async fn calls_without_a_marker_are_counted_unattributed() {
    bounded(async {
        let mock = testkit::spawn_mock(config(true, "")).await;
        let calls = tool_calls(&mock, &chat("no marker here", true, false)).await;
        for (name, args) in &calls {
            assert!(strings(args).iter().all(|s| !s.contains("[fb:")), "{args}");
            post(&mock, &format!("/tools/{name}"), args).await;
        }
        // A bad request with a marker is still attributed, with its status.
        let bad = json!({"model": "m", "messages": [], "note": MARKER});
        assert_eq!(
            post(&mock, "/v1/chat/completions", &bad).await.status(),
            400
        );
        let stats: Value = http()
            .get(mock.url("/stats"))
            .send()
            .await
            .expect("/stats")
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            stats["attribution"],
            json!({"llm_attributed": 1, "llm_unattributed": 1,
                   "tool_attributed": 0, "tool_unattributed": calls.len()})
        );
        let observed = mock.server.take_observed(5);
        assert_eq!(observed.len(), 1);
        assert_eq!(
            observed[0].call,
            ObservedCall::Llm {
                model: String::new()
            }
        );
        assert_eq!((observed[0].status, observed[0].injected), (400, None));
    })
    .await;
}

#[tokio::test]
async fn with_attribution_off_nothing_changes() {
    bounded(async {
        let off = testkit::spawn_mock(config(false, "")).await;
        let user = format!("where is my order? {MARKER}");
        let request = chat(&user, true, false);
        let calls = tool_calls(&off, &request).await;
        for (name, args) in &calls {
            assert!(strings(args).iter().all(|s| !s.contains("[fb:")), "{args}");
            post(&off, &format!("/tools/{name}"), args).await;
        }
        assert!(off.server.take_observed(5).is_empty());
        let stats: Value = http()
            .get(off.url("/stats"))
            .send()
            .await
            .expect("/stats")
            .json()
            .await
            .expect("JSON");
        assert!(stats.get("attribution").is_none(), "{stats}");
        assert_eq!(off.stats().attribution, None);
        // And on, a request without a marker gets the very bytes it gets with it off.
        let on = testkit::spawn_mock(config(true, "")).await;
        let plain = chat("where is my order?", true, false);
        let bytes = |mock: &MockHandle| {
            let request = plain.clone();
            let url = mock.url("/v1/chat/completions");
            async move {
                let answer = http()
                    .post(url)
                    .json(&request)
                    .send()
                    .await
                    .expect("an answer");
                answer.bytes().await.expect("a body")
            }
        };
        assert_eq!(bytes(&off).await, bytes(&on).await);
    })
    .await;
}

#[tokio::test]
async fn an_mcp_tool_call_with_the_marker_is_attributed() {
    bounded(async {
        let mock = testkit::spawn_mock(config(true, "")).await;
        let config = StreamableHttpClientTransportConfig::with_uri(mock.url("/mcp"));
        let transport = StreamableHttpClientTransport::with_client(http(), config);
        let client = ().serve(transport).await.expect("the MCP handshake");
        let call = |name: &str, args: Value| {
            let Value::Object(args) = args else {
                panic!("arguments are an object");
            };
            let args: JsonObject = args;
            client.call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args))
        };
        let result = call("lookup_order", json!({"order_id": "ORD-1 [fb:s7t4]"}))
            .await
            .expect("a result");
        assert_ne!(result.is_error, Some(true));
        let result = call("broken", json!({"note": "x [fb:s7t4]"}))
            .await
            .expect("a result");
        assert_eq!(result.is_error, Some(true));
        call("search", json!({"query": "no marker", "limit": 3}))
            .await
            .expect("a result");
        let observed = mock.server.take_observed(7);
        let got: Vec<_> = observed
            .iter()
            .map(|o| (o.call.clone(), o.turn, o.status, o.injected))
            .collect();
        let tool = |name: &str| ObservedCall::Tool {
            name: name.to_owned(),
        };
        assert_eq!(
            got,
            [
                (tool("lookup_order"), 4, 200, None),
                (tool("broken"), 4, 500, Some(Injected::ToolFailure)),
            ]
        );
        let counts = mock.stats().attribution.expect("attribution is on");
        assert_eq!((counts.tool_attributed, counts.tool_unattributed), (2, 1));
        client.cancel().await.expect("the session closes");
    })
    .await;
}
