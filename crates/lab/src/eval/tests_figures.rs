//! The figures of a row against an independent replay, and the plan's and the renderings'
//! handling of what issue 15 found wrong: the summarizer's tokens left out of the ratio,
//! prompts over the window not flagged, duplicate rows, offloaded facts scored as lost, `0/0`
//! probes where none were planted. The JSON is read as a `serde_json::Value`, as a user of
//! `--format json` reads it.

use conversation::Conversation;
use conversation::message::Role;
use conversation::strategies;
use conversation::strategy::{Trigger, Work, total_tokens};
use conversation::summarize::Extractive;
use conversation::tokens;
use scenario::{Compression, Pipeline, StrategyName};
use serde_json::Value;

use super::*;
use crate::corpus::{Profile, WireMessage, generate};

/// What an agent sends under `config`, replayed without the lab: each prompt's tokens, and the
/// compressor's work (the final compression's included, as the lab counts it).
fn independent(conv: &CorpusConversation, config: &Compression) -> (Vec<u64>, Work) {
    let counter = tokens::counter_for(config.tokenizer, config.chars_per_token.0);
    let messages = conv.to_messages(counter.as_ref());
    let mut state = Conversation::new(
        strategies::build(config),
        Trigger::from_scenario(config),
        config.compact_to.0,
        Box::new(Extractive::default()),
        counter,
    );
    let mut prompts = Vec::new();
    let mut work = Work::default();
    for m in messages {
        if m.role == Role::Assistant {
            if let Some(done) = state.maybe_compress() {
                work += done.work;
            }
            prompts.push(total_tokens(&state.assemble(&[])));
        }
        state.push(m);
    }
    if let Some(done) = state.maybe_compress() {
        work += done.work;
    }
    (prompts, work)
}

fn report_json(report: &Report) -> Value {
    serde_json::from_str(&json(report)).unwrap()
}

fn pipeline(name: &str) -> Pipeline {
    name.parse().unwrap()
}

#[test]
fn the_summarizers_tokens_count_in_tokens_sent_and_in_the_ratio() {
    let corpus = generate(Profile::Coding, 3, 12, 7);
    let base = Compression::default();
    let rows = rows(&base, &[pipeline("rolling-summary")], &[]);
    let report = report_json(&evaluate(&corpus, &rows));
    let (mut agent, mut work, mut baseline) = (0, Work::default(), 0);
    for conv in &corpus {
        let (prompts, w) = independent(conv, &rows[1].config);
        agent += prompts.iter().sum::<u64>();
        work += w;
        baseline += independent(conv, &rows[0].config).0.iter().sum::<u64>();
    }
    assert!(work.summarizer_tokens_in > 0 && work.summarizer_tokens_out > 0);
    let row = &report["rows"][1];
    assert_eq!(row["summarizer_tokens_in"], work.summarizer_tokens_in);
    assert_eq!(
        row["cumulative_prompt_tokens"],
        agent + work.summarizer_tokens_in
    );
    let processed = agent + work.summarizer_tokens_in + work.summarizer_tokens_out;
    let ratio = score::round(baseline as f64 / processed as f64);
    assert_eq!(row["compression_ratio"], ratio);
    // A summarizer's prompt has no cached prefix: it is prefilled whole.
    let uncached = row["uncached_prompt_tokens"].as_u64().unwrap();
    assert!(uncached > work.summarizer_tokens_in, "{row}");
    assert_eq!(report["rows"][0]["cumulative_prompt_tokens"], baseline);
}

#[test]
fn prompts_over_the_context_window_are_counted_and_named_under_the_table() {
    let corpus = generate(Profile::Coding, 3, 12, 7);
    let base = Compression {
        context_window: 10_000,
        ..Compression::default()
    };
    let rows = rows(&base, &[pipeline("clip")], &[]);
    let report = evaluate(&corpus, &rows);
    let value = report_json(&report);
    for (i, spec) in rows.iter().enumerate() {
        let over: usize = corpus
            .iter()
            .map(|c| independent(c, &spec.config).0)
            .map(|p| p.iter().filter(|&&t| t > 10_000).count())
            .sum();
        assert_eq!(value["rows"][i]["overflows"], over, "{spec}");
    }
    assert!(value["rows"][0]["overflows"].as_u64().unwrap() > 0);
    assert_eq!(value["rows"][1]["overflows"], 0);
    let text = table(&report);
    assert!(text.contains(" overflows "), "{text}");
    let warning = text
        .lines()
        .find(|l| l.starts_with("WARNING"))
        .expect("a warning line");
    assert!(
        warning.contains("none (") && !warning.contains("clip"),
        "{warning}"
    );
    assert!(markdown(&report).contains("WARNING"));
    let fits = evaluate(&corpus, &super::rows(&Compression::default(), &[], &[]));
    assert!(!table(&fits).contains("WARNING"));
}

#[test]
fn a_repeated_strategy_and_a_sweep_it_does_not_read_give_one_row() {
    let strategies = [pipeline("clip"), pipeline("window"), pipeline("clip")];
    let sweeps: Vec<Sweep> = vec!["keep_last=5,10".parse().unwrap()];
    let rows = rows(&Compression::default(), &strategies, &sweeps);
    let names: Vec<String> = rows.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "none",
            "clip",
            "window [keep_last=5]",
            "window [keep_last=10]"
        ]
    );
    assert_eq!(repeated(&strategies), [pipeline("clip")]);
    // A pipeline reads what any of its stages reads; every rewriting strategy reads the trigger.
    let sweeps: Vec<Sweep> = vec![
        "clip_tokens=100,200".parse().unwrap(),
        "trigger_tokens=4000,8000".parse().unwrap(),
    ];
    let both = [pipeline("dedup"), pipeline("window+clip")];
    let names: Vec<String> = super::rows(&Compression::default(), &both, &sweeps)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names.len(), 1 + 2 + 4, "{names:?}");
    assert_eq!(names[1], "dedup [trigger_tokens=4000]");
    // `compact_to` is read by the strategies that compress toward the target only.
    assert!(SweepKey::CompactTo.read_by(StrategyName::Offload));
    assert!(!SweepKey::CompactTo.read_by(StrategyName::Clip));
    assert!(SweepKey::ZstdLevel.read_by(StrategyName::Offload));
    assert!(!SweepKey::ZstdLevel.read_by(StrategyName::Window));
}

#[test]
fn offloaded_facts_count_as_recallable_not_as_present() {
    let corpus = generate(Profile::Coding, 3, 12, 7);
    let strategies = [pipeline("offload"), pipeline("amortized")];
    let report = report_json(&evaluate(
        &corpus,
        &rows(&Compression::default(), &strategies, &[]),
    ));
    let recallable = |i: usize, which: &str| report["rows"][i][which]["recallable"].as_f64();
    let offload = recallable(1, "retention_final").unwrap();
    assert!(offload > 0.0, "{offload}");
    assert!(recallable(1, "retention_turns").unwrap() > 0.0);
    // `amortized` drops a similar span, for good: nothing of it can be recalled.
    assert_eq!(recallable(2, "retention_final"), Some(0.0));
    // Present and recallable exclude each other: recalled values stay absent from the prompt.
    assert_eq!(
        report["rows"][1]["retention_final"]["constraint"],
        report["rows"][2]["retention_final"]["constraint"]
    );
}

#[test]
fn probes_read_as_a_dash_where_none_were_planted() {
    let conv = CorpusConversation {
        id: "log".to_owned(),
        profile: None,
        messages: vec![
            WireMessage::text(Role::User, "hello"),
            WireMessage::text(Role::Assistant, "hi"),
        ],
        facts: Vec::new(),
        probes: Vec::new(),
        decoys: Vec::new(),
    };
    let report = evaluate(&[conv], &rows(&Compression::default(), &[], &[]));
    assert_eq!(
        report_json(&report)["rows"][0]["retention_final"]["probes_present"],
        Value::Null
    );
    let text = table(&report);
    let row = text.lines().rfind(|l| l.starts_with("none")).unwrap();
    assert!(row.ends_with(" -/-"), "{row}");
    let golden = generate(Profile::Coding, 1, 4, 7);
    let text = table(&evaluate(&golden, &rows(&Compression::default(), &[], &[])));
    let row = text.lines().rfind(|l| l.starts_with("none")).unwrap();
    assert!(row.ends_with(" 0/0"), "{row}");
}
