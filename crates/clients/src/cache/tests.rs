//! Tests of the response cache, on a paused clock.
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::{advance, sleep, timeout};

use super::*;

fn cache(ttl: Duration, capacity: u64) -> ResponseCache<u32> {
    ResponseCache::new(&scenario::Cache {
        ttl: scenario::Dur(ttl),
        capacity,
    })
}

/// A fetch that counts its invocations and returns `value` at once.
async fn ok(calls: &AtomicUsize, value: u32) -> Result<u32, String> {
    calls.fetch_add(1, Ordering::SeqCst);
    Ok(value)
}

async fn get(cache: &ResponseCache<u32>, calls: &AtomicUsize, key: &str, value: u32) -> Lookup {
    let (result, lookup) = cache.get_or_fetch(key, || ok(calls, value)).await;
    assert_eq!(result, Ok(value), "key {key}");
    lookup
}

#[tokio::test(start_paused = true)]
async fn miss_then_hit() {
    let cache = cache(Duration::from_secs(60), 10);
    let calls = AtomicUsize::new(0);
    assert_eq!(get(&cache, &calls, "k", 7).await, Lookup::Miss);
    let (result, lookup) = cache.get_or_fetch("k", || ok(&calls, 8)).await;
    assert_eq!((result, lookup), (Ok(7), Lookup::Hit));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!(
        stats,
        CacheStats {
            hits: 1,
            misses: 1,
            entries: 1,
            ..CacheStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn entry_expires_exactly_at_ttl() {
    let ttl = Duration::from_secs(5);
    let cache = cache(ttl, 10);
    let calls = AtomicUsize::new(0);
    assert_eq!(get(&cache, &calls, "k", 1).await, Lookup::Miss);

    advance(ttl - Duration::from_millis(1)).await;
    assert_eq!(get(&cache, &calls, "k", 1).await, Lookup::Hit);
    assert_eq!(cache.stats().expirations, 0);

    advance(Duration::from_millis(1)).await;
    assert_eq!(cache.stats().entries, 0, "expired entries are not counted");
    assert_eq!(get(&cache, &calls, "k", 2).await, Lookup::Miss);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let stats = cache.stats();
    assert_eq!((stats.expirations, stats.misses, stats.hits), (1, 2, 1));
    assert_eq!(stats.entries, 1);
    assert_eq!(get(&cache, &calls, "k", 2).await, Lookup::Hit);
}

#[tokio::test(start_paused = true)]
async fn capacity_evicts_least_recently_used() {
    let cache = cache(Duration::from_secs(60), 2);
    let calls = AtomicUsize::new(0);
    assert_eq!(get(&cache, &calls, "a", 1).await, Lookup::Miss);
    assert_eq!(get(&cache, &calls, "b", 2).await, Lookup::Miss);
    // Touch `a`: `b` becomes the least recently used although it was inserted last.
    assert_eq!(get(&cache, &calls, "a", 1).await, Lookup::Hit);
    assert_eq!(get(&cache, &calls, "c", 3).await, Lookup::Miss);
    let stats = cache.stats();
    assert_eq!((stats.evictions, stats.entries), (1, 2));

    assert_eq!(get(&cache, &calls, "a", 1).await, Lookup::Hit);
    assert_eq!(get(&cache, &calls, "c", 3).await, Lookup::Hit);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        get(&cache, &calls, "b", 2).await,
        Lookup::Miss,
        "b was evicted"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // Re-inserting `b` evicted `a` (c was touched after a).
    let stats = cache.stats();
    assert_eq!((stats.evictions, stats.entries), (2, 2));
    assert_eq!(get(&cache, &calls, "c", 3).await, Lookup::Hit);
    assert_eq!(get(&cache, &calls, "a", 1).await, Lookup::Miss);
}

/// Spawns `n` callers of `key` whose fetch counts itself in `calls`, sleeps 100 ms and then
/// returns the result of `outcome(attempt)` (attempt = how many fetches ran before it).
fn spawn_callers(
    tasks: &mut JoinSet<(Result<u32, String>, Lookup)>,
    cache: &ResponseCache<u32>,
    calls: &Arc<AtomicUsize>,
    key: &'static str,
    n: usize,
    outcome: fn(usize) -> Result<u32, String>,
) {
    for _ in 0..n {
        let cache = cache.clone();
        let calls = Arc::clone(calls);
        tasks.spawn(async move {
            cache
                .get_or_fetch(key, || async move {
                    let attempt = calls.fetch_add(1, Ordering::SeqCst);
                    sleep(Duration::from_millis(100)).await;
                    outcome(attempt)
                })
                .await
        });
    }
}

async fn join(tasks: JoinSet<(Result<u32, String>, Lookup)>) -> Vec<(Result<u32, String>, Lookup)> {
    tasks.join_all().await
}

fn count(results: &[(Result<u32, String>, Lookup)], lookup: Lookup) -> usize {
    results.iter().filter(|(_, l)| *l == lookup).count()
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_fetch() {
    let cache = cache(Duration::from_secs(60), 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    spawn_callers(&mut tasks, &cache, &calls, "k", 50, |_| Ok(42));
    let started = Instant::now();
    let results = join(tasks).await;

    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(results.len(), 50);
    assert!(results.iter().all(|(r, _)| *r == Ok(42)));
    assert_eq!(count(&results, Lookup::Miss), 1);
    assert_eq!(count(&results, Lookup::Coalesced), 49);
    let stats = cache.stats();
    assert_eq!(
        stats,
        CacheStats {
            misses: 1,
            coalesced: 49,
            entries: 1,
            ..CacheStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn different_keys_do_not_coalesce() {
    let cache = cache(Duration::from_secs(60), 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    spawn_callers(&mut tasks, &cache, &calls, "a", 1, |_| Ok(1));
    spawn_callers(&mut tasks, &cache, &calls, "b", 1, |_| Ok(1));
    let started = Instant::now();
    let results = join(tasks).await;

    // Both fetched, concurrently (not one after the other).
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(count(&results, Lookup::Miss), 2);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.entries), (2, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn failed_fetch_is_not_cached_and_waiters_retry() {
    let cache = cache(Duration::from_secs(60), 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    // The first fetch fails; any later one succeeds.
    spawn_callers(&mut tasks, &cache, &calls, "k", 10, |attempt| {
        if attempt == 0 {
            Err("boom".to_owned())
        } else {
            Ok(attempt as u32)
        }
    });
    let started = Instant::now();
    let results = join(tasks).await;

    // One failed fetch, then one retry shared by the nine waiters.
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let failed: Vec<_> = results.iter().filter(|(r, _)| r.is_err()).collect();
    assert_eq!(failed, [&(Err("boom".to_owned()), Lookup::Miss)]);
    assert_eq!(results.iter().filter(|(r, _)| *r == Ok(1)).count(), 9);
    assert_eq!(count(&results, Lookup::Miss), 2);
    assert_eq!(count(&results, Lookup::Coalesced), 8);

    // The success is cached; the failure never was.
    let local = AtomicUsize::new(0);
    let (result, lookup) = cache.get_or_fetch("k", || ok(&local, 99)).await;
    assert_eq!((result, lookup), (Ok(1), Lookup::Hit));
    assert_eq!(local.load(Ordering::SeqCst), 0);
    let stats = cache.stats();
    assert_eq!(
        stats,
        CacheStats {
            hits: 1,
            misses: 2,
            coalesced: 8,
            entries: 1,
            ..CacheStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn failed_fetch_alone_is_not_cached() {
    let cache = cache(Duration::from_secs(60), 10);
    let (result, lookup) = cache
        .get_or_fetch("k", || async { Err::<u32, _>("boom") })
        .await;
    assert_eq!((result, lookup), (Err("boom"), Lookup::Miss));
    assert_eq!(cache.stats().entries, 0);
    let calls = AtomicUsize::new(0);
    assert_eq!(get(&cache, &calls, "k", 5).await, Lookup::Miss);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelled_leader_does_not_wedge_waiters() {
    let cache = cache(Duration::from_secs(60), 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    // The leader's fetch takes 100 ms but its caller gives up after 50 ms.
    let leader = {
        let cache = cache.clone();
        let calls = Arc::clone(&calls);
        tokio::spawn(async move {
            timeout(
                Duration::from_millis(50),
                cache.get_or_fetch("k", || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    sleep(Duration::from_millis(100)).await;
                    Ok::<u32, String>(0)
                }),
            )
            .await
        })
    };
    // Let the leader register its fetch before the waiters arrive.
    sleep(Duration::from_millis(10)).await;
    assert_eq!(cache.stats().misses, 1);

    let mut tasks = JoinSet::new();
    spawn_callers(&mut tasks, &cache, &calls, "k", 5, |attempt| {
        Ok(attempt as u32)
    });
    let results = join(tasks).await;

    assert!(
        leader
            .await
            .expect("the leader task does not panic")
            .is_err()
    );
    // Cancelled at 50 ms, then one retry of 100 ms shared by the five waiters.
    assert_eq!(started.elapsed(), Duration::from_millis(150));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(results.iter().all(|(r, _)| *r == Ok(1)));
    assert_eq!(count(&results, Lookup::Miss), 1);
    assert_eq!(count(&results, Lookup::Coalesced), 4);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.entries), (2, 4, 1));
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiter_does_not_disturb_others() {
    let cache = cache(Duration::from_secs(60), 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    spawn_callers(&mut tasks, &cache, &calls, "k", 3, |_| Ok(7));
    sleep(Duration::from_millis(10)).await;
    let local = AtomicUsize::new(0);
    let gave_up = timeout(
        Duration::from_millis(20),
        cache.get_or_fetch("k", || ok(&local, 8)),
    )
    .await;
    assert!(gave_up.is_err());
    let results = join(tasks).await;
    assert!(results.iter().all(|(r, _)| *r == Ok(7)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(local.load(Ordering::SeqCst), 0);
}

#[test]
fn tool_key_ignores_object_key_order() {
    let a: serde_json::Value =
        serde_json::from_str(r#"{"a":1,"b":{"y":[{"q":1,"p":2}],"x":null}}"#).expect("valid JSON");
    let b: serde_json::Value =
        serde_json::from_str(r#"{"b":{"x":null,"y":[{"p":2,"q":1}]},"a":1}"#).expect("valid JSON");
    assert_eq!(tool_key("search", &a), tool_key("search", &b));
    assert_eq!(
        tool_key("search", &json!({"b": 2, "a": {"d": 1, "c": 2}})),
        r#"["search",{"a":{"c":2,"d":1},"b":2}]"#
    );
}

#[test]
fn tool_key_distinguishes_args_and_tools() {
    let args = json!({"q": "rust"});
    assert_ne!(tool_key("search", &args), tool_key("fetch", &args));
    assert_ne!(
        tool_key("search", &args),
        tool_key("search", &json!({"q": "tokio"}))
    );
    assert_ne!(
        tool_key("search", &args),
        tool_key("search", &json!({"q": ["rust"]}))
    );
    assert_ne!(
        tool_key("search", &json!([1, 2])),
        tool_key("search", &json!([2, 1]))
    );
    // Escaping keeps the tool name and the arguments apart.
    assert_ne!(
        tool_key("a\",\"b", &json!(null)),
        tool_key("a", &json!(["b", null]))
    );
}

#[test]
fn debug_does_not_need_debug_values() {
    struct Opaque;
    let cache: ResponseCache<Arc<Opaque>> = ResponseCache::new(&scenario::Cache::default());
    let text = format!("{cache:?}");
    assert!(text.starts_with("ResponseCache {"), "{text}");
}

/// Callers waiting on one fetch resume in the order they came, and when the fetch fails the
/// first of them leads the retry: a seeded virtual fleet depends on it (whose request reaches
/// the server first decides which one a fault hits). A watch channel, used here before, woke
/// them in a random order and a 1,000-agent fixture had two outcomes run to run.
#[tokio::test(start_paused = true)]
async fn waiters_resume_in_the_order_they_came() {
    for first_fails in [false, true] {
        let cache = cache(Duration::from_secs(60), 10);
        let resumed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let leads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = JoinSet::new();
        for i in 0..32_usize {
            let (cache, resumed, leads) = (cache.clone(), resumed.clone(), leads.clone());
            tasks.spawn(async move {
                let fetch = || async {
                    let attempt = {
                        let mut leads = leads.lock().unwrap();
                        leads.push(i);
                        leads.len() - 1
                    };
                    sleep(Duration::from_millis(100)).await;
                    if first_fails && attempt == 0 {
                        Err("boom".to_owned())
                    } else {
                        Ok(7)
                    }
                };
                let (result, _) = cache.get_or_fetch("k", fetch).await;
                resumed.lock().unwrap().push(i);
                result
            });
        }
        tasks.join_all().await;
        // When caller 0's fetch fails, caller 1, first in line, fetches again for the others.
        let lead: &[usize] = if first_fails { &[0, 1] } else { &[0] };
        assert_eq!(*leads.lock().unwrap(), lead);
        let in_order: Vec<usize> = (0..32).collect();
        assert_eq!(
            *resumed.lock().unwrap(),
            in_order,
            "first_fails: {first_fails}"
        );
    }
}
