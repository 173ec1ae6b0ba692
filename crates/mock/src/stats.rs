//! What the mock observed: requests, tokens and faults, and per API key, model and tool the
//! highest request and token rates in any sliding 1-second and 60-second window, plus the
//! most requests in flight at once. Tests read these to check that clients keep to their
//! limits, so the windows are exact: every arrival inside the last 60 s is kept, and the
//! maximum is taken at each arrival (where a sliding window's sum peaks).
//!
//! The names are the client's to choose (any model string, any API key), so the number kept
//! apart is bounded ([`MAX_SERIES`] keys and as many models); further ones are counted
//! together under [`OTHER`], and the totals stay exact.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use scenario::FaultKind;
use scenario::rng::stable_hash;

use crate::attribution::AttributionStats;

/// How many distinct API keys, and how many distinct models, `/stats` keeps apart. Without a
/// bound a client sending a new key or model name with each request would grow the mock's
/// memory (and every `/stats` body) without limit; a fleet uses a handful.
pub(crate) const MAX_SERIES: usize = 1_000;

/// The entry of `by_key` and `by_model` that counts together the keys and models past
/// [`MAX_SERIES`], the models whose name is longer than [`MAX_NAME_BYTES`], and a model
/// named `(other)` itself. No key fingerprint has this form.
pub(crate) const OTHER: &str = "(other)";

/// The longest model name `/stats` keeps as it is: a bound on what one entry's name costs.
pub(crate) const MAX_NAME_BYTES: usize = 256;

/// The LLM endpoint a request came through: `/stats` counts each apart (`chat_requests`,
/// `responses_requests`); everything else about a request (its plan, latency, slot, fault
/// index, rate windows) is the same whichever API it used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LlmApi {
    /// `POST /v1/chat/completions`.
    #[default]
    Chat,
    /// `POST /v1/responses`.
    Responses,
}

/// A name under which an API key is reported: never the key itself.
pub fn key_fingerprint(api_key: Option<&str>) -> String {
    match api_key {
        None | Some("") => "anonymous".to_owned(),
        Some(key) => format!("key-{:08x}", stable_hash(key.as_bytes()) >> 32),
    }
}

/// A sliding window of arrivals: (time, tokens).
#[derive(Debug, Default)]
struct Window {
    span: Duration,
    arrivals: VecDeque<(Instant, u64)>,
    requests: u64,
    tokens: u64,
    max_requests: u64,
    max_tokens: u64,
}

impl Window {
    fn new(span: Duration) -> Self {
        Self {
            span,
            ..Self::default()
        }
    }

    fn add(&mut self, now: Instant, tokens: u64) {
        // The window is (now - span, now]: an arrival exactly `span` ago has left it.
        while let Some(&(t, tok)) = self.arrivals.front() {
            if now.duration_since(t) < self.span {
                break;
            }
            self.arrivals.pop_front();
            self.requests -= 1;
            self.tokens -= tok;
        }
        self.arrivals.push_back((now, tokens));
        self.requests += 1;
        self.tokens += tokens;
        self.max_requests = self.max_requests.max(self.requests);
        self.max_tokens = self.max_tokens.max(self.tokens);
    }
}

/// Counters of one API key, model or tool.
#[derive(Debug)]
struct Series {
    requests: u64,
    tokens: u64,
    in_flight: u64,
    max_in_flight: u64,
    second: Window,
    minute: Window,
}

impl Default for Series {
    fn default() -> Self {
        Self {
            requests: 0,
            tokens: 0,
            in_flight: 0,
            max_in_flight: 0,
            second: Window::new(Duration::from_secs(1)),
            minute: Window::new(Duration::from_secs(60)),
        }
    }
}

impl Series {
    fn arrive(&mut self, now: Instant, tokens: u64) {
        self.requests += 1;
        self.tokens += tokens;
        self.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(self.in_flight);
        self.second.add(now, tokens);
        self.minute.add(now, tokens);
    }

    fn snapshot(&self) -> SeriesStats {
        SeriesStats {
            requests: self.requests,
            tokens: self.tokens,
            in_flight: self.in_flight,
            max_in_flight: self.max_in_flight,
            max_requests_1s: self.second.max_requests,
            max_requests_60s: self.minute.max_requests,
            max_tokens_1s: self.second.max_tokens,
            max_tokens_60s: self.minute.max_tokens,
        }
    }
}

/// Counters of one API key, model or tool, as reported by `GET /stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesStats {
    /// Requests received.
    pub requests: u64,
    /// Tokens (prompt + completion) of those requests.
    pub tokens: u64,
    /// Requests being answered now.
    pub in_flight: u64,
    /// The most requests being answered at once.
    pub max_in_flight: u64,
    /// The most requests that arrived within any 1-second window.
    pub max_requests_1s: u64,
    /// The most requests that arrived within any 60-second window.
    pub max_requests_60s: u64,
    /// The most tokens that arrived within any 1-second window.
    pub max_tokens_1s: u64,
    /// The most tokens that arrived within any 60-second window.
    pub max_tokens_60s: u64,
}

/// The body of `GET /stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Time since the mock started, in milliseconds (of its clock: virtual under the virtual
    /// clock).
    pub uptime_ms: u64,
    /// Chat completion requests (`POST /v1/chat/completions`).
    pub chat_requests: u64,
    /// Responses API requests (`POST /v1/responses`).
    #[serde(default)]
    pub responses_requests: u64,
    /// Tool requests: `POST /tools/{name}`, and tool calls through `/mcp` (one call, one
    /// request).
    pub tool_requests: u64,
    /// JSON-RPC requests to `/mcp` (`initialize`, `tools/list` and `tools/call` included;
    /// notifications and responses not). Left out of the body while 0, so a run that never
    /// speaks MCP reports what it did before `/mcp` existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mcp_requests: u64,
    /// Prompt tokens counted.
    pub prompt_tokens: u64,
    /// Completion tokens planned.
    pub completion_tokens: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Per API key fingerprint (`anonymous` without a key), requests to both LLM endpoints and
    /// tools together; keys past the first 1,000 under `(other)`.
    pub by_key: BTreeMap<String, SeriesStats>,
    /// Per model, requests to both LLM endpoints together; models past the first 1,000, and
    /// names longer than 256 bytes, under `(other)`.
    pub by_model: BTreeMap<String, SeriesStats>,
    /// Per tool.
    pub by_tool: BTreeMap<String, SeriesStats>,
    /// Requests counted under `by_key`'s `(other)`.
    #[serde(default)]
    pub folded_keys: u64,
    /// Requests counted under `by_model`'s `(other)`.
    #[serde(default)]
    pub folded_models: u64,
    /// Session attribution's counters, while [`crate::MockConfig::attribution`] is on; left
    /// out of the body otherwise, so a run without it reports what it did before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<AttributionStats>,
}

#[derive(Debug, Default)]
struct Inner {
    chat_requests: u64,
    responses_requests: u64,
    tool_requests: u64,
    mcp_requests: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    faults: BTreeMap<FaultKind, u64>,
    by_key: SeriesMap,
    by_model: SeriesMap,
    by_tool: SeriesMap,
}

/// Series by name, at most `limit` names apart and the rest under [`OTHER`].
#[derive(Debug)]
struct SeriesMap {
    series: BTreeMap<String, Series>,
    limit: usize,
    /// Requests counted under [`OTHER`].
    folded: u64,
}

impl Default for SeriesMap {
    fn default() -> Self {
        Self::bounded(MAX_SERIES)
    }
}

impl SeriesMap {
    fn bounded(limit: usize) -> Self {
        Self {
            series: BTreeMap::new(),
            limit,
            folded: 0,
        }
    }

    /// Counts an arrival under `name`, or under [`OTHER`] when `name` is new and `limit`
    /// names are kept already, is longer than [`MAX_NAME_BYTES`] or is [`OTHER`]; returns the
    /// name it was counted under, for [`SeriesMap::leave`].
    fn arrive(&mut self, name: &str, now: Instant, tokens: u64) -> String {
        if let Some(series) = self.series.get_mut(name).filter(|_| name != OTHER) {
            series.arrive(now, tokens);
            return name.to_owned();
        }
        let kept = self.series.len() - usize::from(self.series.contains_key(OTHER));
        let name = if name == OTHER || name.len() > MAX_NAME_BYTES || kept >= self.limit {
            self.folded += 1;
            OTHER
        } else {
            name
        };
        self.series
            .entry(name.to_owned())
            .or_default()
            .arrive(now, tokens);
        name.to_owned()
    }

    /// Ends the in-flight mark of a request counted under `name`.
    fn leave(&mut self, name: &str) {
        if let Some(series) = self.series.get_mut(name) {
            series.in_flight -= 1;
        }
    }

    fn snapshot(&self) -> BTreeMap<String, SeriesStats> {
        self.series
            .iter()
            .map(|(k, s)| (k.clone(), s.snapshot()))
            .collect()
    }
}

/// The mock's counters. Cheap to clone; one lock, never held across an await.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    started: Instant,
    inner: Arc<Mutex<Inner>>,
}

/// Marks a request in flight until dropped: a stream until it ends or the client goes away,
/// any other answer until it is ready to be written.
#[derive(Debug)]
pub(crate) struct InFlight {
    stats: Stats,
    key: Option<String>,
    model: Option<String>,
    tool: Option<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut inner = self.stats.lock();
        let Inner {
            by_key,
            by_model,
            by_tool,
            ..
        } = &mut *inner;
        for (map, name) in [
            (by_key, &self.key),
            (by_model, &self.model),
            (by_tool, &self.tool),
        ] {
            if let Some(name) = name {
                map.leave(name);
            }
        }
    }
}

impl Stats {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            started,
            inner: Arc::new(Mutex::new(Inner {
                // Tools are the configuration's: a request for another is answered 404 and
                // not counted.
                by_tool: SeriesMap::bounded(usize::MAX),
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while counting leaves counters that are still meaningful.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a request to an LLM endpoint on arrival, with the tokens it will use. Both APIs
    /// share the key and model series, so the observed rates are what a provider's limits see.
    pub(crate) fn llm(
        &self,
        api: LlmApi,
        key: &str,
        model: &str,
        prompt: u32,
        completion: u32,
    ) -> InFlight {
        let now = Instant::now();
        let tokens = u64::from(prompt) + u64::from(completion);
        let mut inner = self.lock();
        match api {
            LlmApi::Chat => inner.chat_requests += 1,
            LlmApi::Responses => inner.responses_requests += 1,
        }
        inner.prompt_tokens += u64::from(prompt);
        inner.completion_tokens += u64::from(completion);
        let key = inner.by_key.arrive(key, now, tokens);
        let model = inner.by_model.arrive(model, now, tokens);
        InFlight {
            stats: self.clone(),
            key: Some(key),
            model: Some(model),
            tool: None,
        }
    }

    /// Records a tool request on arrival.
    pub(crate) fn tool(&self, key: &str, name: &str) -> InFlight {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.tool_requests += 1;
        let key = inner.by_key.arrive(key, now, 0);
        let tool = inner.by_tool.arrive(name, now, 0);
        InFlight {
            stats: self.clone(),
            key: Some(key),
            model: None,
            tool: Some(tool),
        }
    }

    /// Records `n` JSON-RPC requests that arrived at `/mcp` in one HTTP request (a batch has
    /// several).
    pub(crate) fn mcp(&self, n: u64) {
        self.lock().mcp_requests += n;
    }

    pub(crate) fn fault(&self, kind: FaultKind) {
        *self.lock().faults.entry(kind).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let uptime = Instant::now().duration_since(self.started);
        let inner = self.lock();
        StatsSnapshot {
            uptime_ms: u64::try_from(uptime.as_millis()).unwrap_or(u64::MAX),
            chat_requests: inner.chat_requests,
            responses_requests: inner.responses_requests,
            tool_requests: inner.tool_requests,
            mcp_requests: inner.mcp_requests,
            prompt_tokens: inner.prompt_tokens,
            completion_tokens: inner.completion_tokens,
            faults: inner
                .faults
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), *v))
                .collect(),
            by_key: inner.by_key.snapshot(),
            by_model: inner.by_model.snapshot(),
            by_tool: inner.by_tool.snapshot(),
            folded_keys: inner.by_key.folded,
            folded_models: inner.by_model.folded,
            // `Shared::snapshot` fills it in: the recorder is not the counters'.
            attribution: None,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub(crate) mod prometheus;

#[cfg(test)]
mod tests;
