//! The tool cache, per tool: how lookups were served ([`CacheOutcome`]), each path's latency,
//! and the cache's own evictions and expirations ([`ToolCacheRecord`], recorded during a run),
//! summarized for the report as [`ToolCacheSummary`] (`docs/metrics.md`, "Tool cache").

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::histogram::LatencyHistogram;
use crate::ms;

/// How the cache served one logical tool call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheOutcome {
    /// From a ready entry, without calling the tool.
    Hit,
    /// The call fetched from the tool (no entry, or it had expired).
    Miss,
    /// Another call's in-flight fetch of the same tool and arguments served it
    /// (single-flight: one fetch for a thundering herd).
    Coalesced,
}

/// One tool's cache as recorded: counts and latency per outcome. Merges exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCacheRecord {
    /// Calls served from a ready entry.
    pub hits: u64,
    /// Calls that fetched.
    pub misses: u64,
    /// Calls served by an identical call's in-flight fetch.
    pub coalesced: u64,
    /// Entries evicted to stay within capacity (the cache's own count, at the end).
    pub evictions: u64,
    /// Entries dropped when their TTL ran out (the cache's own count, at the end).
    pub expirations: u64,
    /// `tool_call` latency of hits.
    pub hit_latency: LatencyHistogram,
    /// `tool_call` latency of misses.
    pub miss_latency: LatencyHistogram,
    /// `tool_call` latency of coalesced calls (the wait for the leader's fetch).
    pub coalesced_latency: LatencyHistogram,
}

impl ToolCacheRecord {
    /// Counts one call served as `outcome`; `latency` is its `tool_call` time, `None` for a
    /// call cut off by the end of the run (counted, no latency).
    pub fn call(&mut self, outcome: CacheOutcome, latency: Option<Duration>) {
        let (count, histogram) = match outcome {
            CacheOutcome::Hit => (&mut self.hits, &mut self.hit_latency),
            CacheOutcome::Miss => (&mut self.misses, &mut self.miss_latency),
            CacheOutcome::Coalesced => (&mut self.coalesced, &mut self.coalesced_latency),
        };
        *count += 1;
        if let Some(latency) = latency {
            histogram.record(latency);
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &ToolCacheRecord) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.coalesced += other.coalesced;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
        self.hit_latency.merge(&other.hit_latency);
        self.miss_latency.merge(&other.miss_latency);
        self.coalesced_latency.merge(&other.coalesced_latency);
    }

    /// Lookups: hits, misses and coalesced calls.
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses + self.coalesced
    }

    /// Calls the cache served without this call fetching (hits and coalesced) over lookups;
    /// `None` with no lookup.
    pub fn hit_rate(&self) -> Option<f64> {
        let lookups = self.lookups();
        (lookups > 0).then(|| (self.hits + self.coalesced) as f64 / lookups as f64)
    }

    /// Time saved: each hit counted at the misses' p50 minus the hits' p50 (never below 0);
    /// `None` until both a hit and a miss have a latency.
    pub fn latency_saved(&self) -> Option<Duration> {
        if self.hit_latency.count() == 0 || self.miss_latency.count() == 0 {
            return None;
        }
        let per_hit = self
            .miss_latency
            .quantile(0.5)
            .saturating_sub(self.hit_latency.quantile(0.5));
        Some(per_hit.saturating_mul(u32::try_from(self.hits).unwrap_or(u32::MAX)))
    }
}

/// One tool's cache in the report (`tool_cache`): hit rate, counts and the latency the cache
/// saved (`docs/metrics.md`, "Tool cache").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCacheSummary {
    /// The tool.
    pub tool: String,
    /// (hits + coalesced) / (hits + misses + coalesced); `null` with no lookup.
    pub hit_rate: Option<f64>,
    /// Calls served from a ready entry.
    pub hits: u64,
    /// Calls that fetched from the tool.
    pub misses: u64,
    /// Calls served by an identical call's in-flight fetch (single-flight).
    pub coalesced: u64,
    /// Entries evicted to stay within capacity.
    pub evictions: u64,
    /// Entries dropped when their TTL ran out.
    pub expirations: u64,
    /// p50 of the hits' `tool_call` latency, ms; `null` without a hit.
    pub hit_p50_ms: Option<f64>,
    /// p50 of the misses' `tool_call` latency, ms; `null` without a miss.
    pub miss_p50_ms: Option<f64>,
    /// p50 of the coalesced calls' `tool_call` latency, ms; `null` without one.
    pub coalesced_p50_ms: Option<f64>,
    /// hits × (miss_p50_ms − hit_p50_ms), at least 0, ms; `null` without both a hit and a miss.
    pub latency_saved_ms: Option<f64>,
}

fn p50(h: &LatencyHistogram) -> Option<f64> {
    (h.count() > 0).then(|| ms(h.quantile(0.5)))
}

impl ToolCacheSummary {
    /// The summary of `tool`'s record.
    pub fn of(tool: &str, r: &ToolCacheRecord) -> Self {
        ToolCacheSummary {
            tool: tool.to_owned(),
            hit_rate: r.hit_rate(),
            hits: r.hits,
            misses: r.misses,
            coalesced: r.coalesced,
            evictions: r.evictions,
            expirations: r.expirations,
            hit_p50_ms: p50(&r.hit_latency),
            miss_p50_ms: p50(&r.miss_latency),
            coalesced_p50_ms: p50(&r.coalesced_latency),
            latency_saved_ms: r.latency_saved().map(ms),
        }
    }

    /// Every tool's summary, by tool name.
    pub fn all(records: &BTreeMap<String, ToolCacheRecord>) -> Vec<ToolCacheSummary> {
        records.iter().map(|(t, r)| Self::of(t, r)).collect()
    }
}

/// Every tool's record summed: the run-wide tool cache.
pub(crate) fn all_tools(records: &BTreeMap<String, ToolCacheRecord>) -> ToolCacheRecord {
    let mut all = ToolCacheRecord::default();
    for r in records.values() {
        all.merge(r);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ToolCacheRecord {
        let mut r = ToolCacheRecord::default();
        for _ in 0..8 {
            r.call(CacheOutcome::Hit, Some(Duration::ZERO));
        }
        r.call(CacheOutcome::Miss, Some(Duration::from_millis(300)));
        r.call(CacheOutcome::Coalesced, Some(Duration::from_millis(120)));
        r.call(CacheOutcome::Miss, None);
        r.evictions = 2;
        r
    }

    #[test]
    fn hit_rate_counts_coalesced_calls_as_served() {
        let r = record();
        assert_eq!(r.lookups(), 11);
        assert_eq!(r.hit_rate(), Some(9.0 / 11.0));
        assert_eq!(ToolCacheRecord::default().hit_rate(), None);
    }

    #[test]
    fn latency_saved_is_hits_times_the_p50_gap() {
        let r = record();
        // 8 hits at 0 ms; misses' p50 300 ms (the cut-off miss has no latency).
        let saved = r.latency_saved().expect("hits and misses");
        assert_eq!(ms(saved).round(), 2400.0);
        let s = ToolCacheSummary::of("kb", &r);
        assert_eq!(s.hit_p50_ms, Some(0.0));
        assert_eq!(s.coalesced_p50_ms.map(f64::round), Some(120.0));
        assert_eq!(s.latency_saved_ms.map(f64::round), Some(2400.0));
        assert_eq!((s.hits, s.misses, s.coalesced, s.evictions), (8, 2, 1, 2));
        let mut only_hits = ToolCacheRecord::default();
        only_hits.call(CacheOutcome::Hit, Some(Duration::ZERO));
        assert_eq!(only_hits.latency_saved(), None);
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = record();
        a.merge(&record());
        assert_eq!((a.hits, a.misses, a.coalesced, a.evictions), (16, 4, 2, 4));
        assert_eq!(a.hit_latency.count(), 16);
        let mut tools = BTreeMap::new();
        tools.insert("a".to_owned(), record());
        tools.insert("b".to_owned(), record());
        assert_eq!(all_tools(&tools), a);
    }
}
