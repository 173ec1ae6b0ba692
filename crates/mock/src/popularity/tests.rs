//! Popular arguments: the sampler draws what its weights say, the planned calls take a
//! finite set of values and repeat earlier ones at the reuse probability, the direct path
//! agrees with the body, and an unset (or empty) table changes no byte.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::answer::Answer;
use crate::tests::config;
use crate::wire::ChatRequest;

fn sampler(body: &str) -> ArgumentSampler {
    let s = scenario::Scenario::from_toml(
        &format!("[tools.kb]\n[tools.kb.mock]\narguments = {{ {body} }}\n"),
        "t",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    ArgumentSampler::new(s.tools["kb"].mock.arguments.as_ref().expect("set")).expect("active")
}

/// The share of each value over `n` seeded draws.
fn shares(s: &ArgumentSampler, n: u32) -> Vec<f64> {
    let mut rng = SimRng::new(11);
    let mut counts = vec![0u32; s.cdf.as_deref().expect("finite").len()];
    for _ in 0..n {
        counts[s.value(&mut rng).expect("a value") as usize] += 1;
    }
    counts
        .iter()
        .map(|&c| f64::from(c) / f64::from(n))
        .collect()
}

#[test]
fn zipf_shares_match_the_theory() {
    let got = shares(&sampler("distinct = 100, zipf = 1.1"), 200_000);
    let h: f64 = (1..=100).map(|k| f64::from(k).powf(-1.1)).sum();
    for (k, share) in got.iter().enumerate().take(5) {
        let theory = f64::from(k as u32 + 1).powf(-1.1) / h;
        // Seeded, so it cannot flake; 200,000 draws put 4 standard errors under 0.005.
        assert!(
            (share - theory).abs() < 0.005,
            "value {k}: {share} vs {theory}"
        );
    }
    assert!(
        (got[0] - 1.0 / h).abs() < 0.005 && got[0] > 0.18,
        "{}",
        got[0]
    );
}

#[test]
fn uniform_and_empirical_weights_are_followed() {
    let uniform = shares(&sampler("distinct = 4"), 40_000);
    assert!(
        uniform.iter().all(|s| (s - 0.25).abs() < 0.01),
        "{uniform:?}"
    );
    let empirical = shares(&sampler("weights = [6.0, 0.0, 3.0, 1.0]"), 40_000);
    assert_eq!(empirical[1], 0.0, "a zero weight is never drawn");
    for (got, want) in empirical.iter().zip([0.6, 0.0, 0.3, 0.1]) {
        assert!((got - want).abs() < 0.01, "{empirical:?}");
    }
}

const TOOL: &str = "[mock]\ntool_call_probability = 1.0\ntool_followup_probability = 1.0\nmax_tool_calls = 1\n[tools.search]\nargs = { query = \"string\", order_id = \"id\" }\n";

fn with_arguments(body: &str) -> MockConfig {
    config(&format!(
        "{TOOL}[tools.search.mock]\narguments = {{ {body} }}\n"
    ))
}

fn search() -> Value {
    json!({"type": "function", "function": {"name": "search", "parameters":
        crate::tool_parameters(&[("query".to_owned(), scenario::ArgType::String),
            ("order_id".to_owned(), scenario::ArgType::Id)].into_iter().collect())}})
}

/// The messages of session `i`: a question, and `earlier` calls of search answered.
fn messages(i: u32, earlier: &[&str]) -> Vec<Value> {
    let mut out = vec![json!({"role": "user", "content": format!("question {i}")})];
    for (j, args) in earlier.iter().enumerate() {
        out.push(
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("c{j}"),
            "type": "function", "function": {"name": "search", "arguments": args}}]}),
        );
        out.push(json!({"role": "tool", "tool_call_id": format!("c{j}"), "content": "found"}));
    }
    out
}

fn body(messages: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({"model": "m", "tools": [search()], "messages": messages}))
        .expect("serializes")
}

/// The arguments of the one call planned for each of `sessions` first questions.
fn first_calls(cfg: &MockConfig, sessions: u32) -> Vec<String> {
    (0..sessions)
        .map(|i| {
            let a = Answer::plan(cfg, &body(&messages(i, &[]))).expect("plans");
            assert_eq!(a.tool_calls.len(), 1);
            a.tool_calls[0].arguments.clone()
        })
        .collect()
}

#[test]
fn sessions_share_a_finite_set_of_argument_objects() {
    let popular = first_calls(&with_arguments("distinct = 5"), 300);
    let set: BTreeSet<&String> = popular.iter().collect();
    assert_eq!(set.len(), 5, "{set:?}");
    for args in &set {
        let v: Value = serde_json::from_str(args).expect("JSON");
        assert!(
            v["order_id"].as_str().expect("id").starts_with("ORD-"),
            "{v}"
        );
    }
    let fresh = first_calls(&config(TOOL), 300);
    assert_eq!(fresh.iter().collect::<BTreeSet<_>>().len(), 300);
}

#[test]
fn reuse_repeats_an_earlier_call_of_the_tool() {
    let earlier = [
        r#"{"order_id":"ORD-1","query":"a"}"#,
        r#"{"order_id":"ORD-2","query":"b"}"#,
    ];
    let always = with_arguments("reuse = 1.0");
    let mut seen = BTreeSet::new();
    for i in 0..100 {
        let a = Answer::plan(&always, &body(&messages(i, &earlier))).expect("plans");
        let args = a.tool_calls[0].arguments.clone();
        assert!(earlier.contains(&args.as_str()), "{args}");
        seen.insert(args);
    }
    assert_eq!(seen.len(), 2, "either earlier call is picked");
    // Without an earlier call there is nothing to repeat: a fresh value.
    let first = first_calls(&always, 1);
    assert!(!earlier.contains(&first[0].as_str()));
    // At 0.3, about 30 % of calls repeat one.
    let some = with_arguments("distinct = 1000, zipf = 1.0, reuse = 0.3");
    let repeated = (0..400)
        .filter(|&i| {
            let a = Answer::plan(&some, &body(&messages(i, &earlier))).expect("plans");
            earlier.contains(&a.tool_calls[0].arguments.as_str())
        })
        .count();
    assert!((90..=150).contains(&repeated), "{repeated} of 400");
}

#[test]
fn unset_or_empty_popularity_changes_no_answer() {
    let plans = |cfg: &MockConfig| {
        (0..60)
            .map(|i| {
                let earlier = [r#"{"order_id":"ORD-9","query":"x"}"#];
                let a = Answer::plan(cfg, &body(&messages(i, &earlier[..(i % 2) as usize])))
                    .expect("plans");
                format!("{} {:?}", a.text(), a.tool_calls)
            })
            .collect::<Vec<_>>()
    };
    assert!(with_arguments("").tools["search"].arguments.is_none());
    assert_eq!(plans(&config(TOOL)), plans(&with_arguments("")));
    assert_eq!(plans(&config(TOOL)), plans(&with_arguments("reuse = 0.0")));
}

#[tokio::test(start_paused = true)]
async fn the_direct_path_given_the_earlier_calls_answers_as_the_body() {
    let cfg = with_arguments("distinct = 50, zipf = 1.2, reuse = 0.5");
    let earlier = [
        r#"{"order_id":"ORD-1","query":"a"}"#,
        r#"{"order_id":"ORD-2","query":"b"}"#,
    ];
    let server = MockServer::new(cfg.clone());
    assert!(server.reuses_arguments());
    assert!(!MockServer::new(config(TOOL)).reuses_arguments());
    let tail = format!(r#""model":"m","tools":[{}]}}"#, search());
    let frame = server
        .request_frame(format!(r#"{{"messages":[],{tail}"#).as_bytes())
        .expect("a frame");
    for i in 0..40 {
        let msgs = messages(i, &earlier);
        let jsons: Vec<String> = msgs.iter().map(Value::to_string).collect();
        let body = format!(r#"{{"messages":[{}],{tail}"#, jsons.join(","));
        let req: ChatRequest = serde_json::from_str(&body).expect("a request");
        assert_eq!(req.messages.len(), msgs.len());
        let mut digest = crate::PromptDigest::new();
        for j in &jsons {
            server
                .fold_message(&mut digest, j.as_bytes())
                .expect("folds");
        }
        let given: Vec<(&str, &str)> = earlier.iter().map(|a| ("search", *a)).collect();
        let direct = server
            .chat_direct_digest_calls(crate::LlmApi::Chat, &digest, &frame, &given, None)
            .await
            .expect("answered");
        let expected = Answer::plan(&cfg, body.as_bytes()).expect("plans");
        assert_eq!(direct.answer.id, expected.id);
        assert_eq!(
            format!("{:?}", direct.answer.tool_calls),
            format!("{:?}", expected.tool_calls)
        );
    }
}
