//! The windows, fingerprints, per-API counts and the bounds of `/stats`.

use super::*;

#[test]
fn sliding_window_max_is_exact() {
    let t0 = Instant::now();
    let mut w = Window::new(Duration::from_secs(1));
    // 3 arrivals at 0.0, 0.5, 0.9 s, then 2 at 1.4 s: the window (0.4, 1.4] holds 4.
    for (ms, tok) in [(0, 10), (500, 10), (900, 10), (1400, 5), (1400, 5)] {
        w.add(t0 + Duration::from_millis(ms), tok);
    }
    assert_eq!(w.max_requests, 4);
    assert_eq!(w.max_tokens, 30);
    // An arrival exactly one span later no longer shares the window.
    let mut w = Window::new(Duration::from_secs(1));
    w.add(t0, 1);
    w.add(t0 + Duration::from_secs(1), 1);
    assert_eq!(w.max_requests, 1);
}

#[test]
fn fingerprints_hide_the_key() {
    let f = key_fingerprint(Some("sk-secret-123"));
    assert!(f.starts_with("key-") && !f.contains("secret"));
    assert_eq!(f, key_fingerprint(Some("sk-secret-123")));
    assert_ne!(f, key_fingerprint(Some("sk-other")));
    assert_eq!(key_fingerprint(None), "anonymous");
}

#[test]
fn both_llm_apis_count_apart_and_share_the_rate_windows() {
    let stats = Stats::new(Instant::now());
    let chat = stats.llm(LlmApi::Chat, "anonymous", "m", 3, 4);
    let responses = stats.llm(LlmApi::Responses, "anonymous", "m", 5, 6);
    let s = stats.snapshot();
    assert_eq!((s.chat_requests, s.responses_requests), (1, 1));
    assert_eq!((s.prompt_tokens, s.completion_tokens), (8, 10));
    let model = &s.by_model["m"];
    assert_eq!((model.requests, model.max_requests_1s), (2, 2));
    assert_eq!((model.max_tokens_60s, model.max_in_flight), (18, 2));
    assert_eq!(s.by_key["anonymous"].max_requests_60s, 2);
    drop((chat, responses));
    assert_eq!(stats.snapshot().by_model["m"].in_flight, 0);
    // A snapshot from before the counter existed still reads.
    let mut old = serde_json::to_value(&s).expect("a snapshot serializes");
    old.as_object_mut()
        .expect("an object")
        .remove("responses_requests");
    let read: StatsSnapshot = serde_json::from_value(old).expect("reads");
    assert_eq!(read.responses_requests, 0);
}

#[test]
fn distinct_keys_and_models_are_bounded_and_totals_exact() {
    let stats = Stats::new(Instant::now());
    let mut held = Vec::new();
    for i in 0..10_000_u32 {
        let key = key_fingerprint(Some(&format!("sk-{i}")));
        held.push(stats.llm(LlmApi::Chat, &key, &format!("model-{i}"), 3, 4));
        held.push(stats.tool(&key, "search"));
    }
    // A long model name and one named like the fold are folded whatever the count.
    let fresh = Stats::new(Instant::now());
    drop(fresh.llm(
        LlmApi::Chat,
        "anonymous",
        &"m".repeat(MAX_NAME_BYTES + 1),
        1,
        1,
    ));
    drop(fresh.llm(LlmApi::Chat, "anonymous", OTHER, 1, 1));
    drop(fresh.llm(LlmApi::Chat, "anonymous", &"m".repeat(MAX_NAME_BYTES), 1, 1));
    let f = fresh.snapshot();
    assert_eq!(f.folded_models, 2);
    assert_eq!(f.by_model[OTHER].requests, 2);
    assert_eq!(f.by_model.len(), 2);

    let s = stats.snapshot();
    assert_eq!(s.by_key.len(), MAX_SERIES + 1);
    assert_eq!(s.by_model.len(), MAX_SERIES + 1);
    assert_eq!((s.chat_requests, s.tool_requests), (10_000, 10_000));
    assert_eq!((s.prompt_tokens, s.completion_tokens), (30_000, 40_000));
    // Each of the first 1,000 keys made a chat and a tool request; the rest are folded.
    assert_eq!(s.folded_keys, 2 * (10_000 - 1_000));
    assert_eq!(s.folded_models, 10_000 - 1_000);
    let sum = |m: &BTreeMap<String, SeriesStats>, f: fn(&SeriesStats) -> u64| {
        m.values().map(f).sum::<u64>()
    };
    assert_eq!(sum(&s.by_key, |x| x.requests), 20_000);
    assert_eq!(sum(&s.by_key, |x| x.tokens), 70_000);
    assert_eq!(sum(&s.by_model, |x| x.requests), 10_000);
    assert_eq!(sum(&s.by_model, |x| x.tokens), 70_000);
    assert_eq!(s.by_key[OTHER].in_flight, 18_000);
    assert_eq!(s.by_model[OTHER].max_in_flight, 9_000);
    assert_eq!(s.by_tool["search"].requests, 10_000);
    // Every mark is taken back from the entry it was counted under.
    drop(held);
    let s = stats.snapshot();
    assert_eq!(sum(&s.by_key, |x| x.in_flight), 0);
    assert_eq!(sum(&s.by_model, |x| x.in_flight), 0);
    // The snapshot stays small: about 150 bytes an entry, 300 KB.
    let body = serde_json::to_vec(&s).expect("a snapshot serializes");
    assert!(body.len() < 400_000, "{} bytes", body.len());
}
