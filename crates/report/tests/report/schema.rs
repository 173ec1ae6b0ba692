//! `report.json` against `docs/report.schema.json`.

use serde_json::{Value, json};

use crate::fixture;

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/report.schema.json");
    let text = std::fs::read_to_string(path).expect("docs/report.schema.json is readable");
    serde_json::from_str(&text).expect("docs/report.schema.json is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema()).expect("the schema compiles")
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

#[test]
fn the_schema_is_valid_draft_2020_12() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::meta::validate(&schema).unwrap();
}

#[test]
fn report_json_matches_the_schema() {
    let v = validator();
    for s in [
        fixture::snapshot(),
        fixture::snapshot_with(&fixture::lenient_targets()),
        fixture::empty(),
    ] {
        let text = fleetbench_report::json(&s);
        assert!(text.ends_with("}\n"));
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{}", s.scenario);
    }
}

#[test]
fn the_empty_run_uses_every_null() {
    let doc: Value = serde_json::from_str(&fleetbench_report::json(&fixture::empty())).unwrap();
    assert_eq!(doc["error_rate"], Value::Null);
    assert_eq!(doc["breakdown"]["bottleneck"], Value::Null);
    assert_eq!(doc["targets"][0]["measured"], Value::Null);
}

/// A change to a good report, and whether serde rejects it too (it does not check the
/// closed sets that are plain strings in Rust: `op`, `clock`, `stop`, breaker states).
type Mutation = (&'static str, bool, fn(&mut Value));

#[test]
fn the_schema_rejects_what_the_reader_would() {
    let v = validator();
    let good: Value = serde_json::from_str(&fleetbench_report::json(&fixture::snapshot())).unwrap();
    assert!(v.is_valid(&good));
    let mutations: [Mutation; 12] = [
        ("an unknown top-level key", true, |d| {
            d["surprise"] = json!(1)
        }),
        ("the seed as a string", true, |d| d["seed"] = json!("42")),
        ("no counters", true, |d| {
            d.as_object_mut().unwrap().remove("counters");
        }),
        ("an unknown counter", true, |d| {
            d["counters"]["bogus"] = json!(1)
        }),
        ("an unknown metric", true, |d| {
            d["latency"]["bogus_metric"] = d["latency"]["ttft"].clone();
        }),
        ("an unknown error kind", true, |d| {
            d["errors"]["calls"]["llm"]["teapot"] = json!(1);
        }),
        ("a negative count", true, |d| {
            d["agents"]["list"][0]["turns"] = json!(-1);
        }),
        ("an unknown unit", true, |d| {
            d["targets"][0]["unit"] = json!("s")
        }),
        ("an unknown comparison", true, |d| {
            d["targets"][0]["op"] = json!("!=");
        }),
        // The report's closed sets are typed (`metrics::Clock`, `StopReason`,
        // `BreakerState`): serde refuses what the schema refuses.
        ("an unknown clock", true, |d| d["clock"] = json!("sundial")),
        ("an unknown stop reason", true, |d| {
            d["stop"] = json!("bored")
        }),
        ("a breaker state spelt otherwise", true, |d| {
            d["breakers"][0]["state"] = json!("half-open")
        }),
    ];
    for (what, serde_too, mutate) in mutations {
        let mut doc = good.clone();
        mutate(&mut doc);
        assert!(
            !v.is_valid(&doc),
            "the schema accepted a report with {what}"
        );
        let read = serde_json::from_value::<metrics::RunSnapshot>(doc);
        assert_eq!(read.is_err(), serde_too, "serde and {what}");
    }
}

#[test]
fn report_json_reads_back() {
    let s = fixture::snapshot();
    let back: metrics::RunSnapshot = serde_json::from_str(&fleetbench_report::json(&s)).unwrap();
    assert_eq!(back, s);
}
