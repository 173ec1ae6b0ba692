//! The tool client: each call through the same policies as the LLM, each attempt made by a
//! backend ([`ToolBackend`]: HTTP, or the in-process mock), with an optional response cache
//! in front (hits and coalesced calls never reach the tool).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use metrics::ErrorKind;
use scenario::Retry;

use crate::backend::{AnyTool, ToolBackend};
use crate::cache::{Lookup, ResponseCache, tool_key};
use crate::drive::{Policy, Target, drive};
use crate::record::CallRecord;

/// What a tool returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolResult {
    /// The text the agent appends to its conversation.
    pub output: Arc<str>,
    /// Its size in tokens, as the tool reported it (or estimated at 4 characters a token).
    pub tokens: u32,
}

/// One tool with its policies and its backend.
#[derive(Debug)]
pub(crate) struct ToolEntry<B> {
    pub(crate) target: Arc<Target>,
    pub(crate) backend: B,
    pub(crate) cache: Option<ResponseCache<ToolResult>>,
    pub(crate) retry: Retry,
    pub(crate) deadline: Duration,
}

/// The shared tool client. Generic over the backend, which the scenario's endpoints choose
/// ([`AnyTool`]); the policies and the cache wrap any [`ToolBackend`] the same way.
#[derive(Debug)]
pub struct ToolClient<B = AnyTool> {
    pub(crate) tools: BTreeMap<String, ToolEntry<B>>,
    /// Ends every call in flight as `cancelled` ([`crate::Clients::cancel_calls`]).
    pub(crate) cancel: CancellationToken,
}

impl<B> Default for ToolClient<B> {
    fn default() -> Self {
        Self {
            tools: BTreeMap::new(),
            cancel: CancellationToken::new(),
        }
    }
}

impl<B: ToolBackend> ToolClient<B> {
    /// The client of the scenario's `[tools]`, each tool's policies as configured and its
    /// attempts made by `backend(name, tool)`; the first error `backend` returns, if any.
    pub fn with_backends<E>(
        tools: &BTreeMap<String, scenario::Tool>,
        mut backend: impl FnMut(&str, &scenario::Tool) -> Result<B, E>,
    ) -> Result<Self, E> {
        let tools = tools
            .iter()
            .map(|(name, t)| {
                let entry = ToolEntry {
                    target: Arc::new(Target::new(
                        name,
                        &t.limits,
                        &t.breaker,
                        &t.retry,
                        t.timeout.0,
                    )),
                    backend: backend(name, t)?,
                    cache: t.cache.as_ref().map(ResponseCache::new),
                    retry: t.retry.clone(),
                    deadline: t.deadline.0,
                };
                Ok((name.clone(), entry))
            })
            .collect::<Result<_, E>>()?;
        Ok(Self {
            tools,
            cancel: CancellationToken::new(),
        })
    }

    /// One logical tool call. An unknown tool (the model invented one) fails at once as a
    /// client error.
    pub async fn call(
        &self,
        name: &str,
        args: &serde_json::Value,
        seed: u64,
    ) -> (CallRecord, Result<ToolResult, ErrorKind>) {
        let Some(tool) = self.tools.get(name) else {
            let record = CallRecord {
                target: name.to_owned(),
                error: Some(ErrorKind::ClientError),
                ..CallRecord::default()
            };
            return (record, Err(ErrorKind::ClientError));
        };
        let Some(cache) = &tool.cache else {
            return fetch(tool, args, seed, &self.cancel).await;
        };
        let start = tokio::time::Instant::now();
        let mut fetched = None;
        let (result, lookup) = cache
            .get_or_fetch(&tool_key(name, args), || async {
                let (record, result) = fetch(tool, args, seed, &self.cancel).await;
                fetched = Some(record);
                result
            })
            .await;
        let mut record = fetched.unwrap_or_else(|| CallRecord {
            target: name.to_owned(),
            ..CallRecord::default()
        });
        record.cache_hit = Some(lookup != Lookup::Miss);
        record.cache_coalesced = lookup == Lookup::Coalesced;
        record.total = start.elapsed();
        record.error = result.as_ref().err().copied();
        (record, result)
    }

    /// The cache statistics of each tool that has a cache.
    pub fn cache_stats(&self) -> Vec<(String, crate::CacheStats)> {
        self.tools
            .iter()
            .filter_map(|(n, t)| t.cache.as_ref().map(|c| (n.clone(), c.stats())))
            .collect()
    }

    /// Requests in flight now, over every tool's pool (read on a metrics scrape).
    pub fn in_flight(&self) -> usize {
        self.tools.values().map(|t| t.target.pool.in_flight()).sum()
    }

    /// The breaker state and stats of each tool.
    pub fn breakers(&self) -> Vec<(String, crate::BreakerState, crate::BreakerStats)> {
        self.tools
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    t.target.breaker.state(),
                    t.target.breaker.stats(),
                )
            })
            .collect()
    }
}

async fn fetch<B: ToolBackend>(
    tool: &ToolEntry<B>,
    args: &serde_json::Value,
    seed: u64,
    cancel: &CancellationToken,
) -> (CallRecord, Result<ToolResult, ErrorKind>) {
    let policy = Policy {
        retry: &tool.retry,
        deadline: tool.deadline,
        seed,
        estimated_tokens: 0,
        cancel,
    };
    let targets = std::slice::from_ref(&tool.target);
    drive(targets, || vec![0], &policy, |_| tool.backend.attempt(args)).await
}

#[cfg(test)]
mod tests;
