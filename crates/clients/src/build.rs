//! Building the clients a scenario describes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use mock::MockServer;
use scenario::{ClientLimits, Endpoint, Scenario};
use tokio_util::sync::CancellationToken;

use crate::breaker::CircuitBreaker;
use crate::budget::RetryBudget;
use crate::cache::ResponseCache;
use crate::drive::Target;
use crate::limiter::Limiter;
use crate::llm::{LlmClient, Provider};
use crate::pool::Pool;
use crate::tool::{ToolClient, ToolEntry};
use crate::transport::Transport;

/// Where `base_url = "embedded"` leads.
#[derive(Clone, Debug)]
pub enum Embedded {
    /// The mock serving on this address, e.g. `http://127.0.0.1:43117` (live clock).
    Http(String),
    /// The mock called in-process (virtual clock).
    InProcess(MockServer),
}

/// Why the clients could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A provider names an API key variable that is not set.
    #[error(
        "provider `{provider}`: environment variable `{var}` (api_key_env) is not set: export it, or remove api_key_env for a server that needs no key"
    )]
    MissingApiKey {
        /// The provider.
        provider: String,
        /// The variable.
        var: String,
    },
    /// The HTTP client could not be created.
    #[error("cannot create the HTTP client for `{target}`")]
    Http {
        /// The provider or tool.
        target: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
}

/// The shared clients of a fleet.
#[derive(Debug)]
pub struct Clients {
    /// The LLM.
    pub llm: LlmClient,
    /// The tools.
    pub tools: ToolClient,
}

impl Clients {
    /// The clients `scenario` describes, with `embedded` standing for the built-in mock.
    pub fn build(scenario: &Scenario, embedded: &Embedded) -> Result<Clients, BuildError> {
        let cancel = CancellationToken::new();
        let mut targets = Vec::new();
        let mut providers = Vec::new();
        for p in &scenario.llm.providers {
            let (transport, base) = transport(&p.name, &p.base_url, &p.limits, embedded)?;
            let api_key = match &p.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| BuildError::MissingApiKey {
                    provider: p.name.clone(),
                    var: var.clone(),
                })?),
                None => None,
            };
            providers.push(Provider::new(
                transport,
                &format!("{base}/v1"),
                api_key,
                p.model.clone(),
                p.stream,
            ));
            targets.push(Arc::new(target(
                &p.name,
                &p.limits,
                &p.breaker,
                &p.retry,
                p.timeout.0,
            )));
        }
        let first = scenario.llm.providers.first();
        let llm = LlmClient {
            targets,
            providers,
            routing: scenario.llm.routing,
            turn: AtomicUsize::new(0),
            retry: first.map(|p| p.retry.clone()).unwrap_or_default(),
            deadline: scenario
                .llm
                .providers
                .iter()
                .map(|p| p.deadline.0)
                .max()
                .unwrap_or(Duration::from_secs(120)),
            cancel: cancel.clone(),
        };
        let mut tools = BTreeMap::new();
        for (name, t) in &scenario.tools {
            let (transport, base) = transport(name, &t.endpoint, &t.limits, embedded)?;
            let (url, mock_shape) = match &t.endpoint {
                Endpoint::Embedded => (format!("{base}/tools/{name}"), true),
                Endpoint::Url(url) => (url.clone(), false),
            };
            let direct = match (&transport, mock_shape) {
                // In-process calls to the embedded mock skip its router (`tool::direct`): the same
                // results, timings, faults and `/stats`, without the HTTP round trip.
                (Transport::InProcess(mock), true) => Some(mock.clone()),
                _ => None,
            };
            tools.insert(
                name.clone(),
                ToolEntry {
                    direct,
                    target: Arc::new(target(name, &t.limits, &t.breaker, &t.retry, t.timeout.0)),
                    transport,
                    url,
                    mock_shape,
                    cache: t.cache.as_ref().map(ResponseCache::new),
                    retry: t.retry.clone(),
                    deadline: t.deadline.0,
                },
            );
        }
        Ok(Clients {
            llm,
            tools: ToolClient { tools, cancel },
        })
    }

    /// Ends every call in flight, and every call made from now on, at once as `cancelled`:
    /// the attempt on the wire is recorded as a `cancelled` attempt, so the counts keep every
    /// call and attempt that started. The fleet calls it when the grace period is over.
    pub fn cancel_calls(&self) {
        self.llm.cancel.cancel();
    }
}

fn target(
    name: &str,
    limits: &ClientLimits,
    breaker: &scenario::Breaker,
    retry: &scenario::Retry,
    timeout: Duration,
) -> Target {
    Target {
        name: name.to_owned(),
        limiter: Limiter::new(limits),
        breaker: CircuitBreaker::new(breaker),
        pool: Pool::new(limits.max_in_flight, limits.max_queue),
        budget: RetryBudget::new(retry.budget_ratio.0, retry.budget_min_per_sec.0),
        timeout,
    }
}

/// The transport and base URL (without `/v1`) for an endpoint.
fn transport(
    name: &str,
    endpoint: &Endpoint,
    limits: &ClientLimits,
    embedded: &Embedded,
) -> Result<(Transport, String), BuildError> {
    let http = |loopback: bool| {
        Transport::http(limits.max_in_flight, limits.connect_timeout.0, loopback).map_err(
            |source| BuildError::Http {
                target: name.to_owned(),
                source,
            },
        )
    };
    match (endpoint, embedded) {
        (Endpoint::Embedded, Embedded::Http(base)) => {
            Ok((http(true)?, base.trim_end_matches('/').to_owned()))
        }
        (Endpoint::Embedded, Embedded::InProcess(server)) => Ok((
            Transport::InProcess(server.clone()),
            "http://mock.in-process".to_owned(),
        )),
        (Endpoint::Url(url), _) => {
            let loopback =
                url.contains("://127.") || url.contains("://localhost") || url.contains("://[::1]");
            let base = url.strip_suffix("/v1").unwrap_or(url).to_owned();
            Ok((http(loopback)?, base))
        }
    }
}
