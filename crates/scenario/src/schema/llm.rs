//! `[llm]`, `[tools.NAME]` and the client policies they share: rate limits, pools, retries,
//! circuit breakers, timeouts and the tool response cache.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::connection::{Api, Param, ToolProtocol};
use crate::dist::{Dist, DurationDist, TokenDist, Tokens};
use crate::units::{Dur, Probability, Rate};

/// Where an LLM provider lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Endpoint {
    /// The built-in mock, started by fleetbench (`base_url = "embedded"`).
    Embedded,
    /// Any OpenAI-compatible server, e.g. `http://127.0.0.1:8000/v1`.
    Url(String),
}

impl TryFrom<String> for Endpoint {
    type Error = String;

    /// `"embedded"`, or an `http` or `https` URL with a host, a port from 1 to 65535 if any,
    /// and no credentials. Errors never echo a password: the userinfo is shown as `***`.
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s == "embedded" {
            return Ok(Endpoint::Embedded);
        }
        let shown = redacted(&s);
        let example = "like \"https://api.example.com/v1\" or \"http://127.0.0.1:8000/v1\"";
        let Some(rest) = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"))
        else {
            return Err(format!(
                "invalid base_url `{shown}`: use \"embedded\" for the built-in mock or an http(s) URL of an OpenAI-compatible API, like \"http://127.0.0.1:8000/v1\""
            ));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!(
                "invalid base_url `{shown}`: the URL has no host; write it {example}"
            ));
        }
        if s.contains(char::is_whitespace) {
            return Err(format!(
                "invalid base_url `{shown}`: the URL holds whitespace; write it {example} (percent-encode a space in a path as %20)"
            ));
        }
        let url = url::Url::parse(&s).map_err(|err| match err {
            url::ParseError::InvalidPort => format!(
                "invalid base_url `{shown}`: the port is not a number from 1 to 65535; write it {example}"
            ),
            err => format!("invalid base_url `{shown}`: {err}; write it {example}"),
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "invalid base_url `{shown}`: the URL holds credentials (`user:password@`), which would be printed in the run's plan; remove them and give a provider's key through `api_key_env` (the name of the environment variable that holds it)"
            ));
        }
        if url.host().is_none() {
            return Err(format!(
                "invalid base_url `{shown}`: the URL has no host; write it {example}"
            ));
        }
        if url.port() == Some(0) {
            return Err(format!(
                "invalid base_url `{shown}`: port 0 is not a port a server listens on; use 1 to 65535, {example}"
            ));
        }
        Ok(Endpoint::Url(s.trim_end_matches('/').to_owned()))
    }
}

/// `s` with everything between the scheme and the last `@` (the userinfo, a password) shown
/// as `***`. Errors about a URL that cannot even be parsed print this, so a password in it
/// never reaches a terminal or a log.
pub(crate) fn redacted(s: &str) -> String {
    let start = s.find("://").map_or(0, |i| i + 3);
    match s[start..].rfind('@') {
        Some(at) => format!("{}***{}", &s[..start], &s[start + at..]),
        None => s.to_owned(),
    }
}

impl From<Endpoint> for String {
    fn from(e: Endpoint) -> Self {
        match e {
            Endpoint::Embedded => "embedded".to_owned(),
            Endpoint::Url(url) => url,
        }
    }
}

/// How a logical LLM call picks among several providers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    /// The first provider whose breaker is closed, in the listed order (failover).
    #[default]
    Priority,
    /// Each call goes to the next provider in turn.
    RoundRobin,
    /// The provider with the fewest calls in flight.
    LeastInFlight,
}

/// `[llm]`: the logical LLM every agent calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Llm {
    /// How calls are spread over the providers.
    pub routing: Routing,
    /// The providers, in priority order.
    pub providers: Vec<Provider>,
}

impl Default for Llm {
    fn default() -> Self {
        Self {
            routing: Routing::Priority,
            providers: vec![Provider::default()],
        }
    }
}

/// `[[llm.providers]]`: one OpenAI-compatible endpoint and the policies of the client that
/// reaches it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Provider {
    /// Unique name, used in reports and fault rules.
    pub name: String,
    /// `"embedded"` or the API's base URL (usually ending in `/v1`).
    pub base_url: Endpoint,
    /// Model name sent with each request.
    pub model: String,
    /// The API spoken: `"chat"` (`/chat/completions`) or `"responses"` (`/responses`).
    pub api: Api,
    /// Name of the environment variable that holds the API key, sent as
    /// `Authorization: Bearer` to this provider only. The key itself never appears in a file,
    /// a log or a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// A PEM file of the CA (or CAs) that signed the server's certificate, trusted besides the
    /// platform's roots (a private CA). Relative to the scenario file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// HTTP/2 with prior knowledge on plain `http://` (h2c). Over `https://`, HTTP/2 is used
    /// whenever the server offers it (ALPN), whatever this says.
    pub http2: bool,
    /// Extra headers of every request, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Param>,
    /// Query parameters added to every request's URL (like Azure's `api-version`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, Param>,
    /// Stream answers (SSE): needed to measure time to first token and inter-token gaps.
    pub stream: bool,
    /// Rate limits and the connection pool.
    pub limits: ClientLimits,
    /// Limit of one attempt (for streams, until the last byte).
    pub timeout: Dur,
    /// Limit of a whole logical call: waits, attempts and backoff together.
    pub deadline: Dur,
    /// Retries of failed attempts.
    pub retry: Retry,
    /// The circuit breaker in front of this provider.
    pub breaker: Breaker,
}

impl Default for Provider {
    fn default() -> Self {
        Self {
            name: "mock".to_owned(),
            base_url: Endpoint::Embedded,
            model: "mock-gpt".to_owned(),
            api: Api::Chat,
            api_key_env: None,
            ca_cert: None,
            http2: false,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            stream: true,
            limits: ClientLimits::default(),
            timeout: Dur::secs(60),
            deadline: Dur::secs(120),
            retry: Retry::default(),
            breaker: Breaker::default(),
        }
    }
}

/// `limits`: rate limits and the pool of one client (an LLM provider or a tool).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientLimits {
    /// Requests per minute allowed (GCRA; absent = unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute allowed, estimated before the call as prompt + max output and
    /// corrected from `usage` after (absent = unlimited; LLM providers only: a tool with
    /// `tpm` is rejected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests in flight at once. Bounds sockets and the load we put on the server.
    pub max_in_flight: u32,
    /// Callers that may wait for a pool slot; one more is shed at once with an error.
    pub max_queue: u32,
    /// Limit of establishing a connection.
    pub connect_timeout: Dur,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            rpm: None,
            tpm: None,
            max_in_flight: 256,
            max_queue: 4096,
            connect_timeout: Dur::secs(5),
        }
    }
}

/// `retry`: which failed attempts are tried again, and how long to wait in between.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retry {
    /// Attempts per logical call, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Backoff before the first retry.
    pub initial_backoff: Dur,
    /// Upper bound of one backoff.
    pub max_backoff: Dur,
    /// Growth factor of the backoff per retry.
    pub multiplier: Rate,
    /// Jitter: each backoff is multiplied by 1 + U[0, 1), seeded per agent and call.
    pub jitter: bool,
    /// A `Retry-After` longer than this is capped to it.
    pub max_retry_after: Dur,
    /// Retry budget: retries may add at most this fraction on top of first attempts
    /// (so an outage cannot multiply traffic without bound).
    pub budget_ratio: Probability,
    /// Retries always allowed per second regardless of the ratio (so a quiet client can
    /// still retry).
    pub budget_min_per_sec: Rate,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Dur::millis(250),
            max_backoff: Dur::secs(20),
            multiplier: Rate(2.0),
            jitter: true,
            max_retry_after: Dur::secs(60),
            budget_ratio: Probability(0.2),
            budget_min_per_sec: Rate(10.0),
        }
    }
}

/// `breaker`: a closed / open / half-open circuit breaker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Breaker {
    /// `false` turns the breaker off.
    pub enabled: bool,
    /// Opens when the failure share over `window` reaches this (with at least `min_calls`).
    pub failure_rate: Probability,
    /// The sliding window of the failure rate.
    pub window: Dur,
    /// Calls in the window before the failure rate counts.
    pub min_calls: u32,
    /// Opens after this many failures in a row, whatever the rate.
    pub consecutive_failures: u32,
    /// How long it stays open before probing.
    pub open_for: Dur,
    /// Probe calls let through when half-open; all must succeed to close.
    pub half_open_probes: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_rate: Probability(0.5),
            window: Dur::secs(10),
            min_calls: 20,
            consecutive_failures: 10,
            open_for: Dur::secs(5),
            half_open_probes: 3,
        }
    }
}

/// The type of one tool argument, used to write the JSON schema the LLM sees and by the mock
/// to invent plausible values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArgType {
    /// Free text (a query, a message).
    String,
    /// A whole number.
    Integer,
    /// A real number.
    Number,
    /// true / false.
    Boolean,
    /// A file path like `src/lib.rs`.
    Path,
    /// A URL.
    Url,
    /// An identifier like `ORD-48213`.
    Id,
}

/// `[tools.NAME]`: a tool agents can call, its client policies, and how the mock behaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tool {
    /// Description sent to the LLM.
    pub description: String,
    /// Arguments by name, all required.
    pub args: BTreeMap<String, ArgType>,
    /// Relative frequency with which the mock LLM picks this tool (the tool mix).
    pub weight: Rate,
    /// Where the tool lives: `"embedded"` (the mock's `/tools/NAME`, or its MCP server at
    /// `/mcp`) or a URL to POST to (or of the MCP server).
    pub endpoint: Endpoint,
    /// How it is called: `"http"` (its arguments POSTed) or `"mcp"` (a tool of the MCP server
    /// at `endpoint`, named as this table).
    pub protocol: ToolProtocol,
    /// Name of the environment variable that holds the tool server's key, sent as
    /// `Authorization: Bearer` to this tool only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// A PEM file of the CA that signed the tool server's certificate, trusted besides the
    /// platform's roots. Relative to the scenario file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// HTTP/2 with prior knowledge on plain `http://` (h2c).
    pub http2: bool,
    /// Extra headers of every request, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Param>,
    /// Query parameters added to every request's URL.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, Param>,
    /// Rate limit and pool of the tool client.
    pub limits: ClientLimits,
    /// Limit of one attempt; a slower tool call is a timeout (the stated target: 30 s).
    pub timeout: Dur,
    /// Limit of a whole logical call: waits, attempts and backoff together.
    pub deadline: Dur,
    /// Retries of failed attempts.
    pub retry: Retry,
    /// The circuit breaker in front of this tool.
    pub breaker: Breaker,
    /// The response cache (absent = no cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    /// How the mock tool server behaves for this tool.
    pub mock: ToolMock,
}

impl Default for Tool {
    fn default() -> Self {
        Self {
            description: String::new(),
            args: BTreeMap::new(),
            weight: Rate(1.0),
            endpoint: Endpoint::Embedded,
            protocol: ToolProtocol::Http,
            api_key_env: None,
            ca_cert: None,
            http2: false,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            limits: ClientLimits::default(),
            timeout: Dur::secs(30),
            deadline: Dur::secs(60),
            retry: Retry::default(),
            breaker: Breaker::default(),
            cache: None,
            mock: ToolMock::default(),
        }
    }
}

/// `[tools.NAME.cache]`: a bounded response cache keyed by tool name and arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cache {
    /// How long an entry is served.
    pub ttl: Dur,
    /// Entries kept at most.
    pub capacity: u64,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            ttl: Dur::secs(60),
            capacity: 10_000,
        }
    }
}

/// `[tools.NAME.mock]`: the mock tool server's behaviour for this tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolMock {
    /// Time to answer.
    pub latency: DurationDist,
    /// Share of calls that fail with a 500 and a tool error body.
    pub failure_rate: Probability,
    /// Size of the result text.
    pub response_tokens: TokenDist,
    /// How popular the mock LLM's arguments for this tool are (absent = each call's are
    /// invented afresh): [`crate::schema::popularity`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<crate::schema::ArgumentPopularity>,
}

impl Default for ToolMock {
    fn default() -> Self {
        Self {
            latency: Dist::LogNormal {
                median: Dur::millis(300),
                p95: Dur::millis(1500),
            },
            failure_rate: Probability(0.0),
            response_tokens: Dist::LogNormal {
                median: Tokens(200),
                p95: Tokens(1200),
            },
            arguments: None,
        }
    }
}
