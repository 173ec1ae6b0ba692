use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::scenario;

/// Kills the server even when an assertion fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_answers_openai_requests_on_loopback() {
    let child = Command::new(assert_cmd::cargo::cargo_bin("fleetbench"))
        .args(["serve", "--port", "0", "--scenario"])
        .arg(scenario("smoke.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Keep reading so the server never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    // reqwest is built without a bundled rustls provider: one is installed first.
    clients::install_crypto_provider();
    let client = reqwest::Client::new();
    let call = client
        .post(format!("{base}/chat/completions"))
        .json(&serde_json::json!({"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    let resp = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let models: serde_json::Value = client
        .get(format!("{base}/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "mock-gpt");
    // What it served, in the Prometheus text format.
    let root = base.strip_suffix("/v1").expect("the base URL ends in /v1");
    let metrics = client
        .get(format!("{root}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "fleetbench_mock_requests_total{endpoint=\"chat\"} 1"),
        "{metrics}"
    );
}
