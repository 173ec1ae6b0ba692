//! The client stack over TLS against the mock on loopback, with certificates made at test
//! time (`testkit::tls`): a provider at `https://127.0.0.1:PORT/v1` with `ca_cert` and the
//! embedded mock over TLS are served, streamed and whole; every certificate or handshake
//! failure (another CA, an expired certificate, another host name, a plain-HTTP server spoken
//! to with https) is `tls`, tried once, and a refused connection stays `connect`; a CA file
//! that does not parse fails the build naming the endpoint, the file and a fix.
//!
//! Every test runs under a 20 s `tokio::time::timeout`; nothing sleeps to wait.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use async_openai::types::chat::{ChatCompletionRequestMessage, ChatCompletionRequestUserMessage};
use fleetbench_clients::{BuildError, CallRecord, Clients, Embedded, ErrorKind, LlmRequest};
use mock::MockConfig;
use scenario::Scenario;
use testkit::tls::{ServerCert, TempDir, TestCa, self_signed};

const LIMIT: Duration = Duration::from_secs(20);
const NAMES: &[&str] = &["127.0.0.1", "localhost"];

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test took longer than 20 s")
}

/// One provider `p` with `provider` keys (`base_url`, `ca_cert`, ...), three attempts at most,
/// and a fast mock.
fn scenario(provider: &str) -> Scenario {
    testkit::scenario(&format!(
        r#"
[mock]
capacity = 1000
tokenizer = "chars"
prefill_per_token = "0s"
base_latency = "1ms"
inter_token = "0s"
output_tokens = 10

[[llm.providers]]
name = "p"
model = "m"
timeout = "5s"
deadline = "10s"
retry = {{ max_attempts = 3, initial_backoff = "1ms" }}
breaker = {{ enabled = false }}
{provider}
"#
    ))
}

fn request() -> LlmRequest {
    let message: ChatCompletionRequestMessage =
        ChatCompletionRequestUserMessage::from("hello over TLS").into();
    LlmRequest {
        messages: vec![message],
        tools: Default::default(),
        max_tokens: 20,
        prompt_tokens: 5,
    }
}

/// One call through the whole stack.
async fn call(clients: &Clients) -> (CallRecord, Result<(), ErrorKind>) {
    let (record, result) = clients.llm.call(&request(), 1).await;
    (record, result.map(|_| ()))
}

/// The clients of provider `p` at `base_url`, trusting `ca` (a PEM file) if given.
fn https_clients(base_url: &str, ca: Option<&Path>, stream: bool) -> Clients {
    let ca = ca
        .map(|p| format!("ca_cert = {:?}\n", p.display().to_string()))
        .unwrap_or_default();
    let s = scenario(&format!(
        "base_url = \"{base_url}\"\nstream = {stream}\n{ca}"
    ));
    Clients::build(&s, &Embedded::Http(String::new())).expect("the clients build")
}

#[tokio::test]
async fn a_provider_with_ca_cert_is_served_streamed_and_whole() {
    bounded(async {
        let dir = TempDir::new();
        let ca = TestCa::new("provider CA");
        let ca_file = dir.write("ca.pem", &ca.pem);
        let mock = testkit::spawn_tls_mock(MockConfig::default(), &ca.server(NAMES)).await;
        for stream in [false, true] {
            let clients = https_clients(&mock.base_url, Some(&ca_file), stream);
            let (record, result) = call(&clients).await;
            assert_eq!(result, Ok(()), "{record:?}");
            assert_eq!(record.attempts.len(), 1);
            assert!(record.tokens_out > 0, "{record:?}");
        }
        assert_eq!(mock.stats().chat_requests, 2);
    })
    .await;
}

#[tokio::test]
async fn the_embedded_mock_over_tls_is_trusted_through_its_own_certificate() {
    bounded(async {
        let dir = TempDir::new();
        let ca = TestCa::new("embedded CA");
        // A chain ending in its CA, and a self-signed certificate: both trusted as they are.
        for (name, cert) in [("chain", ca.server(NAMES)), ("self", self_signed(NAMES))] {
            let mock = testkit::spawn_tls_mock(MockConfig::default(), &cert).await;
            let cert_file = dir.write(&format!("{name}.pem"), &cert.chain_pem);
            let embedded = Embedded::Https {
                base: format!("https://{}", mock.addr),
                cert: cert_file,
            };
            let s = scenario("base_url = \"embedded\"\n");
            let clients = Clients::build(&s, &embedded).expect("the clients build");
            let (record, result) = call(&clients).await;
            assert_eq!(result, Ok(()), "{name}: {record:?}");
            assert_eq!(mock.stats().chat_requests, 1, "{name}");
        }
    })
    .await;
}

/// The kind and attempts of one call to a server presenting `cert`, trusting `trusted`.
async fn failure_with(cert: &ServerCert, trusted: &str) -> (ErrorKind, usize) {
    let dir = TempDir::new();
    let ca_file = dir.write("ca.pem", trusted);
    let mock = testkit::spawn_tls_mock(MockConfig::default(), cert).await;
    let clients = https_clients(&mock.base_url, Some(&ca_file), false);
    let (record, result) = call(&clients).await;
    assert_eq!(mock.stats().chat_requests, 0, "no request got through");
    (result.expect_err("a TLS failure"), record.attempts.len())
}

#[tokio::test]
async fn certificate_failures_are_tls_and_not_retried() {
    bounded(async {
        let ca = TestCa::new("the server's CA");
        let cases = [
            (
                "another CA",
                ca.server(NAMES),
                TestCa::new("another CA").pem,
            ),
            ("expired", ca.expired_server(NAMES), ca.pem.clone()),
            (
                "another host name",
                ca.server(&["fleetbench.invalid"]),
                ca.pem.clone(),
            ),
        ];
        for (case, cert, trusted) in cases {
            let (kind, attempts) = failure_with(&cert, &trusted).await;
            assert_eq!(kind, ErrorKind::Tls, "{case}");
            assert_eq!(attempts, 1, "{case}: a TLS failure is not retried");
        }
    })
    .await;
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_tls_and_a_refused_connection_connect() {
    bounded(async {
        let dir = TempDir::new();
        let ca_file = dir.write("ca.pem", TestCa::new("unused CA").pem);
        let plain = testkit::spawn_mock(MockConfig::default()).await;
        let url = format!("https://{}/v1", plain.addr);
        let (record, result) = call(&https_clients(&url, Some(&ca_file), false)).await;
        assert_eq!(result, Err(ErrorKind::Tls), "{record:?}");

        // A port nothing listens on (bound, then closed).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("an address");
        drop(listener);
        let url = format!("https://{addr}/v1");
        let (record, result) = call(&https_clients(&url, Some(&ca_file), false)).await;
        assert_eq!(result, Err(ErrorKind::Connect), "{record:?}");
    })
    .await;
}

#[test]
fn a_ca_file_that_does_not_parse_fails_the_build_with_a_fix() {
    let dir = TempDir::new();
    let bad = dir.write(
        "bad.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let s = scenario(&format!(
        "base_url = \"https://127.0.0.1:9/v1\"\nca_cert = {:?}\n",
        bad.display().to_string()
    ));
    let err = Clients::build(&s, &Embedded::Http(String::new())).expect_err("an unusable CA");
    assert!(matches!(err, BuildError::CaCert { .. }), "{err:?}");
    let message = err.to_string();
    for part in ["`p`", "ca_cert", "bad.pem", "point ca_cert at a PEM file"] {
        assert!(message.contains(part), "{part} in {message}");
    }

    let embedded = Embedded::Https {
        base: "https://127.0.0.1:9".to_owned(),
        cert: bad,
    };
    let err = Clients::build(&scenario("base_url = \"embedded\"\n"), &embedded)
        .expect_err("an unusable mock certificate");
    assert!(err.to_string().contains("mock.tls_cert"), "{err}");
}
