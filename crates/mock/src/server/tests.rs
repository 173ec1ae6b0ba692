//! Connection limits: one connection served over an in-memory pipe with paused time (exact
//! timings, no sockets), and many slow connections against `serve_with` on loopback.

use std::time::Duration;

use axum::http::StatusCode;
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::*;
use crate::tests::{FAST, config};

/// A connection to `mock`, served as `serve_with` serves one; its task ends when it closes.
fn open(mock: &MockServer) -> (DuplexStream, JoinHandle<()>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let ends = Ends {
        router: mock.router(),
        reset: Arc::default(),
        idle: IDLE_TIMEOUT,
        stop: CancellationToken::new(),
        kill: CancellationToken::new(),
    };
    let served = connection(&builder(IDLE_TIMEOUT), TokioIo::new(server), ends);
    (client, tokio::spawn(served))
}

/// Reads until the server closes the connection (within a virtual hour); returns what it
/// sent and when it closed.
async fn until_closed(client: &mut DuplexStream) -> (String, Instant) {
    let mut sent = Vec::new();
    tokio::time::timeout(Duration::from_secs(3600), client.read_to_end(&mut sent))
        .await
        .expect("the server closes the connection within an hour")
        .expect("a pipe reads until closed");
    (String::from_utf8_lossy(&sent).into_owned(), Instant::now())
}

const MODELS: &[u8] = b"GET /v1/models HTTP/1.1\r\nhost: mock\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn half_a_head_is_closed_at_the_idle_timeout() {
    let mock = MockServer::new(config(FAST));
    let (mut client, task) = open(&mock);
    let t0 = Instant::now();
    client
        .write_all(&MODELS[..MODELS.len() / 2])
        .await
        .expect("write");
    let (sent, closed) = until_closed(&mut client).await;
    assert!(!sent.contains("200 OK"), "{sent}");
    assert_eq!(closed - t0, IDLE_TIMEOUT);
    task.await.expect("the connection task ends");
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_and_half_an_h2_preface_are_closed_at_the_idle_timeout() {
    let mock = MockServer::new(config(FAST));
    // Before its first bytes hyper does not know the protocol, and runs no timer of its own.
    for first in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let (mut client, task) = open(&mock);
        let t0 = Instant::now();
        client.write_all(first).await.expect("write");
        let (sent, closed) = until_closed(&mut client).await;
        assert_eq!(sent, "");
        assert_eq!(closed - t0, IDLE_TIMEOUT);
        task.await.expect("the connection task ends");
    }
}

#[tokio::test(start_paused = true)]
async fn a_head_completed_in_time_is_served_and_the_idle_connection_closed_after() {
    let mock = MockServer::new(config(FAST));
    let (mut client, task) = open(&mock);
    let t0 = Instant::now();
    let (first, rest) = MODELS.split_at(10);
    client.write_all(first).await.expect("write");
    let late = IDLE_TIMEOUT - Duration::from_millis(1);
    tokio::time::sleep(late).await;
    client.write_all(rest).await.expect("write");
    let (sent, closed) = until_closed(&mut client).await;
    assert!(sent.starts_with("HTTP/1.1 200 OK"), "{sent}");
    assert!(sent.contains("mock-gpt"), "{sent}");
    // Kept alive, idle from the response on.
    assert_eq!(closed - t0, late + IDLE_TIMEOUT);
    task.await.expect("the connection task ends");
}

#[tokio::test(start_paused = true)]
async fn a_request_in_flight_keeps_its_connection_past_the_idle_timeout() {
    // A stream of 12 tokens 2 s apart (22 s), and a tool call that takes 15 s.
    let mock = MockServer::new(config(
        r#"
[mock]
base_latency = "50ms"
inter_token = "2s"
output_tokens = 12
[tools.slow.mock]
latency = "15s"
"#,
    ));
    let body = String::from_utf8(crate::tests::chat_body(true)).expect("utf-8");
    for (path, body, last, lasts) in [
        ("/v1/chat/completions", body.as_str(), "data: [DONE]", 22),
        ("/tools/slow", "{}", "\"tokens\"", 15),
    ] {
        let (mut client, task) = open(&mock);
        let t0 = Instant::now();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        client.write_all(request.as_bytes()).await.expect("write");
        let (sent, closed) = until_closed(&mut client).await;
        assert!(sent.contains(last), "{sent}");
        // Answered whole after `lasts` s (more than the idle timeout), then idle.
        assert!(
            closed - t0 >= Duration::from_secs(lasts) + IDLE_TIMEOUT,
            "{path}"
        );
        task.await.expect("the connection task ends");
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_slower_than_its_timeout_gets_408_in_the_error_shape() {
    let mock = MockServer::new(config(FAST));
    let (mut client, task) = open(&mock);
    let t0 = Instant::now();
    client
        .write_all(b"POST /tools/x HTTP/1.1\r\nhost: mock\r\ncontent-length: 100\r\n\r\n{\"a\":")
        .await
        .expect("write");
    let (sent, closed) = until_closed(&mut client).await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(
        sent.contains(r#""type":"invalid_request_error","param":null,"code":"request_timeout""#),
        "{sent}"
    );
    // Answered at the body timeout; then closed, the body unread.
    assert!(closed - t0 >= crate::reject::BODY_TIMEOUT);
    assert!(closed - t0 <= crate::reject::BODY_TIMEOUT + IDLE_TIMEOUT + CLOSE_GRACE);
    task.await.expect("the connection task ends");
}

#[tokio::test(start_paused = true)]
async fn an_idle_h2_connection_is_closed_at_the_idle_timeout() {
    let mock = MockServer::new(config(FAST));
    let (client, task) = open(&mock);
    let (mut sender, driver) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(client))
            .await
            .expect("h2 handshake");
    let driver = tokio::spawn(driver);
    let response = sender
        .send_request(
            Request::get("http://mock/v1/models")
                .body(Empty::<Bytes>::new())
                .expect("a request"),
        )
        .await
        .expect("an h2 response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.expect("a body");
    assert!(String::from_utf8_lossy(&body.to_bytes()).contains("mock-gpt"));
    let answered = Instant::now();
    // The server says GOAWAY, then closes: the client's connection ends.
    tokio::time::timeout(Duration::from_secs(3600), driver)
        .await
        .expect("the server closes the connection within an hour")
        .expect("the driver task")
        .expect("a clean h2 close");
    assert!(Instant::now() - answered >= IDLE_TIMEOUT);
    assert!(Instant::now() - answered <= IDLE_TIMEOUT + CLOSE_GRACE);
    task.await.expect("the connection task ends");
}

/// The tester's slowloris, scaled down, over real sockets: connections that send half a head
/// are all closed at the idle timeout, while a request sent whole is served meanwhile.
#[tokio::test]
async fn slowloris_connections_are_closed_and_a_whole_request_is_served() {
    const SLOW: usize = 100;
    let mut cfg = config(FAST);
    // Real time: short, yet far longer than loopback needs to deliver one head.
    cfg.idle_timeout = Duration::from_millis(500);
    let mock = MockServer::new(cfg);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve_with(
        listener,
        mock.clone(),
        stop.clone().cancelled_owned(),
    ));
    let bounded = tokio::time::timeout(Duration::from_secs(20), async {
        let started = Instant::now();
        let mut slow = Vec::new();
        for _ in 0..SLOW {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(b"GET /stats HTTP/1.1\r\nho")
                .await
                .expect("write");
            slow.push(stream);
        }
        let mut whole = TcpStream::connect(addr).await.expect("connect");
        whole
            .write_all(b"GET /v1/models HTTP/1.1\r\nhost: mock\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        whole.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        for mut stream in slow {
            let mut sent = Vec::new();
            // Closed by the server: end of file, or a reset if our bytes were still unread.
            let _ = stream.read_to_end(&mut sent).await;
            assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));
        }
        // A timer never fires early.
        assert!(started.elapsed() >= Duration::from_millis(500));
    })
    .await;
    stop.cancel();
    server.await.expect("the server task").expect("serve");
    bounded.expect("every slow connection closed within 20 s");
    assert_eq!(mock.stats().chat_requests, 0);
}
