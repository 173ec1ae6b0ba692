//! A bounded, TTL, request-coalescing response cache for tool calls.
//!
//! Time comes only from [`tokio::time::Instant`], so TTLs follow tokio's clock: they work under
//! `#[tokio::test(start_paused = true)]` and the simulator's virtual clock (this is why the cache
//! is not `moka`, whose clock is wall time).
//!
//! - **TTL**: an entry is served while `now < inserted + ttl`; expired entries are dropped
//!   (counted in [`CacheStats::expirations`]) and the lookup is a [`Lookup::Miss`].
//! - **Bound**: at most `capacity` ready entries; inserting beyond it evicts the least recently
//!   used one in O(log n) (counted in [`CacheStats::evictions`]).
//! - **Coalescing**: concurrent callers of one key share a single fetch. Errors are not cached:
//!   when the fetch fails, or its caller is cancelled, the waiting callers retry and one of them
//!   fetches again.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// How a lookup was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A ready, unexpired entry was served without fetching.
    Hit,
    /// This caller ran the fetch (no entry, or it had expired).
    Miss,
    /// Another caller's in-flight fetch for the same key produced the value.
    Coalesced,
}

/// Counters since the cache was created, and the current number of ready entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups served from a ready entry.
    pub hits: u64,
    /// Lookups that ran the fetch themselves.
    pub misses: u64,
    /// Lookups served by another caller's fetch.
    pub coalesced: u64,
    /// Ready entries dropped to stay within `capacity`.
    pub evictions: u64,
    /// Ready entries dropped because their TTL ran out.
    pub expirations: u64,
    /// Ready (cached, unexpired) entries now; in-flight fetches are not counted.
    pub entries: u64,
}

/// A bounded, TTL, request-coalescing cache from string keys to `V`.
///
/// Cheap to clone (`Arc` inside); clones share entries.
pub struct ResponseCache<V> {
    shared: Arc<Mutex<State<V>>>,
}

impl<V> Clone for ResponseCache<V> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<V> fmt::Debug for ResponseCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("ResponseCache")
            .field("ttl", &state.ttl)
            .field("capacity", &state.capacity)
            .field("ready", &state.lru.len())
            .field(
                "pending",
                &state.slots.len().saturating_sub(state.lru.len()),
            )
            .field("stats", &state.stats)
            .finish()
    }
}

/// Locks the state. A poisoned lock is recovered rather than propagated: every mutation keeps
/// `slots`, `lru` and `by_expiry` in agreement before any user code (`V::clone`, `V::drop`) can
/// run and panic, so the state behind a poisoned lock is still consistent.
fn lock<V>(shared: &Mutex<State<V>>) -> MutexGuard<'_, State<V>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

struct State<V> {
    /// How long an entry is served after insertion (from `scenario::Cache::ttl`).
    ttl: Duration,
    /// Ready entries kept at most (from `scenario::Cache::capacity`). In-flight fetches do not
    /// count: they hold no value yet and are bounded by the number of concurrent callers.
    capacity: usize,
    /// Every key that is either cached (`Ready`) or being fetched (`Pending`).
    slots: HashMap<Arc<str>, Slot<V>>,
    /// Ready entries by last-access tick, oldest first: the LRU victim is `first`, in O(log n).
    /// A logical tick rather than an `Instant`, because under a paused clock many accesses share
    /// one instant and recency must still be a total order.
    lru: BTreeMap<u64, Arc<str>>,
    /// Ready entries by expiry (ties broken by insertion id), soonest first, so expired entries
    /// are dropped without a scan and `entries` counts only live ones. Entries whose expiry
    /// overflows `Instant` never expire and are not indexed here.
    by_expiry: BTreeMap<(Instant, u64), Arc<str>>,
    /// Monotonic counter for access ticks, insertion ids and pending-fetch ids.
    tick: u64,
    /// Counters; `entries` is filled in by `stats()`.
    stats: CacheStats,
}

enum Slot<V> {
    Ready(Ready<V>),
    Pending(Pending<V>),
}

struct Ready<V> {
    value: V,
    /// `None` when `inserted + ttl` overflows: never expires.
    expires: Option<Instant>,
    /// Unique insertion id: the tie-breaker in `by_expiry`.
    id: u64,
    /// Last access tick: the key in `lru`.
    last_access: u64,
}

struct Pending<V> {
    /// The callers waiting for this fetch, in the order they came. They register under the
    /// lock, so none misses the value. The leader sends it to each on success, in that order;
    /// on failure or cancellation the slot is removed, dropping the senders, which wakes the
    /// waiters to retry. Not a watch channel: it wakes its receivers in a random order, and
    /// which waiter runs first must be the same in every run of a seeded virtual fleet (the
    /// order decides whose request reaches a server first, and so which one a fault hits).
    waiters: Vec<oneshot::Sender<Arc<V>>>,
    /// Which leader owns this slot, so a leader only ever completes or abandons its own fetch.
    id: u64,
}

impl<V> State<V> {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Drops every ready entry whose TTL has run out at `now`.
    fn purge_expired(&mut self, now: Instant) {
        while let Some(first) = self.by_expiry.first_entry() {
            if first.key().0 > now {
                break;
            }
            let key = first.remove();
            if let Some(Slot::Ready(ready)) = self.slots.remove(&key) {
                self.lru.remove(&ready.last_access);
                self.stats.expirations += 1;
            }
        }
    }

    /// Drops the least recently used ready entry; `false` if there is none.
    fn evict_lru(&mut self) -> bool {
        let Some((_, key)) = self.lru.pop_first() else {
            return false;
        };
        if let Some(Slot::Ready(ready)) = self.slots.remove(&key) {
            if let Some(expires) = ready.expires {
                self.by_expiry.remove(&(expires, ready.id));
            }
            self.stats.evictions += 1;
        }
        true
    }

    /// Caches `value` under `key` (whose slot the caller has just vacated), evicting the least
    /// recently used entries to make room.
    fn insert_ready(&mut self, key: Arc<str>, value: V, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        while self.lru.len() >= self.capacity && self.evict_lru() {}
        let id = self.next_tick();
        let expires = now.checked_add(self.ttl);
        self.lru.insert(id, Arc::clone(&key));
        if let Some(expires) = expires {
            self.by_expiry.insert((expires, id), Arc::clone(&key));
        }
        let ready = Ready {
            value,
            expires,
            id,
            last_access: id,
        };
        self.slots.insert(key, Slot::Ready(ready));
    }
}

/// What a lookup found, decided under one lock.
enum Begin<'a, V> {
    Hit(V),
    Wait(oneshot::Receiver<Arc<V>>),
    Lead(Leader<'a, V>),
}

/// The right (and duty) to fetch one key. Dropping it without [`Leader::complete`] (fetch
/// failed, panicked, or the caller was cancelled) removes the pending slot, which wakes the
/// waiters so that one of them retries as the new leader.
struct Leader<'a, V> {
    shared: &'a Mutex<State<V>>,
    key: Arc<str>,
    id: u64,
    /// Cleared by `complete`: the slot has been handed over and `Drop` has nothing to do.
    armed: bool,
}

impl<V: Clone> Leader<'_, V> {
    /// Caches `value` and hands it to the waiters.
    fn complete(mut self, value: &V) {
        self.armed = false;
        let mut state = lock(self.shared);
        let owned = matches!(
            state.slots.get(&self.key),
            Some(Slot::Pending(pending)) if pending.id == self.id
        );
        if !owned {
            return;
        }
        // Clone before touching the indexes (see `lock`).
        let cached = value.clone();
        if let Some(Slot::Pending(pending)) = state.slots.remove(&self.key) {
            let now = Instant::now();
            state.purge_expired(now);
            state.insert_ready(Arc::clone(&self.key), cached, now);
            // Waiters register only under the lock and the slot is gone: the list is final.
            if !pending.waiters.is_empty() {
                let value = Arc::new(value.clone());
                for waiter in pending.waiters {
                    // A waiter that was cancelled meanwhile has dropped its receiver.
                    let _ = waiter.send(Arc::clone(&value));
                }
            }
        }
    }
}

impl<V> Drop for Leader<'_, V> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = lock(self.shared);
        if matches!(
            state.slots.get(&self.key),
            Some(Slot::Pending(pending)) if pending.id == self.id
        ) {
            // Dropping the senders wakes every waiter with "closed": they retry.
            state.slots.remove(&self.key);
        }
    }
}

impl<V: Clone + Send + Sync + 'static> ResponseCache<V> {
    /// A cache with `config`'s TTL and capacity.
    pub fn new(config: &scenario::Cache) -> Self {
        let state = State {
            ttl: config.ttl.0,
            capacity: usize::try_from(config.capacity).unwrap_or(usize::MAX),
            slots: HashMap::new(),
            lru: BTreeMap::new(),
            by_expiry: BTreeMap::new(),
            tick: 0,
            stats: CacheStats::default(),
        };
        Self {
            shared: Arc::new(Mutex::new(state)),
        }
    }

    /// The cached value for `key`, or the result of `fetch`. Concurrent callers of one key
    /// share a single fetch: the first runs it, the others wait and get its value (Coalesced).
    /// Errors are not cached: when the leader's fetch fails (or the leader is cancelled /
    /// dropped mid-fetch), waiting callers retry, one of them becoming the new leader.
    pub async fn get_or_fetch<F, Fut, E>(&self, key: &str, fetch: F) -> (Result<V, E>, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        loop {
            // The cache is every agent's: its entries and indexes are shared heap.
            let done = match heap::shared(|| self.begin(key)) {
                Begin::Hit(value) => return (Ok(value), Lookup::Hit),
                Begin::Wait(done) => done,
                Begin::Lead(leader) => {
                    let result = fetch().await;
                    match &result {
                        Ok(value) => heap::shared(|| leader.complete(value)),
                        Err(_) => heap::shared(|| drop(leader)),
                    }
                    return (result, Lookup::Miss);
                }
            };
            // `Err` means the leader gave up (its sender was dropped without a value): retry.
            if let Ok(value) = done.await {
                lock(&self.shared).stats.coalesced += 1;
                return (Ok(V::clone(&value)), Lookup::Coalesced);
            }
        }
    }

    /// Counters so far, and the ready entries now.
    pub fn stats(&self) -> CacheStats {
        let mut state = lock(&self.shared);
        state.purge_expired(Instant::now());
        let entries = state.lru.len() as u64;
        CacheStats {
            entries,
            ..state.stats
        }
    }

    /// Serves a hit, subscribes to an in-flight fetch, or registers this caller as the leader,
    /// all under one lock so that no completion can slip in between.
    fn begin(&self, key: &str) -> Begin<'_, V> {
        let mut state = lock(&self.shared);
        state.purge_expired(Instant::now());
        let state = &mut *state;
        match state.slots.get_mut(key) {
            Some(Slot::Ready(ready)) => {
                let value = ready.value.clone();
                state.tick += 1;
                let old = std::mem::replace(&mut ready.last_access, state.tick);
                if let Some(lru_key) = state.lru.remove(&old) {
                    state.lru.insert(ready.last_access, lru_key);
                }
                state.stats.hits += 1;
                Begin::Hit(value)
            }
            Some(Slot::Pending(pending)) => {
                let (done, wait) = oneshot::channel();
                pending.waiters.push(done);
                Begin::Wait(wait)
            }
            None => {
                let id = state.next_tick();
                let key: Arc<str> = Arc::from(key);
                let pending = Pending {
                    waiters: Vec::new(),
                    id,
                };
                state.slots.insert(Arc::clone(&key), Slot::Pending(pending));
                state.stats.misses += 1;
                Begin::Lead(Leader {
                    shared: &self.shared,
                    key,
                    id,
                    armed: true,
                })
            }
        }
    }
}

/// A cache key for a tool call: the tool name and its arguments with object keys sorted
/// recursively, so `{"a":1,"b":2}` and `{"b":2,"a":1}` give the same key (do not rely on
/// serde_json's map order: another crate in the workspace may enable `preserve_order`).
///
/// The key is the compact JSON array `[tool, args]`, so tool names and arguments are escaped
/// and cannot run into each other.
pub fn tool_key(tool: &str, args: &serde_json::Value) -> String {
    serde_json::Value::Array(vec![tool.into(), canonical(args)]).to_string()
}

/// `value` with every object rebuilt in sorted key order. Inserting in sorted order gives a
/// sorted map whether serde_json's `Map` is a `BTreeMap` or (with `preserve_order`) an
/// insertion-ordered `IndexMap`.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut fields: Vec<_> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let mut sorted = serde_json::Map::with_capacity(fields.len());
            for (key, field) in fields {
                sorted.insert(key.clone(), canonical(field));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        scalar => scalar.clone(),
    }
}

#[cfg(test)]
mod tests;
