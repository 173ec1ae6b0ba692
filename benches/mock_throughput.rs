//! Mock throughput on loopback: requests per second the built-in mock answers, non-streaming
//! (JSON) and streaming (SSE), with the latency model set to zero so the number measures the
//! server's own cost (HTTP, JSON, SSE framing, token counting, stats) plus the client's.
//!
//! `cargo bench --bench mock_throughput` (env: `BENCH_SECS` per case, default 5;
//! `BENCH_CONCURRENCY`, default 64). Client and server share the machine's cores, so the
//! numbers are a lower bound of what the mock alone sustains; see docs/performance.md.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mock::{MockConfig, MockServer};
use tokio::net::TcpListener;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn body(stream: bool) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": "mock-gpt",
        "messages": [
            {"role": "system", "content": "You are a concise support agent for an online shop."},
            {"role": "user", "content": "Where is my order ORD-48213? It was due last Tuesday and the tracking page is empty."}
        ],
        "stream": stream,
        "stream_options": {"include_usage": true},
        "max_tokens": 64
    }))
    .unwrap()
}

async fn run_case(url: &str, stream: bool, concurrency: u64, secs: u64) -> (f64, u64) {
    // reqwest is built without a bundled rustls provider: one is installed first.
    clients::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()
        .unwrap();
    let body = Arc::new(body(stream));
    let done = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, body, done, bytes, url) = (
                client.clone(),
                body.clone(),
                done.clone(),
                bytes.clone(),
                url.to_owned(),
            );
            tokio::spawn(async move {
                while Instant::now() < end {
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.to_vec())
                        .send()
                        .await
                        .unwrap();
                    assert!(resp.status().is_success());
                    let n = resp.bytes().await.unwrap().len() as u64;
                    bytes.fetch_add(n, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    (n as f64 / elapsed, bytes.load(Ordering::Relaxed) / n.max(1))
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: do a tiny smoke run instead.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let secs = if smoke { 1 } else { env_u64("BENCH_SECS", 5) };
    let concurrency = env_u64("BENCH_CONCURRENCY", 64);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let scenario = scenario::load(&testkit::scenario_fixture("zero-latency.toml")).unwrap();
        let server = MockServer::new(MockConfig::from_scenario(&scenario));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(mock::serve_with(listener, server.clone(), async move {
            let _ = stop_rx.await;
        }));
        let url = format!("http://{addr}/v1/chat/completions");
        println!("mock throughput on loopback: {concurrency} keep-alive connections, {secs} s per case, {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));
        println!("{:<28} {:>12} {:>14}", "case", "requests/s", "bytes/response");
        for (name, stream) in [("chat, non-streaming (JSON)", false), ("chat, streaming (SSE)", true)] {
            let (rps, size) = run_case(&url, stream, concurrency, secs).await;
            println!("{name:<28} {rps:>12.0} {size:>14}");
        }
        let stats = server.stats();
        println!("mock counted {} chat requests, {} completion tokens", stats.chat_requests, stats.completion_tokens);
        let _ = stop_tx.send(());
        serving.await.unwrap().unwrap();
    });
}
