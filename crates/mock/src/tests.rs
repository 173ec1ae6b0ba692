//! Handler tests without sockets: the router is called with `oneshot`, time is paused where
//! timing matters, so every expectation is exact.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::time::Instant;
use tower::ServiceExt;

use scenario::Scenario;

use crate::{Answer, MockConfig, MockServer, ResetConnection};

pub(crate) const FAST: &str = r#"
[mock]
capacity = 8
prefill_per_token = "10us"
base_latency = "50ms"
inter_token = "2ms"
output_tokens = 12
"#;

pub(crate) fn config(toml: &str) -> MockConfig {
    MockConfig::from_scenario(&Scenario::from_toml(toml, "test").unwrap_or_else(|e| panic!("{e}")))
}

pub(crate) fn with_fault(kind: &str, extra: &str) -> MockConfig {
    config(&format!(
        "{FAST}\n[[mock.faults]]\nendpoint = \"all\"\nkind = \"{kind}\"\nprobability = 1.0\n{extra}\n[tools.search]\n"
    ))
}

pub(crate) fn chat_body(stream: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "mock-gpt",
        "messages": [
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": "Where is my order ORD-12345?"}
        ],
        "stream": stream,
        "stream_options": {"include_usage": true},
        "max_tokens": 100
    }))
    .unwrap()
}

fn tool_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "mock-gpt",
        "messages": [{"role": "user", "content": "look it up"}],
        "tools": [
            {"type": "function", "function": {"name": "lookup_order", "parameters": {
                "type": "object", "properties": {"order_id": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "search", "parameters": {
                "type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}}}}
        ],
        "tool_choice": "required"
    }))
    .unwrap()
}

pub(crate) async fn post(router: &Router, path: &str, body: Vec<u8>) -> Response {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer sk-test-key")
        .body(Body::from(body))
        .unwrap();
    router.clone().oneshot(req).await.unwrap()
}

async fn get(router: &Router, path: &str) -> Response {
    router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap()
}

pub(crate) async fn json_of(resp: Response) -> Value {
    serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

/// The SSE events of a streamed body, with the (paused-clock) time each arrived.
pub(crate) async fn events(resp: Response, t0: Instant) -> Vec<(Duration, String)> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        let at = Instant::now() - t0;
        for event in std::str::from_utf8(&data)
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
        {
            out.push((at, event.strip_prefix("data: ").unwrap().to_owned()));
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn non_streaming_answer_has_openai_shape_and_usage() {
    let mock = MockServer::new(config(FAST));
    let v = json_of(post(&mock.router(), "/v1/chat/completions", chat_body(false)).await).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(content.split(' ').count(), 12);
    assert_eq!(v["usage"]["completion_tokens"], 12);
    let prompt = v["usage"]["prompt_tokens"].as_u64().unwrap();
    // two messages: 3 framing each + content + 3 priming.
    assert!(prompt > 12 && prompt < 40, "{prompt}");
    assert_eq!(v["usage"]["total_tokens"].as_u64().unwrap(), prompt + 12);
}

#[tokio::test(start_paused = true)]
async fn max_tokens_cuts_the_answer_with_length() {
    let mock = MockServer::new(config(FAST));
    let mut body: Value = serde_json::from_slice(&chat_body(false)).unwrap();
    body["max_tokens"] = json!(5);
    let v = json_of(
        post(
            &mock.router(),
            "/v1/chat/completions",
            serde_json::to_vec(&body).unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);
}

#[tokio::test(start_paused = true)]
async fn stream_concatenates_to_the_planned_text_and_ends_with_usage_and_done() {
    let cfg = config(FAST);
    let body = chat_body(true);
    let planned = Answer::plan(&cfg, &body).unwrap();
    let mock = MockServer::new(cfg);
    let resp = post(&mock.router(), "/v1/chat/completions", body).await;
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let evs = events(resp, Instant::now()).await;
    assert_eq!(evs.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = evs[..evs.len() - 1]
        .iter()
        .map(|(_, e)| serde_json::from_str(e).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, planned.text());
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 12);
}

#[tokio::test(start_paused = true)]
async fn streamed_tool_calls_reassemble_to_the_non_streamed_ones() {
    let mock = MockServer::new(config(FAST));
    let v = json_of(post(&mock.router(), "/v1/chat/completions", tool_body()).await).await;
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
    let calls = v["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!calls.is_empty());

    let mut streamed: Value = serde_json::from_slice(&tool_body()).unwrap();
    streamed["stream"] = json!(true);
    // A different body is a different request, so compare with that request's own plan.
    let body = serde_json::to_vec(&streamed).unwrap();
    let planned = Answer::plan(mock.config(), &body).unwrap();
    let evs = events(
        post(&mock.router(), "/v1/chat/completions", body).await,
        Instant::now(),
    )
    .await;
    let mut rebuilt: Vec<(String, String, String)> = Vec::new();
    for (_, e) in &evs[..evs.len() - 1] {
        let c: Value = serde_json::from_str(e).unwrap();
        for d in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = usize::try_from(d["index"].as_u64().unwrap()).unwrap();
            if let Some(id) = d["id"].as_str() {
                assert_eq!(i, rebuilt.len());
                rebuilt.push((
                    id.to_owned(),
                    d["function"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            rebuilt[i]
                .2
                .push_str(d["function"]["arguments"].as_str().unwrap());
        }
    }
    let want: Vec<(String, String, String)> = planned
        .tool_calls
        .iter()
        .map(|c| (c.id.clone(), c.name.clone(), c.arguments.clone()))
        .collect();
    assert_eq!(rebuilt, want);
    for (_, name, args) in &rebuilt {
        let args: Value = serde_json::from_str(args).unwrap();
        assert!(["lookup_order", "search"].contains(&name.as_str()));
        assert!(args.is_object());
    }
    assert_eq!(
        planned.completion_tokens() as usize,
        planned.emissions().len()
    );
}

#[tokio::test(start_paused = true)]
async fn latency_follows_the_model_exactly() {
    let cfg = config(
        r#"
[mock]
capacity = 4
prefill_per_token = "100us"
base_latency = { dist = "lognormal", median = "80ms", p95 = "300ms" }
inter_token = { dist = "uniform", min = "2ms", max = "9ms" }
output_tokens = 20
"#,
    );
    let body = chat_body(true);
    let plan = Answer::plan(&cfg, &body).unwrap();
    assert_eq!(
        plan.timing.prefill,
        Duration::from_micros(100) * plan.prompt_tokens
    );
    let mock = MockServer::new(cfg);
    let t0 = Instant::now();
    let evs = events(post(&mock.router(), "/v1/chat/completions", body).await, t0).await;
    let token_times: Vec<Duration> = evs.iter().take(20).map(|(at, _)| *at).collect();
    // Token k is due at TTFT + the first k gaps (absolute deadlines), and comes out on the
    // first tick of tokio's 1 ms timer at or after that: the error stays under 1 ms and never
    // accumulates.
    let mut due = plan.timing.ttft();
    let mut want = vec![ceil_ms(due)];
    for gap in &plan.timing.gaps {
        due += *gap;
        want.push(ceil_ms(due));
    }
    assert_eq!(token_times, want);
    assert_eq!(token_times[19], ceil_ms(plan.timing.total()));
    assert!(
        plan.timing
            .gaps
            .iter()
            .any(|g| g.subsec_nanos() % 1_000_000 != 0),
        "the test needs sub-millisecond gaps"
    );
}

#[tokio::test(start_paused = true)]
async fn requests_beyond_capacity_queue() {
    let mock = MockServer::new(config(
        "[mock]\ncapacity = 1\nprefill_per_token = \"0s\"\nbase_latency = \"100ms\"\ninter_token = \"10ms\"\noutput_tokens = 5\n",
    ));
    let router = mock.router();
    let t0 = Instant::now();
    let one = async {
        let r = post(&router, "/v1/chat/completions", chat_body(false)).await;
        assert_eq!(r.status(), StatusCode::OK);
        Instant::now() - t0
    };
    let two = async {
        let r = post(&router, "/v1/chat/completions", chat_body(false)).await;
        assert_eq!(r.status(), StatusCode::OK);
        Instant::now() - t0
    };
    let (a, b) = tokio::join!(one, two);
    // Each answer holds the only slot for 100 ms + 4 × 10 ms.
    let mut done = [a, b];
    done.sort();
    assert_eq!(
        done,
        [Duration::from_millis(140), Duration::from_millis(280)]
    );
    let stats = mock.stats();
    assert_eq!(stats.by_model["mock-gpt"].max_in_flight, 2);
    assert_eq!(stats.by_model["mock-gpt"].in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_fault_sends_429_with_retry_after() {
    let mock = MockServer::new(with_fault("rate-limit", "retry_after = \"2s\""));
    let resp = post(&mock.router(), "/v1/chat/completions", chat_body(false)).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
    let v = json_of(resp).await;
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(mock.stats().faults["rate-limit"], 1);
}

#[tokio::test(start_paused = true)]
async fn status_faults_use_the_openai_error_shape() {
    for (kind, status) in [("server-error", 500), ("unavailable", 503)] {
        let mock = MockServer::new(with_fault(kind, ""));
        for path in ["/v1/chat/completions", "/tools/search"] {
            let resp = post(&mock.router(), path, chat_body(false)).await;
            assert_eq!(resp.status().as_u16(), status, "{kind} {path}");
            let v = json_of(resp).await;
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("injected fault")
            );
            assert_eq!(v["error"]["type"], "server_error");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn reset_and_stall_end_in_a_reset_marker() {
    let mock = MockServer::new(with_fault("reset", ""));
    let resp = post(&mock.router(), "/v1/chat/completions", chat_body(false)).await;
    assert_eq!(
        resp.extensions().get::<ResetConnection>(),
        Some(&ResetConnection)
    );

    let mock = MockServer::new(with_fault("stall", ""));
    let mut cfg = with_fault("stall", "");
    cfg.llm.stall_limit = scenario::Dur::secs(7);
    let mock2 = MockServer::new(cfg);
    let t0 = Instant::now();
    let resp = post(&mock2.router(), "/v1/chat/completions", chat_body(false)).await;
    assert_eq!(Instant::now() - t0, Duration::from_secs(7));
    assert!(resp.extensions().get::<ResetConnection>().is_some());
    // A client that gives up first never sees a byte.
    let gave_up = tokio::time::timeout(
        Duration::from_secs(2),
        post(&mock.router(), "/tools/search", b"{}".to_vec()),
    )
    .await;
    assert!(gave_up.is_err());
}

#[tokio::test(start_paused = true)]
async fn truncated_bodies_fail_midway() {
    let mock = MockServer::new(with_fault("truncate", ""));
    for (path, body) in [
        ("/v1/chat/completions", chat_body(false)),
        ("/v1/chat/completions", chat_body(true)),
        ("/tools/search", b"{\"q\":1}".to_vec()),
    ] {
        let resp = post(&mock.router(), path, body).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.into_body().collect().await.is_err(),
            "{path} should be cut"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn malformed_bodies_are_not_json() {
    let mock = MockServer::new(with_fault("malformed", ""));
    let resp = post(&mock.router(), "/v1/chat/completions", chat_body(false)).await;
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());
    let resp = post(&mock.router(), "/v1/chat/completions", chat_body(true)).await;
    let evs = events(resp, Instant::now()).await;
    let bad = evs
        .iter()
        .filter(|(_, e)| *e != "[DONE]" && serde_json::from_str::<Value>(e).is_err())
        .count();
    assert_eq!(bad, 1);
    assert_eq!(evs.last().unwrap().1, "[DONE]");
}

#[tokio::test(start_paused = true)]
async fn slow_first_token_adds_its_delay() {
    let cfg = with_fault("slow-first-token", "delay = \"3s\"");
    let body = chat_body(true);
    let plan = Answer::plan(&cfg, &body).unwrap();
    let mock = MockServer::new(cfg);
    let t0 = Instant::now();
    let evs = events(post(&mock.router(), "/v1/chat/completions", body).await, t0).await;
    assert_eq!(
        evs[0].0,
        ceil_ms(plan.timing.ttft() + Duration::from_secs(3))
    );
}

/// The first millisecond tick at or after `d` (tokio's timer resolution).
fn ceil_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap())
}

#[tokio::test(start_paused = true)]
async fn tools_answer_by_arguments_and_fail_at_their_rate() {
    let mock = MockServer::new(config(
        "[tools.search]\nmock = { latency = \"40ms\", response_tokens = 30 }\n[tools.flaky]\nmock = { latency = \"5ms\", failure_rate = 0.5 }\n",
    ));
    let router = mock.router();
    let t0 = Instant::now();
    let a = json_of(post(&router, "/tools/search", b"{\"q\":\"refund\"}".to_vec()).await).await;
    assert_eq!(Instant::now() - t0, Duration::from_millis(40));
    let b = json_of(post(&router, "/tools/search", b"{\"q\":\"refund\"}".to_vec()).await).await;
    let c = json_of(post(&router, "/tools/search", b"{\"q\":\"other\"}".to_vec()).await).await;
    assert_eq!(a, b, "same arguments, same result");
    assert_ne!(a["output"], c["output"]);
    assert_eq!(a["tokens"], 30);
    assert_eq!(a["output"].as_str().unwrap().split(' ').count(), 30);
    let mut failures = 0;
    for _ in 0..200 {
        let r = post(&router, "/tools/flaky", b"{}".to_vec()).await;
        if r.status() == StatusCode::INTERNAL_SERVER_ERROR {
            assert_eq!(json_of(r).await["error"]["code"], "tool_failed");
            failures += 1;
        }
    }
    assert!((70..=130).contains(&failures), "{failures}");
    let r = post(&router, "/tools/nope", b"{}".to_vec()).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        json_of(r).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("flaky, search")
    );
}

#[tokio::test(start_paused = true)]
async fn models_stats_and_errors() {
    let mock = MockServer::new(config("[mock]\nmodels = [\"other-model\"]\n"));
    let router = mock.router();
    let v = json_of(get(&router, "/v1/models").await).await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mock-gpt", "other-model"]);

    let bad = post(&router, "/v1/chat/completions", b"{\"model\": 3}".to_vec()).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(bad).await["error"]["type"], "invalid_request_error");
    let empty = post(
        &router,
        "/v1/chat/completions",
        b"{\"model\":\"m\",\"messages\":[]}".to_vec(),
    )
    .await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        get(&router, "/nowhere").await.status(),
        StatusCode::NOT_FOUND
    );

    post(&router, "/v1/chat/completions", chat_body(false)).await;
    let resp = get(&router, "/stats").await;
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        !text.contains("sk-test-key"),
        "the key itself must never be reported"
    );
    let stats: crate::StatsSnapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(stats.chat_requests, 1);
    let key = crate::key_fingerprint(Some("sk-test-key"));
    assert_eq!(stats.by_key[&key].requests, 1);
    assert!(stats.by_key[&key].max_tokens_1s > 0);
}

fn run_paused<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

async fn answer_bytes(cfg: MockConfig, body: Vec<u8>) -> Bytes {
    let mock = MockServer::new(cfg);
    post(&mock.router(), "/v1/chat/completions", body)
        .await
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn same_seed_same_response(seed in any::<u64>(), user in "[a-z ]{1,80}", stream in any::<bool>(), tools in any::<bool>()) {
        let mut cfg = config(FAST);
        cfg.seed = seed;
        cfg.llm.tool_call_probability = scenario::Probability(0.5);
        let mut body: Value = serde_json::from_slice(&if tools { tool_body() } else { chat_body(stream) }).unwrap();
        body["messages"][0]["content"] = json!(user);
        body["tool_choice"] = json!("auto");
        body["stream"] = json!(stream);
        let body = serde_json::to_vec(&body).unwrap();
        let (a, b) = run_paused(async {
            (answer_bytes(cfg.clone(), body.clone()).await, answer_bytes(cfg.clone(), body.clone()).await)
        });
        prop_assert_eq!(a, b);
    }
}
