//! Building the clients a scenario describes.

use mock::MockServer;
use std::sync::Arc;

use scenario::{Api, ClientLimits, Endpoint, Scenario, ScenarioError, Secrets, ToolProtocol};

use crate::agent::AgentEndpoint;
use crate::backend::{
    AnyLlm, AnyTool, Extras, HttpLlm, HttpResponses, HttpTool, McpSession, McpTool, MockLlm,
    MockTool, mcp_preflight, same_server,
};
use crate::llm::LlmClient;
use crate::tool::ToolClient;
use crate::transport::{CaError, Connection, Transport, Trust, read_ca, rustls_error};

/// Where `base_url = "embedded"` leads.
#[derive(Clone, Debug)]
pub enum Embedded {
    /// The mock serving on this address, e.g. `http://127.0.0.1:43117` (live clock).
    Http(String),
    /// The mock serving over TLS on this address, e.g. `https://127.0.0.1:43117` (live
    /// clock, `[mock] tls_cert`): its clients trust exactly the certificates of `cert` (the
    /// chain it serves: self-signed, or ending in its CA), not the platform's roots.
    Https {
        /// The address.
        base: String,
        /// The PEM file of the certificate chain the mock serves.
        cert: std::path::PathBuf,
    },
    /// The mock called in-process (virtual clock).
    InProcess(MockServer),
}

/// Why the clients could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A variable the scenario refers to is unset or unreadable.
    #[error(transparent)]
    Environment(#[from] ScenarioError),
    /// A value from the environment was not among the secrets given.
    #[error(
        "`{target}`: no value for environment variable `{var}`: pass it in the secrets (scenario::Secrets) or export it"
    )]
    MissingSecret {
        /// The provider or tool.
        target: String,
        /// The variable.
        var: String,
    },
    /// A header's value cannot be sent (a line break in a variable's value, say).
    #[error(
        "`{target}`: header `{name}` cannot be sent: its value{} holds a line break or another character no HTTP header can carry; fix the value",
        if *secret { " (from the environment)" } else { "" }
    )]
    Header {
        /// The provider or tool.
        target: String,
        /// The header's name.
        name: String,
        /// Whether the value came from the environment.
        secret: bool,
    },
    /// A tool's or provider's URL cannot be parsed.
    #[error("`{target}`: invalid endpoint URL: {source}")]
    Url {
        /// The tool or provider.
        target: String,
        /// Why.
        #[source]
        source: url::ParseError,
    },
    /// A file of certificates to trust cannot be used.
    #[error(
        "`{target}`: {key} `{}` cannot be used: {reason}; point {key} at a PEM file of CA certificates (-----BEGIN CERTIFICATE-----), e.g. the CA that signed the server's certificate",
        path.display()
    )]
    CaCert {
        /// The provider or tool.
        target: String,
        /// The key that names the file: `ca_cert`, or `mock.tls_cert` for the embedded mock.
        key: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why (the cause is in the message).
        reason: String,
    },
    /// An `https://` endpoint without `ca_cert` on a machine whose CA store has nothing.
    #[error(
        "`{target}`: no CA certificates to check its https:// server against ({reason}): install the system's CA certificates (e.g. the ca-certificates package) or point SSL_CERT_FILE at a PEM bundle; for a private CA, set ca_cert = \"ca.pem\" on it"
    )]
    NoRoots {
        /// The provider or tool.
        target: String,
        /// Why (the cause is in the message).
        reason: String,
    },
    /// An MCP server that could not be started (`initialize`) or listed before the fleet.
    #[error(
        "tool `{target}`: the MCP server at {url} cannot be used: {reason}; check that `endpoint` is the URL of an MCP server over streamable HTTP (often ending in /mcp) and that it is up"
    )]
    McpServer {
        /// The (first) tool of that server.
        target: String,
        /// Its URL, as the scenario wrote it.
        url: String,
        /// Why (the cause is in the message).
        reason: String,
    },
    /// A tool the MCP server does not list.
    #[error(
        "`tools.{target}`: the MCP server at {url} has no tool named `{target}`; it lists: {}; name the table after one of them, or point its `endpoint` at the server that has it",
        if listed.is_empty() { "none".to_owned() } else { listed.join(", ") }
    )]
    McpToolMissing {
        /// The tool.
        target: String,
        /// The server's URL, as the scenario wrote it.
        url: String,
        /// The tools it lists.
        listed: Vec<String>,
    },
    /// The agent runtime under test cannot be reached before the run.
    #[error(
        "`agent.url`: cannot connect to the runtime under test at {url}: {reason}; start your agent first (it must listen before the run), or fix `agent.url`"
    )]
    AgentUnreachable {
        /// The URL, as the scenario wrote it.
        url: String,
        /// Why.
        reason: String,
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
    /// `[agent] kind = "http"`: the runtime under test.
    pub agent: Option<AgentEndpoint>,
}

impl Clients {
    /// The clients `scenario` describes, with `embedded` standing for the built-in mock and
    /// the variables it refers to (`api_key_env`, `{ env = "VAR" }`) read from the process
    /// environment now. See [`Clients::build_with`].
    pub fn build(scenario: &Scenario, embedded: &Embedded) -> Result<Clients, BuildError> {
        Self::build_with(scenario, embedded, &Secrets::read(scenario)?)
    }

    /// The clients `scenario` describes, with `embedded` standing for the built-in mock, the
    /// values of the variables it refers to taken from `secrets` (the environment is not
    /// read): each endpoint's backend ([`AnyLlm`], [`AnyTool`]) chosen here, once. A key goes
    /// only to the endpoint whose `api_key_env` names it.
    pub fn build_with(
        scenario: &Scenario,
        embedded: &Embedded,
        secrets: &Secrets,
    ) -> Result<Clients, BuildError> {
        let mut backends = Vec::new();
        for p in &scenario.llm.providers {
            let key = api_key(&p.name, p.api_key_env.as_deref(), secrets)?;
            let extras = Extras::new(&p.name, key, &p.headers, &p.query, secrets)?;
            let model = p.model.clone();
            let connection = connection(&p.limits, p.ca_cert.as_ref(), p.http2);
            backends.push(match route(&p.name, &p.base_url, connection, embedded)? {
                // In-process, either API is the mock's chat machinery (no wire to frame),
                // counted in `/stats` under the API the provider names.
                Route::Mock(mock) => {
                    AnyLlm::Mock(MockLlm::new(mock, key, model, p.stream).with_api(p.api))
                }
                Route::Http(transport, base) => {
                    let base = format!("{base}/v1");
                    match p.api {
                        Api::Chat => AnyLlm::Http(
                            HttpLlm::new(&p.name, transport, &base, extras, model, p.stream)
                                .map_err(|source| BuildError::Url {
                                    target: p.name.clone(),
                                    source,
                                })?,
                        ),
                        Api::Responses => AnyLlm::Responses(HttpResponses::new(
                            &p.name, transport, &base, extras, model, p.stream,
                        )),
                    }
                }
            });
        }
        let llm = LlmClient::with_backends(&scenario.llm, backends);
        // The MCP sessions made so far, with the tool whose keys made each.
        let mut sessions = Vec::new();
        let mut tools = ToolClient::with_backends(&scenario.tools, |name, t| {
            tool_backend(scenario, name, t, embedded, secrets, &mut sessions)
        })?;
        // One cancellation for every call of the fleet.
        tools.cancel = llm.cancel.clone();
        let agent = match &scenario.agent {
            a if a.is_http() => Some(agent_endpoint(scenario, embedded, secrets)?),
            _ => None,
        };
        Ok(Clients { llm, tools, agent })
    }

    /// Checks, before the fleet starts, what only the servers can tell: each MCP server the
    /// tools name is started (`initialize`) and listed (`tools/list`), and every configured
    /// MCP tool is one it lists. The sessions started here are the ones the fleet uses.
    /// Nothing to do without MCP tools (or under the virtual clock, where the embedded mock's
    /// tools are called in-process).
    pub async fn preflight(&self) -> Result<(), BuildError> {
        if let Some(agent) = &self.agent {
            agent
                .reachable()
                .await
                .map_err(|reason| BuildError::AgentUnreachable {
                    url: agent.url().to_owned(),
                    reason,
                })?;
        }
        mcp_preflight(
            self.tools
                .tools
                .iter()
                .filter_map(|(name, entry)| match &entry.backend {
                    AnyTool::Mcp(tool) => Some((name.as_str(), tool)),
                    _ => None,
                }),
        )
        .await
    }

    /// Completes when [`Clients::cancel_calls`] is called: a caller outside the clients (the
    /// HTTP agent driver's turn) ends its own wait then.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.llm.cancel.cancelled()
    }

    /// Ends every call in flight, and every call made from now on, at once as `cancelled`:
    /// the attempt on the wire is recorded as a `cancelled` attempt, so the counts keep every
    /// call and attempt that started. The fleet calls it when the grace period is over.
    pub fn cancel_calls(&self) {
        self.llm.cancel_calls();
    }
}

/// The backend of tool `name` (`t`): the embedded mock in-process, an HTTP tool, or a tool of
/// an MCP server, whose session it shares with the server's other tools (`sessions`: those
/// made so far, by the tool that made each).
fn tool_backend(
    scenario: &Scenario,
    name: &str,
    t: &scenario::Tool,
    embedded: &Embedded,
    secrets: &Secrets,
    sessions: &mut Vec<(String, Arc<McpSession>)>,
) -> Result<AnyTool, BuildError> {
    let key = api_key(name, t.api_key_env.as_deref(), secrets)?;
    let extras = Extras::new(name, key, &t.headers, &t.query, secrets)?;
    let mut connection = connection(&t.limits, t.ca_cert.as_ref(), t.http2);
    let url_error = |source| BuildError::Url {
        target: name.to_owned(),
        source,
    };
    let mcp = t.protocol == ToolProtocol::Mcp;
    if mcp {
        let made = sessions
            .iter()
            .find(|(o, _)| scenario.tools.get(o).is_some_and(|o| same_server(o, t)));
        if let Some((_, session)) = made {
            return Ok(AnyTool::Mcp(McpTool::new(
                name,
                session.clone(),
                t.timeout.0,
            )));
        }
        // One session (and connection pool) for all the tools of this server: as many
        // requests in flight as their pools together let through.
        connection.max_in_flight = scenario
            .tools
            .values()
            .filter(|o| same_server(o, t))
            .map(|o| o.limits.max_in_flight)
            .fold(0, u32::saturating_add);
    }
    let in_flight = usize::try_from(connection.max_in_flight).unwrap_or(usize::MAX);
    let route = route(name, &t.endpoint, connection, embedded)?;
    Ok(match (route, &t.endpoint) {
        (Route::Mock(mock), _) => AnyTool::Mock(MockTool::new(mock, name)),
        (Route::Http(transport, base), endpoint) if mcp => {
            let url = match endpoint {
                Endpoint::Embedded => format!("{base}/mcp"),
                Endpoint::Url(url) => url.clone(),
            };
            let client = transport.reqwest_client();
            let session = McpSession::new(client, &url, &extras, in_flight);
            let session = Arc::new(session.map_err(url_error)?);
            sessions.push((name.to_owned(), session.clone()));
            AnyTool::Mcp(McpTool::new(name, session, t.timeout.0))
        }
        (Route::Http(transport, base), Endpoint::Embedded) => AnyTool::Http(
            HttpTool::new(transport, &format!("{base}/tools/{name}"), extras, true)
                .map_err(url_error)?,
        ),
        (Route::Http(transport, _), Endpoint::Url(url)) => {
            AnyTool::Http(HttpTool::new(transport, url, extras, false).map_err(url_error)?)
        }
    })
}

/// The runtime under test (`[agent] kind = "http"`): one pooled client, as many idle
/// connections kept as there are agents.
fn agent_endpoint(
    scenario: &Scenario,
    embedded: &Embedded,
    secrets: &Secrets,
) -> Result<AgentEndpoint, BuildError> {
    let a = &scenario.agent;
    let key = api_key("agent", a.api_key_env.as_deref(), secrets)?;
    let extras = Extras::new("agent", key, &a.headers, &a.query, secrets)?;
    let limits = ClientLimits {
        max_in_flight: scenario.fleet.agents,
        ..ClientLimits::default()
    };
    let connection = connection(&limits, a.ca_cert.as_ref(), a.http2);
    let url = Endpoint::Url(a.url.clone().unwrap_or_default());
    match route("agent", &url, connection, embedded)? {
        Route::Http(transport, _) => Ok(AgentEndpoint::new(a, transport, extras)),
        Route::Mock(_) => unreachable!("a URL is never routed in-process"),
    }
}

/// The key the variable `var` (an endpoint's `api_key_env`) holds, from `secrets`.
fn api_key<'s>(
    target: &str,
    var: Option<&str>,
    secrets: &'s Secrets,
) -> Result<Option<&'s str>, BuildError> {
    var.map(|var| {
        secrets
            .get(var)
            .map(scenario::Secret::expose)
            .ok_or_else(|| BuildError::MissingSecret {
                target: target.to_owned(),
                var: var.to_owned(),
            })
    })
    .transpose()
}

/// How an endpoint's connections are made, from its keys (`loopback` is set by [`route`]).
fn connection(
    limits: &ClientLimits,
    ca_cert: Option<&std::path::PathBuf>,
    http2: bool,
) -> Connection {
    Connection {
        max_in_flight: limits.max_in_flight,
        connect_timeout: limits.connect_timeout.0,
        loopback: false,
        ca_cert: ca_cert.cloned(),
        http2,
    }
}

/// Where an endpoint's attempts go.
enum Route {
    /// The embedded mock, in-process.
    Mock(MockServer),
    /// HTTP, to this base URL (without `/v1`).
    Http(Transport, String),
}

/// The route to an endpoint. Over `https://` its certificates are checked against the
/// platform's roots and its `ca_cert`, or, for the embedded mock, exactly the mock's own
/// certificate; a plain `http://` client reads no roots at all.
fn route(
    name: &str,
    endpoint: &Endpoint,
    mut connection: Connection,
    embedded: &Embedded,
) -> Result<Route, BuildError> {
    let roots = |key: &'static str, path: &std::path::Path| {
        read_ca(path).map_err(|reason: CaError| BuildError::CaCert {
            target: name.to_owned(),
            key,
            path: path.to_owned(),
            reason: reason.to_string(),
        })
    };
    let (base, loopback, trust) = match (endpoint, embedded) {
        (Endpoint::Embedded, Embedded::InProcess(server)) => {
            return Ok(Route::Mock(server.clone()));
        }
        (Endpoint::Embedded, Embedded::Http(base)) => {
            (base.trim_end_matches('/'), true, Trust::Plain)
        }
        (Endpoint::Embedded, Embedded::Https { base, cert }) => (
            base.trim_end_matches('/'),
            true,
            Trust::Only(roots("mock.tls_cert", cert)?),
        ),
        (Endpoint::Url(url), _) => {
            let loopback =
                url.contains("://127.") || url.contains("://localhost") || url.contains("://[::1]");
            let trust = if url.starts_with("https://") {
                let extra = connection.ca_cert.as_deref().map(|p| roots("ca_cert", p));
                Trust::Platform(extra.transpose()?.unwrap_or_default())
            } else {
                Trust::Plain
            };
            (url.strip_suffix("/v1").unwrap_or(url), loopback, trust)
        }
    };
    connection.loopback = loopback;
    // reqwest's platform verifier fails to build when the CA store has nothing and no
    // `ca_cert` adds to it: the one rustls error building a client can give.
    let platform = matches!(trust, Trust::Platform(_));
    let failed = |source: reqwest::Error| match rustls_error(&source) {
        Some(reason) if platform => BuildError::NoRoots {
            target: name.to_owned(),
            reason: reason.to_string(),
        },
        _ => BuildError::Http {
            target: name.to_owned(),
            source,
        },
    };
    let transport = Transport::http(name, &connection, trust).map_err(failed)?;
    Ok(Route::Http(transport, base.to_owned()))
}
