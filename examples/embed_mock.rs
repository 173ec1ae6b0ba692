//! Embedding the mock in your own test: build it from a scenario, call it in-process with no
//! sockets (as the virtual clock does), then serve it on a loopback port for an HTTP client.
//!
//! `cargo run --example embed_mock`

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use mock::{MockConfig, MockServer};
use scenario::Scenario;
use tower::ServiceExt;

const SCENARIO: &str = r#"
name = "embedded-example"

[mock]
base_latency = "20ms"
inter_token = "1ms"
output_tokens = 8

[tools.search]
args = { query = "string" }
mock = { latency = "10ms", response_tokens = 12 }
"#;

#[tokio::main]
async fn main() {
    let scenario = Scenario::from_toml(SCENARIO, "example").expect("the example scenario is valid");
    let server = MockServer::new(MockConfig::from_scenario(&scenario));

    // In-process: the router is a tower Service.
    let request = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"model":"mock-gpt","messages":[{"role":"user","content":"hello"}]}"#,
        ))
        .unwrap();
    let response = server.router().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    println!("in-process answer: {}", String::from_utf8_lossy(&body));

    // Over loopback, for clients in any language.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(mock::serve_with(listener, server.clone(), async move {
        let _ = stopped.await;
    }));
    // reqwest is built with rustls but no bundled crypto provider: install one (ring) first.
    clients::install_crypto_provider();
    let tool = reqwest::Client::new()
        .post(format!("http://{addr}/tools/search"))
        .json(&serde_json::json!({"query": "refund policy"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!("tool answer over http://{addr}: {tool}");
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    println!(
        "the mock saw {} chat and {} tool requests",
        server.stats().chat_requests,
        server.stats().tool_requests
    );
}
