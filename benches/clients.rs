//! What the client stack costs and carries.
//!
//! 1. Cost per call in-process: the same chat call made N times on a paused current-thread
//!    runtime (the mock's latencies take no wall time), once straight into the mock's router
//!    and once through the whole stack (routing, breaker, pool, limiter, timeouts, async-openai
//!    request building and SSE parsing, the call record). The difference is what the stack
//!    adds per call.
//! 2. Calls per second over loopback HTTP: 1,000 concurrent callers through the stack against
//!    the zero-latency mock, for `BENCH_SECS` (default 5).
//!
//! `cargo bench --bench clients`

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_openai::types::chat::{ChatCompletionRequestMessage, ChatCompletionRequestUserMessage};
use axum::body::Body;
use clients::{Clients, Embedded, LlmRequest};
use http_body_util::BodyExt;
use mock::{MockConfig, MockServer};
use scenario::Scenario;
use tower::ServiceExt;

fn scenario(stream: bool) -> Scenario {
    let mut s = scenario::load(&testkit::scenario_fixture("zero-latency.toml")).unwrap();
    s.llm.providers[0].stream = stream;
    s
}

fn request() -> LlmRequest {
    let message: ChatCompletionRequestMessage = ChatCompletionRequestUserMessage::from(
        "Where is my order ORD-48213? It was due last Tuesday.",
    )
    .into();
    LlmRequest {
        messages: vec![message],
        tools: Default::default(),
        max_tokens: 64,
        prompt_tokens: 20,
    }
}

fn body(stream: bool) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": "mock-gpt",
        "messages": [{"role": "user", "content": "Where is my order ORD-48213? It was due last Tuesday."}],
        "max_completion_tokens": 64,
        "stream": stream,
        "stream_options": if stream { serde_json::json!({"include_usage": true}) } else { serde_json::Value::Null }
    }))
    .unwrap()
}

/// Microseconds per call: (straight into the router, through the stack).
fn in_process(stream: bool, n: u32) -> (f64, f64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let s = scenario(stream);
        let server = MockServer::new(MockConfig::from_scenario(&s));
        let router = server.router();
        let raw = body(stream);
        let start = Instant::now();
        for _ in 0..n {
            let req = axum::http::Request::post("/v1/chat/completions")
                .header("content-type", "application/json")
                .body(Body::from(raw.clone()))
                .unwrap();
            let resp = router.clone().oneshot(req).await.unwrap();
            resp.into_body().collect().await.unwrap();
        }
        let direct = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        let clients = Clients::build(&s, &Embedded::InProcess(server.clone())).unwrap();
        let req = request();
        let start = Instant::now();
        for i in 0..n {
            let (_, result) = clients.llm.call(&req, u64::from(i)).await;
            result.unwrap();
        }
        let stacked = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        (direct, stacked)
    })
}

fn loopback(stream: bool, callers: u64, secs: u64) -> f64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let s = scenario(stream);
        let mock = testkit::spawn_mock(MockConfig::from_scenario(&s)).await;
        let clients =
            Arc::new(Clients::build(&s, &Embedded::Http(format!("http://{}", mock.addr))).unwrap());
        let done = Arc::new(AtomicU64::new(0));
        let end = Instant::now() + Duration::from_secs(secs);
        let start = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|c| {
                let (clients, done) = (clients.clone(), done.clone());
                tokio::spawn(async move {
                    let req = request();
                    let mut i = 0;
                    while Instant::now() < end {
                        let (_, result) = clients.llm.call(&req, c * 1_000_000 + i).await;
                        result.unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    })
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (n, secs) = if smoke {
        (200, 1)
    } else {
        (
            20_000,
            std::env::var("BENCH_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
        )
    };
    println!("client stack cost, in-process, paused clock, {n} sequential calls, 16-token answers");
    println!(
        "{:<14} {:>16} {:>16} {:>14}",
        "mode", "router µs/call", "stack µs/call", "stack adds µs"
    );
    for (name, stream) in [("streaming", true), ("non-streaming", false)] {
        let (direct, stacked) = in_process(stream, n);
        println!(
            "{name:<14} {direct:>16.1} {stacked:>16.1} {:>14.1}",
            stacked - direct
        );
    }
    println!(
        "\ncalls/s through the stack over loopback HTTP, 1,000 concurrent callers, {secs} s, zero-latency mock"
    );
    for (name, stream) in [("streaming", true), ("non-streaming", false)] {
        println!("{name:<14} {:>10.0}", loopback(stream, 1000, secs));
    }
}
