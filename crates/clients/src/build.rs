//! Building the clients a scenario describes.

use mock::MockServer;
use scenario::{ClientLimits, Endpoint, Scenario};

use crate::backend::{AnyLlm, AnyTool, HttpLlm, HttpTool, MockLlm, MockTool};
use crate::llm::LlmClient;
use crate::tool::ToolClient;
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
    /// The clients `scenario` describes, with `embedded` standing for the built-in mock: each
    /// endpoint's backend ([`AnyLlm`], [`AnyTool`]) chosen here, once.
    pub fn build(scenario: &Scenario, embedded: &Embedded) -> Result<Clients, BuildError> {
        let mut backends = Vec::new();
        for p in &scenario.llm.providers {
            let api_key = match &p.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| BuildError::MissingApiKey {
                    provider: p.name.clone(),
                    var: var.clone(),
                })?),
                None => None,
            };
            let (model, key) = (p.model.clone(), api_key.as_deref());
            backends.push(match route(&p.name, &p.base_url, &p.limits, embedded)? {
                Route::Mock(mock) => AnyLlm::Mock(MockLlm::new(mock, key, model, p.stream)),
                Route::Http(transport, base) => AnyLlm::Http(HttpLlm::new(
                    transport,
                    &format!("{base}/v1"),
                    key,
                    model,
                    p.stream,
                )),
            });
        }
        let llm = LlmClient::with_backends(&scenario.llm, backends);
        let mut tools = ToolClient::with_backends(&scenario.tools, |name, t| {
            Ok(
                match (route(name, &t.endpoint, &t.limits, embedded)?, &t.endpoint) {
                    (Route::Mock(mock), _) => AnyTool::Mock(MockTool::new(mock, name)),
                    (Route::Http(transport, base), Endpoint::Embedded) => AnyTool::Http(
                        HttpTool::new(transport, format!("{base}/tools/{name}"), true),
                    ),
                    (Route::Http(transport, _), Endpoint::Url(url)) => {
                        AnyTool::Http(HttpTool::new(transport, url.clone(), false))
                    }
                },
            )
        })?;
        // One cancellation for every call of the fleet.
        tools.cancel = llm.cancel.clone();
        Ok(Clients { llm, tools })
    }

    /// Ends every call in flight, and every call made from now on, at once as `cancelled`:
    /// the attempt on the wire is recorded as a `cancelled` attempt, so the counts keep every
    /// call and attempt that started. The fleet calls it when the grace period is over.
    pub fn cancel_calls(&self) {
        self.llm.cancel_calls();
    }
}

/// Where an endpoint's attempts go.
enum Route {
    /// The embedded mock, in-process.
    Mock(MockServer),
    /// HTTP, to this base URL (without `/v1`).
    Http(Transport, String),
}

/// The route to an endpoint.
fn route(
    name: &str,
    endpoint: &Endpoint,
    limits: &ClientLimits,
    embedded: &Embedded,
) -> Result<Route, BuildError> {
    let http = |loopback: bool| {
        Transport::http(limits.max_in_flight, limits.connect_timeout.0, loopback).map_err(
            |source| BuildError::Http {
                target: name.to_owned(),
                source,
            },
        )
    };
    match (endpoint, embedded) {
        (Endpoint::Embedded, Embedded::Http(base)) => Ok(Route::Http(
            http(true)?,
            base.trim_end_matches('/').to_owned(),
        )),
        (Endpoint::Embedded, Embedded::InProcess(server)) => Ok(Route::Mock(server.clone())),
        (Endpoint::Url(url), _) => {
            let loopback =
                url.contains("://127.") || url.contains("://localhost") || url.contains("://[::1]");
            let base = url.strip_suffix("/v1").unwrap_or(url).to_owned();
            Ok(Route::Http(http(loopback)?, base))
        }
    }
}
