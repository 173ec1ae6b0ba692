//! What TLS costs through the whole client stack: calls per second of concurrent callers
//! through `LlmClient` (routing, breaker, pool, limiter, timeouts, async-openai, the call
//! record) against the zero-latency mock on loopback, over
//! - plain HTTP/1.1 (the default for `http://`),
//! - plain h2c (`http2 = true`: the same protocol as TLS negotiates, without the TLS),
//! - TLS (rustls, ring), h2 negotiated by ALPN, the server's certificate made at start
//!   (`testkit::tls`) and trusted as the embedded mock's (`Embedded::Https`),
//!
//! streamed and whole, the transports interleaved round by round (ABC, then CBA, ...) in one
//! process, so that the machine's drift lands on every transport alike. Client and mock share
//! the cores: a lower bound of either side alone.
//!
//! `cargo bench --bench tls` (release; `BENCH_ROUNDS`, default 3; `BENCH_SECS` per case,
//! default 1.5; `BENCH_CALLERS`, default 64). Without `--bench` (a smoke run): one short round.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_openai::types::chat::{ChatCompletionRequestMessage, ChatCompletionRequestUserMessage};
use clients::{Clients, Embedded, LlmRequest};
use mock::MockConfig;
use scenario::Scenario;
use testkit::MockHandle;
use testkit::tls::{TempDir, TestCa};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Http1,
    H2c,
    Tls,
}

impl Transport {
    const ALL: [Transport; 3] = [Transport::Http1, Transport::H2c, Transport::Tls];

    fn name(self) -> &'static str {
        match self {
            Transport::Http1 => "plain HTTP/1.1",
            Transport::H2c => "plain h2c",
            Transport::Tls => "TLS (h2, ALPN)",
        }
    }
}

fn scenario(stream: bool, http2: bool) -> Scenario {
    let mut s = scenario::load(&testkit::scenario_fixture("zero-latency.toml")).unwrap();
    s.llm.providers[0].stream = stream;
    s.llm.providers[0].http2 = http2;
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

/// The two mocks (plain and TLS) and the TLS mock's certificate file.
struct Servers {
    plain: MockHandle,
    tls: MockHandle,
    cert: std::path::PathBuf,
    _dir: TempDir,
}

impl Servers {
    async fn start() -> Self {
        let config = MockConfig::from_scenario(&scenario(false, false));
        let dir = TempDir::new();
        let server = TestCa::new("bench CA").server(&["127.0.0.1", "localhost"]);
        let cert = dir.write("cert.pem", &server.chain_pem);
        Self {
            plain: testkit::spawn_mock(config.clone()).await,
            tls: testkit::spawn_tls_mock(config, &server).await,
            cert,
            _dir: dir,
        }
    }

    fn clients(&self, transport: Transport, stream: bool) -> Clients {
        let s = scenario(stream, transport == Transport::H2c);
        let embedded = match transport {
            Transport::Http1 | Transport::H2c => {
                Embedded::Http(format!("http://{}", self.plain.addr))
            }
            Transport::Tls => Embedded::Https {
                base: format!("https://{}", self.tls.addr),
                cert: self.cert.clone(),
            },
        };
        Clients::build(&s, &embedded).unwrap()
    }
}

/// Calls per second of `callers` concurrent callers for `secs` (the clients built fresh, so
/// each case opens its own connections: TLS pays its handshakes inside the case).
async fn case(clients: Clients, callers: u64, secs: f64) -> f64 {
    let clients = Arc::new(clients);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
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
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (rounds, secs) = if smoke {
        (1, 0.2)
    } else {
        (env("BENCH_ROUNDS", 3_usize), env("BENCH_SECS", 1.5_f64))
    };
    let callers = env("BENCH_CALLERS", 64_u64);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let servers = runtime.block_on(Servers::start());
    println!(
        "calls/s through the stack, {callers} concurrent callers, {secs} s a case, {rounds} rounds, zero-latency mock on loopback"
    );
    println!(
        "{:<14} {:<16} {:>10} {:>19} {:>12} {:>8}",
        "mode", "transport", "median", "range", "vs HTTP/1.1", "vs h2c"
    );
    for (mode, stream) in [("streaming", true), ("non-streaming", false)] {
        // rates[transport][round]
        let mut rates = vec![Vec::new(); Transport::ALL.len()];
        for round in 0..rounds {
            let mut order: Vec<usize> = (0..Transport::ALL.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for t in order {
                let clients = servers.clients(Transport::ALL[t], stream);
                rates[t].push(runtime.block_on(case(clients, callers, secs)));
            }
        }
        let base = median(&mut rates[0].clone());
        let h2c = median(&mut rates[1].clone());
        for (t, transport) in Transport::ALL.iter().enumerate() {
            let (min, max) = rates[t]
                .iter()
                .fold((f64::MAX, 0_f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
            let med = median(&mut rates[t].clone());
            println!(
                "{mode:<14} {:<16} {med:>10.0} {:>19} {:>11.0}% {:>7.0}%",
                transport.name(),
                format!("{min:.0}–{max:.0}"),
                med / base * 100.0,
                med / h2c * 100.0
            );
        }
    }
}
