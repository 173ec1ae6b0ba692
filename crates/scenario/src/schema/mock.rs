//! `[mock]`: the built-in OpenAI-compatible server's latency model and seeded faults.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::dist::{Dist, DurationDist, TokenDist, Tokens};
use crate::units::{Dur, Probability};

/// How the mock counts prompt tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tokenizer {
    /// tiktoken o200k_base (GPT-4o family), exact.
    #[default]
    O200k,
    /// tiktoken cl100k_base (GPT-4 / GPT-3.5), exact.
    Cl100k,
    /// One token per four characters: fast, approximate.
    Chars,
}

/// `[mock]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mock {
    /// Seed of the mock's answers and faults; the scenario seed when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Requests the mock LLM generates for at once; more wait in a FIFO queue. This is the
    /// server's batch capacity and what makes fleet size visible in latency.
    pub capacity: u32,
    /// Prefill time per prompt token, added to the time to first token. This is what makes
    /// compression visible in latency.
    pub prefill_per_token: Dur,
    /// Fixed part of the time to first token.
    pub base_latency: DurationDist,
    /// Delay between two output tokens.
    pub inter_token: DurationDist,
    /// Answer length when the request's `max_tokens` allows it.
    pub output_tokens: TokenDist,
    /// Chance that an answer to a user message calls tools (when tools are offered).
    pub tool_call_probability: Probability,
    /// Chance that an answer to tool results calls tools again.
    pub tool_followup_probability: Probability,
    /// Tool calls in one answer at most (the number is uniform from 1 to this).
    pub max_tool_calls: u32,
    /// How prompt tokens are counted for `usage` and prefill.
    pub tokenizer: Tokenizer,
    /// Model names listed by `GET /v1/models` besides the providers' models.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// A stalled request gives up after this long (so nothing hangs forever).
    pub stall_limit: Dur,
    /// Serve over TLS with this certificate chain (PEM), with `tls_key`; relative to the
    /// scenario file. The run's clients trust it for the embedded mock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Live runs: the address the embedded mock listens on, so a runtime under test can be
    /// pointed at it before the run (`127.0.0.1:8790`); absent, a free port of 127.0.0.1.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "listen_address"
    )]
    pub listen: Option<std::net::SocketAddr>,
    /// Seeded faults.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
}

impl Default for Mock {
    fn default() -> Self {
        Self {
            seed: None,
            capacity: 512,
            prefill_per_token: Dur::micros(20),
            base_latency: Dist::LogNormal {
                median: Dur::millis(150),
                p95: Dur::millis(500),
            },
            inter_token: Dist::LogNormal {
                median: Dur::millis(8),
                p95: Dur::millis(20),
            },
            output_tokens: Dist::LogNormal {
                median: Tokens(80),
                p95: Tokens(300),
            },
            tool_call_probability: Probability(0.5),
            tool_followup_probability: Probability(0.2),
            max_tool_calls: 2,
            tokenizer: Tokenizer::O200k,
            models: Vec::new(),
            stall_limit: Dur::secs(300),
            tls_cert: None,
            tls_key: None,
            listen: None,
            faults: Vec::new(),
        }
    }
}

/// `[mock] listen`: an IP address and a port, with a message that says how to write one.
fn listen_address<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "invalid address `{text}`: give an IP address and a port, like \"127.0.0.1:8790\" (a name like localhost is not resolved; port 0 picks a free one)"
        ))
    })
}

/// The kinds of fault the mock injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// HTTP 429 with a `Retry-After` header.
    RateLimit,
    /// HTTP 500.
    ServerError,
    /// HTTP 503.
    Unavailable,
    /// The connection is reset (TCP RST) before any response byte.
    Reset,
    /// No byte is sent until the client gives up (or `stall_limit`).
    Stall,
    /// The response stops halfway and the connection is cut.
    Truncate,
    /// A streamed chunk (or the whole body) is not valid JSON.
    Malformed,
    /// The first token comes `delay` late.
    SlowFirstToken,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::RateLimit,
        FaultKind::ServerError,
        FaultKind::Unavailable,
        FaultKind::Reset,
        FaultKind::Stall,
        FaultKind::Truncate,
        FaultKind::Malformed,
        FaultKind::SlowFirstToken,
    ];

    /// The kebab-case name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::RateLimit => "rate-limit",
            FaultKind::ServerError => "server-error",
            FaultKind::Unavailable => "unavailable",
            FaultKind::Reset => "reset",
            FaultKind::Stall => "stall",
            FaultKind::Truncate => "truncate",
            FaultKind::Malformed => "malformed",
            FaultKind::SlowFirstToken => "slow-first-token",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which requests a fault rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FaultTarget {
    /// Every endpoint.
    All,
    /// The LLM endpoints: `POST /v1/chat/completions` and `POST /v1/responses`.
    Chat,
    /// Every tool.
    Tools,
    /// One tool, `tool:NAME`.
    Tool(String),
}

impl TryFrom<String> for FaultTarget {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "all" => Ok(FaultTarget::All),
            "chat" => Ok(FaultTarget::Chat),
            "tools" => Ok(FaultTarget::Tools),
            other => match other.strip_prefix("tool:") {
                Some(name) if !name.is_empty() => Ok(FaultTarget::Tool(name.to_owned())),
                _ => Err(format!(
                    "invalid fault endpoint `{s}`: use \"chat\", \"tools\", \"tool:NAME\" or \"all\""
                )),
            },
        }
    }
}

impl From<FaultTarget> for String {
    fn from(t: FaultTarget) -> Self {
        match t {
            FaultTarget::All => "all".to_owned(),
            FaultTarget::Chat => "chat".to_owned(),
            FaultTarget::Tools => "tools".to_owned(),
            FaultTarget::Tool(name) => format!("tool:{name}"),
        }
    }
}

/// `[[mock.faults]]`: one seeded fault rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// What it applies to.
    pub endpoint: FaultTarget,
    /// What happens.
    pub kind: FaultKind,
    /// Share of matching requests it hits.
    pub probability: Probability,
    /// Active from this long after the mock starts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub from: Dur,
    /// Active until this long after the mock starts (absent = to the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Dur>,
    /// Only requests for this model (chat only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `rate-limit`: the `Retry-After` sent (whole seconds on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Dur>,
    /// `slow-first-token`: the extra delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
}

fn is_zero(d: &Dur) -> bool {
    d.0.is_zero()
}

impl Fault {
    /// `Retry-After` of a rate-limit fault (default 1 s).
    pub fn retry_after(&self) -> Dur {
        self.retry_after.unwrap_or(Dur::secs(1))
    }

    /// Extra delay of a slow-first-token fault (default 5 s).
    pub fn delay(&self) -> Dur {
        self.delay.unwrap_or(Dur::secs(5))
    }
}
