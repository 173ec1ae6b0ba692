//! Test helpers for fleetbench: start the mock on `127.0.0.1:0` (over TLS too, with
//! certificates made at test time: [`tls`]), find fixtures.
//! Dev-only (`publish = false`); never a dependency of a library crate.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use mock::{MockConfig, MockServer, StatsSnapshot};
use scenario::Scenario;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod tls;

/// A mock serving on a loopback port; stopped when dropped.
#[derive(Debug)]
pub struct MockHandle {
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT/v1` (`https://` over TLS), for an OpenAI client's base URL.
    pub base_url: String,
    /// The mock itself, for its stats.
    pub server: MockServer,
    shutdown: CancellationToken,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl MockHandle {
    /// `http://127.0.0.1:PORT` (`https://` over TLS) followed by `path`.
    pub fn url(&self, path: &str) -> String {
        let origin = self.base_url.strip_suffix("/v1").unwrap_or(&self.base_url);
        format!("{origin}{path}")
    }

    /// What the mock has observed.
    pub fn stats(&self) -> StatsSnapshot {
        self.server.stats()
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> io::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a mock with `config` on `127.0.0.1:0`. Installs the process's rustls provider
/// first ([`tls::install_crypto_provider`]), so the reqwest clients a test builds to reach it
/// work.
pub async fn spawn_mock(config: MockConfig) -> MockHandle {
    tls::install_crypto_provider();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let server = MockServer::new(config);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(mock::serve_with(listener, server.clone(), async move {
        stop.cancelled().await
    }));
    MockHandle {
        addr,
        base_url: format!("http://{addr}/v1"),
        server,
        shutdown,
        task: Some(task),
    }
}

/// Starts a mock with `config` on `127.0.0.1:0` over TLS, presenting `cert`. Installs the
/// process's rustls provider first, as [`spawn_mock`] does.
pub async fn spawn_tls_mock(config: MockConfig, cert: &tls::ServerCert) -> MockHandle {
    tls::install_crypto_provider();
    let tls = mock::TlsConfig::from_pem(cert.chain_pem.as_bytes(), cert.key_pem.as_bytes())
        .expect("the test certificate serves");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let server = MockServer::new(config);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(mock::serve_tls(listener, server.clone(), tls, async move {
        stop.cancelled().await
    }));
    MockHandle {
        addr,
        base_url: format!("https://{addr}/v1"),
        server,
        shutdown,
        task: Some(task),
    }
}

/// Starts the mock a scenario file (relative to `fixtures/scenarios/`) describes.
pub async fn spawn_fixture_mock(name: &str) -> MockHandle {
    let scenario = scenario::load(&scenario_fixture(name)).expect("fixture scenarios are valid");
    spawn_mock(MockConfig::from_scenario(&scenario)).await
}

/// A scenario parsed from TOML text, panicking with the located error when it is invalid.
pub fn scenario(toml: &str) -> Scenario {
    Scenario::from_toml(toml, "<test>").unwrap_or_else(|e| panic!("{e}"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path under `fixtures/scenarios/`.
pub fn scenario_fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/scenarios").join(name)
}
