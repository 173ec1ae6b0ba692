//! The floors under fleetbench's figure: the same calls with nothing of fleetbench around
//! them, on the same pinned core, so a round shows how much of oha's rate the HTTP client
//! alone leaves (`BENCH_FLOORS=reqwest,hyper`).
//!
//! - `reqwest`: the client fleetbench sends through (one `reqwest::Client`, its pool, TCP
//!   no-delay), a fixed body, every response read to its end.
//! - `hyper`: oha's own loop: one HTTP/1 connection per caller made with hyper's
//!   `conn::http1::handshake`, no pool, the same request.
//!
//! Both run `concurrency` callers on one current-thread runtime (fleetbench's live clock runs
//! one per core), in this bench's own binary started again under `taskset -c 0` with
//! `VS_OHA_FLOOR` set: [`child`] is that process's whole job.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};

use super::{Figures, oha_body};

/// What a floor's process is told: `kind url concurrency secs stream`.
const ENV: &str = "VS_OHA_FLOOR";

/// Runs floor `kind` on core 0 and reads its figures.
pub(crate) fn run(kind: &str, url: &str, concurrency: u32, secs: u64, stream: bool) -> Figures {
    let me = std::env::current_exe().expect("the bench knows its own path");
    let output = Command::new("taskset")
        .args(["-c", "0"])
        .arg(me)
        .env(ENV, format!("{kind} {url} {concurrency} {secs} {stream}"))
        .stderr(Stdio::inherit())
        .output()
        .expect("the floor's process starts");
    assert!(
        output.status.success(),
        "floor {kind} failed: {}",
        output.status
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let figures: Vec<f64> = text
        .split_whitespace()
        .map(|f| f.parse().expect("a floor prints three numbers"))
        .collect();
    Figures {
        calls_per_s: figures[0],
        p50_ms: figures[1],
        p99_ms: figures[2],
    }
}

/// In a floor's process: runs the loop `VS_OHA_FLOOR` names and prints `calls/s p50 p99`.
/// `None` in the bench's own process.
pub(crate) fn child() -> Option<()> {
    let spec = std::env::var(ENV).ok()?;
    let [kind, url, concurrency, secs, stream] = spec.split(' ').collect::<Vec<_>>()[..] else {
        panic!("{ENV}: `kind url concurrency secs stream`, got {spec:?}");
    };
    let concurrency: u32 = concurrency.parse().expect("a concurrency");
    let secs: u64 = secs.parse().expect("seconds");
    let body = Bytes::from(oha_body(stream == "true"));
    let url = format!("{url}/chat/completions");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (calls, latency) = runtime.block_on(async move {
        let until = Instant::now() + Duration::from_secs(secs);
        let client = match kind {
            "reqwest" => {
                clients::install_crypto_provider();
                Some(
                    reqwest::Client::builder()
                        .pool_max_idle_per_host(usize::MAX)
                        .tcp_nodelay(true)
                        .no_proxy()
                        .build()
                        .expect("a reqwest client"),
                )
            }
            "hyper" => None,
            other => panic!("{ENV}: no floor {other:?} (reqwest or hyper)"),
        };
        let callers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (body, url, client) = (body.clone(), url.clone(), client.clone());
                tokio::spawn(async move {
                    match client {
                        Some(client) => with_reqwest(&client, &url, body, until).await,
                        None => with_hyper(&url, body, until).await,
                    }
                })
            })
            .collect();
        let started = Instant::now();
        let mut latency = histogram();
        for caller in callers {
            latency
                .add(caller.await.expect("a caller"))
                .expect("same bounds");
        }
        (latency.len(), (latency, started.elapsed()))
    });
    let (latency, elapsed) = latency;
    #[allow(clippy::cast_precision_loss)]
    let calls_per_s = calls as f64 / elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1e3;
    println!("{calls_per_s} {} {}", ms(0.5), ms(0.99));
    Some(())
}

/// Calls `url` through `client` until `until`; each call's latency in µs.
async fn with_reqwest(
    client: &reqwest::Client,
    url: &str,
    body: Bytes,
    until: Instant,
) -> Histogram<u64> {
    let mut latency = histogram();
    while Instant::now() < until {
        let sent = Instant::now();
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("the endpoint answers");
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.expect("the whole answer");
        record(&mut latency, sent);
    }
    latency
}

/// Calls `url` on one HTTP/1 connection of its own, as oha does, until `until`.
async fn with_hyper(url: &str, body: Bytes, until: Instant) -> Histogram<u64> {
    let uri: hyper::Uri = url.parse().expect("a URL");
    let authority = uri.authority().expect("a host").clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .expect("the endpoint accepts");
    stream.set_nodelay(true).expect("no delay");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("an HTTP/1 connection");
    tokio::spawn(connection);
    let mut latency = histogram();
    while Instant::now() < until {
        let sent = Instant::now();
        let request = hyper::Request::post(uri.clone())
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .expect("a request");
        sender.ready().await.expect("the connection is ready");
        let response = sender
            .send_request(request)
            .await
            .expect("the endpoint answers");
        assert!(response.status().is_success(), "{}", response.status());
        response
            .into_body()
            .collect()
            .await
            .expect("the whole answer");
        record(&mut latency, sent);
    }
    latency
}

/// 1 µs to a minute at 3 significant figures (an auto-resizing histogram misread its
/// quantiles after `add`).
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

fn record(latency: &mut Histogram<u64>, sent: Instant) {
    let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
    latency.saturating_record(us.max(1));
}
