//! The mock over TLS on loopback (`serve_tls`), with certificates made at test time
//! (`testkit::tls`) and reqwest as the client: h2 negotiated by ALPN (and HTTP/1.1 for a
//! client that offers only that), the same answers as plain HTTP, a `reset` fault still a
//! connection reset, a client that does not trust the certificate turned away without
//! stopping the server, a connection that never starts its handshake closed at the idle
//! timeout, and unusable certificate files refused with what to fix.
//!
//! Every test runs under a 20 s `tokio::time::timeout`; nothing sleeps to wait.

use std::future::Future;
use std::io;
use std::time::Duration;

use fleetbench_mock as mock;
use mock::{MockConfig, TlsConfig};
use serde_json::{Value, json};
use testkit::MockHandle;
use testkit::tls::{ServerCert, TempDir, TestCa};
use tokio::io::AsyncReadExt;

const LIMIT: Duration = Duration::from_secs(20);
const NAMES: &[&str] = &["127.0.0.1", "localhost"];

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test took longer than 20 s")
}

/// A fast mock; `mock_extra` goes at the end of `[mock]`.
fn config(mock_extra: &str) -> MockConfig {
    let s = testkit::scenario(&format!(
        "seed = 3\n[mock]\ncapacity = 1000\nbase_latency = \"1ms\"\ninter_token = \"0s\"\nprefill_per_token = \"0s\"\noutput_tokens = 8\ntokenizer = \"chars\"\n{mock_extra}"
    ));
    MockConfig::from_scenario(&s)
}

/// A mock over TLS presenting a certificate of a new CA; returns the CA's PEM too.
async fn tls_mock(mock_extra: &str) -> (MockHandle, String) {
    let ca = TestCa::new("fleetbench mock test CA");
    let mock = testkit::spawn_tls_mock(config(mock_extra), &ca.server(NAMES)).await;
    (mock, ca.pem)
}

/// A reqwest client trusting exactly `ca_pem`.
fn https(ca_pem: &str) -> reqwest::ClientBuilder {
    let roots = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).expect("the CA's PEM");
    reqwest::Client::builder().no_proxy().tls_certs_only(roots)
}

fn chat_body(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hello over TLS"}]})
}

#[tokio::test]
async fn h2_is_negotiated_by_alpn_and_http1_still_served() {
    bounded(async {
        let (mock, ca) = tls_mock("").await;
        assert!(mock.base_url.starts_with("https://"), "{}", mock.base_url);
        let h2 = https(&ca).build().expect("client");
        let response = h2.get(mock.url("/v1/models")).send().await.expect("served");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_2);

        let h1 = https(&ca).http1_only().build().expect("client");
        let response = h1.get(mock.url("/v1/models")).send().await.expect("served");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
        mock.stop().await.expect("a graceful stop");
    })
    .await;
}

#[tokio::test]
async fn answers_are_those_of_plain_http_whole_and_streamed() {
    bounded(async {
        let (mock, ca) = tls_mock("").await;
        let plain = testkit::spawn_mock(config("")).await;
        let over_tls = https(&ca).build().expect("client");
        let over_tcp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        for stream in [false, true] {
            let post = |client: &reqwest::Client, base: &str| {
                client
                    .post(format!("{base}/chat/completions"))
                    .json(&chat_body(stream))
                    .send()
            };
            let a = post(&over_tls, &mock.base_url).await.expect("served");
            let b = post(&over_tcp, &plain.base_url).await.expect("served");
            assert_eq!(a.status(), 200);
            let (a, b) = (a.text().await.expect("body"), b.text().await.expect("body"));
            // The same seed gives the same answer; only ids and timestamps differ.
            let words = |s: &str| s.matches("content").count();
            assert_eq!(words(&a), words(&b), "{a}\n{b}");
            if stream {
                assert!(a.trim_end().ends_with("data: [DONE]"), "{a}");
            }
        }
        assert_eq!(mock.stats().chat_requests, 2);
    })
    .await;
}

#[tokio::test]
async fn a_reset_fault_is_a_connection_reset_not_a_tls_error() {
    bounded(async {
        let (mock, ca) =
            tls_mock("[[mock.faults]]\nendpoint = \"chat\"\nkind = \"reset\"\nprobability = 1.0\n")
                .await;
        for client in [
            https(&ca).build().expect("h2 client"),
            https(&ca).http1_only().build().expect("h1 client"),
        ] {
            let result = client
                .post(format!("{}/chat/completions", mock.base_url))
                .json(&chat_body(false))
                .send()
                .await;
            let err = result.expect_err("the connection is reset");
            let chain: Vec<&(dyn std::error::Error + 'static)> =
                std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .collect();
            assert!(
                !chain
                    .iter()
                    .any(|e| e.downcast_ref::<rustls::Error>().is_some()
                        || e.downcast_ref::<io::Error>()
                            .and_then(io::Error::get_ref)
                            .is_some_and(|inner| inner.is::<rustls::Error>())),
                "not a TLS failure: {err:?}"
            );
        }
        assert_eq!(
            mock.stats().chat_requests,
            2,
            "each request was answered by a reset"
        );
    })
    .await;
}

#[tokio::test]
async fn a_client_of_another_ca_is_turned_away_and_the_server_serves_on() {
    bounded(async {
        let (mock, ca) = tls_mock("").await;
        let stranger = https(&TestCa::new("another CA").pem)
            .build()
            .expect("client");
        let err = stranger
            .get(mock.url("/v1/models"))
            .send()
            .await
            .expect_err("the certificate is not trusted");
        assert!(
            format!("{err:?}").contains("UnknownIssuer"),
            "an unknown issuer: {err:?}"
        );
        let friend = https(&ca).build().expect("client");
        let ok = friend
            .get(mock.url("/v1/models"))
            .send()
            .await
            .expect("served");
        assert_eq!(ok.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn a_connection_that_never_starts_its_handshake_is_closed_at_the_idle_timeout() {
    bounded(async {
        let ca = TestCa::new("idle CA");
        let mut config = config("");
        config.idle_timeout = Duration::from_millis(200);
        let mock = testkit::spawn_tls_mock(config, &ca.server(NAMES)).await;
        let mut silent = tokio::net::TcpStream::connect(mock.addr)
            .await
            .expect("connect");
        let mut buf = [0_u8; 16];
        // The server closes it: end of file (or a reset), well within the test's bound.
        let read = silent.read(&mut buf).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    })
    .await;
}

#[test]
fn unusable_files_are_refused_with_a_fix() {
    let dir = TempDir::new();
    let ca = TestCa::new("files CA");
    let ServerCert { chain_pem, key_pem } = ca.server(NAMES);
    let cert = dir.write("cert.pem", &chain_pem);
    let key = dir.write("key.pem", &key_pem);
    TlsConfig::from_pem_files(&cert, &key).expect("a certificate and its key serve");

    let other_key = dir.write("other.pem", ca.server(NAMES).key_pem);
    let err = TlsConfig::from_pem_files(&cert, &other_key).expect_err("not its key");
    assert!(err.to_string().contains("private key"), "{err}");

    let err = TlsConfig::from_pem_files(&key, &key).expect_err("a key is no certificate");
    assert!(err.to_string().contains("BEGIN CERTIFICATE"), "{err}");

    let err =
        TlsConfig::from_pem_files(&dir.path().join("missing.pem"), &key).expect_err("no such file");
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
