//! What conversation state costs: counting tokens, compressing, and storing evicted messages.
//!
//! 1. Token counting: MB/s and tokens/s of o200k, cl100k and chars/4 over the messages of a
//!    generated coding corpus (contents and tool-call arguments, each counted once), and the
//!    chars/4 estimate's error against o200k.
//! 2. Compression cost: each built-in strategy compresses one `BENCH_MESSAGES`-message
//!    coding conversation (default 1,000) from just over its trigger (90 % of its tokens) to
//!    the target (`compact_to` 0.5 of the trigger); µs per call, median of `BENCH_RUNS` runs
//!    (default 9), under o200k and under chars/4, with the tokens before and after.
//! 3. zstd on generated coding and browse corpora: whole conversations at levels 1, 3, 9 and
//!    19 (the zstd crate on the serde_json the cold store writes), and one `ColdStore` frame per
//!    message without and with dictionaries of 16, 64 and 112 KiB trained on the other half of
//!    the corpus (put and get include serde_json), next to one zstd compressor reused for every
//!    message (the dictionary digested once).
//!
//! `cargo bench --bench conversation` (about 40 s on 2 cores). Knobs: `BENCH_ONLY`
//! (`tokens`, `strategies` or `zstd`), `BENCH_CONVERSATIONS` and `BENCH_TURNS` (the corpora of
//! 1 and 3, default 40 x 40), `BENCH_MESSAGES`, `BENCH_RUNS`, `BENCH_SEED` (default 1).
//! Without `--bench` (as `cargo test --benches` runs it) everything is tiny, to check it runs.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use conversation::cold::{ColdStore, Dictionary};
use conversation::invariants;
use conversation::strategies;
use conversation::summarize::Extractive;
use conversation::{
    CharsPerToken, Conversation, Message, Pipeline, Tiktoken, TokenCounter, Trigger,
};
use lab::corpus::{self, CorpusConversation, Profile};
use scenario::StrategyName;

/// Sizes of one bench run.
#[derive(Debug)]
struct Sizes {
    conversations: usize,
    turns: usize,
    messages: usize,
    runs: usize,
    seed: u64,
}

impl Sizes {
    fn from_env() -> Self {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let var = |name: &str, full: usize, smoke_value: usize| -> usize {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(if smoke { smoke_value } else { full })
        };
        Self {
            conversations: var("BENCH_CONVERSATIONS", 40, 4),
            turns: var("BENCH_TURNS", 40, 8),
            messages: var("BENCH_MESSAGES", 1000, 120),
            runs: var("BENCH_RUNS", 9, 1).max(1),
            seed: var("BENCH_SEED", 1, 1) as u64,
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Median seconds of `runs` calls of `f`.
fn time_median(runs: usize, mut f: impl FnMut()) -> f64 {
    let times = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// The texts a counter sees: every message's content and every call's arguments.
fn texts(corpus: &[CorpusConversation]) -> Vec<&str> {
    corpus
        .iter()
        .flat_map(|c| &c.messages)
        .flat_map(|m| {
            std::iter::once(m.content.as_str())
                .chain(m.tool_calls.iter().map(|c| c.function.arguments.as_str()))
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn token_counting(s: &Sizes) {
    // The first count loads the encoder (tiktoken-rs parses its ranks once per process).
    let mut loads = Vec::new();
    for (name, counter) in [("o200k", Tiktoken::O200k), ("cl100k", Tiktoken::Cl100k)] {
        let start = Instant::now();
        black_box(counter.count("warm up"));
        loads.push(format!(
            "{name} {:.0} ms",
            start.elapsed().as_secs_f64() * 1e3
        ));
    }
    let corpus = corpus::generate(Profile::Coding, s.conversations, s.turns, s.seed);
    let texts = texts(&corpus);
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    println!(
        "token counting: coding corpus, {} conversations x {} turns, {} texts, {:.2} MB; median of {} runs",
        s.conversations,
        s.turns,
        texts.len(),
        mb(bytes),
        s.runs
    );
    println!("encoder load on first use: {}", loads.join(", "));
    println!(
        "{:<10} {:>10} {:>14} {:>12} {:>12} {:>12}",
        "counter", "MB/s", "M tokens/s", "tokens", "bytes/token", "vs o200k"
    );
    let counters: [&dyn TokenCounter; 3] =
        [&Tiktoken::O200k, &Tiktoken::Cl100k, &CharsPerToken(4.0)];
    let mut exact = 0u64;
    for counter in counters {
        let mut tokens = 0u64;
        let secs = time_median(s.runs, || {
            tokens = texts.iter().map(|t| u64::from(counter.count(t))).sum();
            black_box(tokens);
        });
        if exact == 0 {
            exact = tokens;
        }
        println!(
            "{:<10} {:>10.1} {:>14.2} {:>12} {:>12.2} {:>+11.1}%",
            counter.name(),
            mb(bytes) / secs,
            tokens as f64 / secs / 1e6,
            tokens,
            bytes as f64 / tokens as f64,
            (tokens as f64 / exact as f64 - 1.0) * 100.0
        );
    }
    // The estimate's error message by message, not only in total.
    let errors: Vec<f64> = texts
        .iter()
        .filter(|t| t.len() >= 200)
        .map(|t| {
            let exact = f64::from(Tiktoken::O200k.count(t));
            (f64::from(CharsPerToken(4.0).count(t)) / exact - 1.0) * 100.0
        })
        .collect();
    let n = errors.len();
    let mut sorted = errors.clone();
    sorted.sort_by(f64::total_cmp);
    if n > 0 {
        println!(
            "chars/4 vs o200k per text of >= 200 bytes ({n}): median {:+.1}%, p5 {:+.1}%, p95 {:+.1}%",
            median(errors),
            sorted[n * 5 / 100],
            sorted[(n * 95 / 100).min(n - 1)]
        );
    }
}

/// The first `n` messages of a generated coding conversation long enough to hold them.
fn long_conversation(n: usize, seed: u64) -> CorpusConversation {
    let mut turns = n / 2 + 10;
    loop {
        let mut c = corpus::generate(Profile::Coding, 1, turns, seed)
            .pop()
            .expect("one conversation asked for");
        if c.messages.len() >= n {
            c.messages.truncate(n);
            return c;
        }
        turns *= 2;
    }
}

/// One compression of `messages` by `name`: (µs per call, tokens before, tokens after).
fn compress_cost(
    name: StrategyName,
    messages: &[Message],
    counter: &dyn Fn() -> Box<dyn TokenCounter>,
    runs: usize,
) -> (f64, u64, u64) {
    let config = scenario::Compression::default();
    let before: u64 = messages.iter().map(|m| u64::from(m.tokens)).sum();
    // Just over the trigger: the threshold at 90 % of what the conversation holds.
    let trigger = Trigger::Tokens(before * 9 / 10);
    let mut after = 0;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let pipeline = Pipeline {
            stages: vec![strategies::strategy(config.stage(name))],
        };
        let mut state = Conversation::new(
            pipeline,
            trigger,
            config.compact_to.0,
            Box::new(Extractive::default()),
            counter(),
        );
        for m in messages {
            state.push(m.clone());
        }
        let start = Instant::now();
        let done = state.compress_now();
        times.push(start.elapsed().as_secs_f64() * 1e6);
        after = done.tokens_after;
        let broken = invariants::check_against(messages, state.messages());
        assert!(broken.is_empty(), "{name} broke the invariants: {broken:?}");
    }
    (median(times), before, after)
}

fn strategy_costs(s: &Sizes) {
    let conv = long_conversation(s.messages, s.seed);
    let start = Instant::now();
    let o200k = conv.to_messages(&Tiktoken::O200k);
    let count_o200k = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    let chars = conv.to_messages(&CharsPerToken(4.0));
    let count_chars = start.elapsed().as_secs_f64() * 1e3;
    let bytes: u64 = o200k.iter().map(|m| u64::from(m.bytes)).sum();
    println!(
        "\ncompression cost: one {}-message coding conversation ({:.2} MB of text), trigger at 90 % of its tokens, \
         compact_to 0.5, default [compression]; µs per call, median of {} runs",
        o200k.len(),
        bytes as f64 / 1e6,
        s.runs
    );
    println!(
        "counting the conversation's messages once: o200k {count_o200k:.0} ms, chars/4 {count_chars:.1} ms"
    );
    println!(
        "{:<20} {:>12} {:>24} {:>12} {:>24}",
        "strategy", "o200k µs", "o200k tokens", "chars/4 µs", "chars/4 tokens"
    );
    for name in StrategyName::ALL {
        let (us_o, before_o, after_o) =
            compress_cost(name, &o200k, &|| Box::new(Tiktoken::O200k), s.runs);
        let (us_c, before_c, after_c) =
            compress_cost(name, &chars, &|| Box::new(CharsPerToken(4.0)), s.runs);
        println!(
            "{name:<20} {us_o:>12.0} {:>24} {us_c:>12.0} {:>24}",
            format!("{before_o} -> {after_o}"),
            format!("{before_c} -> {after_c}"),
        );
    }
}

/// Ratio, compress MB/s and decompress MB/s of whole conversations at `level`.
fn whole(jsons: &[Vec<u8>], level: i32, runs: usize) -> (f64, f64, f64) {
    let raw: usize = jsons.iter().map(Vec::len).sum();
    let mut frames = Vec::new();
    let compress = time_median(runs, || {
        frames = jsons
            .iter()
            .map(|j| zstd::bulk::compress(j, level).unwrap())
            .collect();
    });
    let held: usize = frames.iter().map(Vec::len).sum();
    let decompress = time_median(runs, || {
        for (f, j) in frames.iter().zip(jsons) {
            black_box(zstd::bulk::decompress(f, j.len()).unwrap());
        }
    });
    (
        raw as f64 / held as f64,
        mb(raw) / compress,
        mb(raw) / decompress,
    )
}

/// One frame per message in a store made by `store`: ratio, put MB/s, get MB/s (serde_json
/// included), medians of `runs` fresh stores.
fn per_message(
    store: impl Fn() -> ColdStore,
    messages: &[Message],
    runs: usize,
) -> (f64, f64, f64) {
    let (mut puts, mut gets, mut ratio, mut raw) = (Vec::new(), Vec::new(), 0.0, 0);
    for _ in 0..runs {
        let mut store = store();
        let start = Instant::now();
        let handles: Vec<u64> = messages
            .iter()
            .map(|m| store.put(std::slice::from_ref(m)))
            .collect();
        puts.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        for h in &handles {
            black_box(store.get(*h).unwrap());
        }
        gets.push(start.elapsed().as_secs_f64());
        (ratio, raw) = (store.ratio(), store.raw_bytes() as usize);
    }
    (ratio, mb(raw) / median(puts), mb(raw) / median(gets))
}

/// MB/s of compressing each sample with one zstd compressor kept for all of them (level 3,
/// `dict` if any): what a store that prepared its dictionary once would pay.
fn reused_compressor(samples: &[Vec<u8>], dict: Option<&Dictionary>, runs: usize) -> f64 {
    let raw: usize = samples.iter().map(Vec::len).sum();
    let mut c = match dict {
        Some(d) => zstd::bulk::Compressor::with_dictionary(3, d.as_bytes()).unwrap(),
        None => zstd::bulk::Compressor::new(3).unwrap(),
    };
    let secs = time_median(runs, || {
        for sample in samples {
            black_box(c.compress(sample).unwrap());
        }
    });
    mb(raw) / secs
}

fn zstd_ratios(s: &Sizes) {
    println!(
        "\nzstd: generated corpora of {} conversations x {} turns; measured on the second half, \
         dictionaries trained on the first half; MB/s of uncompressed JSON, medians of up to 3 runs",
        s.conversations, s.turns
    );
    let runs = s.runs.min(3);
    for profile in [Profile::Coding, Profile::Browse] {
        let corpus = corpus::generate(profile, s.conversations.max(2), s.turns, s.seed);
        let counted: Vec<Vec<Message>> = corpus
            .iter()
            .map(|c| c.to_messages(&CharsPerToken(4.0)))
            .collect();
        let (train, test) = counted.split_at(counted.len() / 2);
        let test_messages: Vec<Message> = test.iter().flatten().cloned().collect();
        let jsons: Vec<Vec<u8>> = test
            .iter()
            .map(|m| serde_json::to_vec(m).unwrap())
            .collect();
        let raw: usize = jsons.iter().map(Vec::len).sum();
        let train_messages: Vec<Message> = train.iter().flatten().cloned().collect();
        let samples = Dictionary::samples_of(&train_messages);
        let test_samples = Dictionary::samples_of(&test_messages);
        let sample_bytes: usize = samples.iter().map(Vec::len).sum();
        println!(
            "\n{profile}: test half {} conversations, {} messages, {:.2} MB (avg {:.0} B a message); \
             training half {:.2} MB",
            test.len(),
            test_messages.len(),
            mb(raw),
            raw as f64 / test_messages.len() as f64,
            mb(sample_bytes)
        );
        println!(
            "{:<28} {:>8} {:>14} {:>16}",
            "whole conversation", "ratio", "compress MB/s", "decompress MB/s"
        );
        for level in [1, 3, 9, 19] {
            let (ratio, c, d) = whole(&jsons, level, runs);
            println!(
                "{:<28} {ratio:>7.2}x {c:>14.1} {d:>16.1}",
                format!("zstd-{level}")
            );
        }
        println!(
            "{:<28} {:>8} {:>10} {:>10} {:>8} {:>16}",
            "per message, ColdStore zstd-3",
            "ratio",
            "put MB/s",
            "get MB/s",
            "train s",
            "reused zstd MB/s"
        );
        let (ratio, put, get) = per_message(|| ColdStore::new(3), &test_messages, runs);
        println!(
            "{:<28} {ratio:>7.2}x {put:>10.1} {get:>10.1} {:>8} {:>16.1}",
            "no dictionary",
            "-",
            reused_compressor(&test_samples, None, runs)
        );
        for kib in [16, 64, 112] {
            let start = Instant::now();
            let trained = Dictionary::train(&samples, kib * 1024);
            let train_secs = start.elapsed().as_secs_f64();
            let label = format!("{kib} KiB dictionary");
            match trained {
                Ok(dict) => {
                    let store = || {
                        let mut store = ColdStore::new(3);
                        store.use_dictionary(dict.clone());
                        store
                    };
                    let (ratio, put, get) = per_message(store, &test_messages, runs);
                    println!(
                        "{label:<28} {ratio:>7.2}x {put:>10.1} {get:>10.1} {train_secs:>8.2} {:>16.1}",
                        reused_compressor(&test_samples, Some(&dict), runs)
                    );
                }
                Err(err) => println!("{label:<28} n/a: {err}"),
            }
        }
    }
}

fn main() {
    let sizes = Sizes::from_env();
    let only = std::env::var("BENCH_ONLY").unwrap_or_else(|_| "all".to_owned());
    let started = Instant::now();
    if only == "all" || only == "tokens" {
        token_counting(&sizes);
    }
    if only == "all" || only == "strategies" {
        strategy_costs(&sizes);
    }
    if only == "all" || only == "zstd" {
        zstd_ratios(&sizes);
    }
    println!("\nbench took {:.0} s", started.elapsed().as_secs_f64());
}
