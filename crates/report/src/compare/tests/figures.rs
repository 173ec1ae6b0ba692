//! A known figure of the wrong type is an error naming the file, the JSON path and the value;
//! absent and `null` stay "this report does not have it".

use serde_json::{Value, json};

use super::{one_to_one, report};
use crate::compare::{CompareError, Options, Report};

/// `doc` with the value at JSON pointer `at` replaced by `value`.
fn with(doc: &Value, at: &str, value: Value) -> Value {
    let mut doc = doc.clone();
    *doc.pointer_mut(at)
        .unwrap_or_else(|| panic!("no {at} in the sample report")) = value;
    doc
}

#[test]
fn a_figure_of_the_wrong_type_is_an_error_not_a_missing_figure() {
    let good = report("base.json", "virtual", 200.0, 3, 10.0)
        .value()
        .clone();
    for (at, value, path, expected) in [
        (
            "/counters/turns",
            json!("many"),
            "counters.turns",
            "a whole number of at least 0",
        ),
        (
            "/counters/turns",
            json!(-3),
            "counters.turns",
            "a whole number",
        ),
        (
            "/counters/turns_failed",
            json!(2.5),
            "counters.turns_failed",
            "a whole number",
        ),
        ("/counters", json!([1, 2]), "counters", "an object"),
        (
            "/latency/agent_response",
            json!(5),
            "latency.agent_response",
            "a histogram",
        ),
        (
            "/latency/agent_response/p95_ms",
            json!("fast"),
            "latency.agent_response.p95_ms",
            "a number of at least 0",
        ),
        (
            "/latency/agent_response/p50_ms",
            json!({"ms": 1}),
            "latency.agent_response.p50_ms",
            "a number",
        ),
        (
            "/latency/agent_response/max_ms",
            json!(-1.0),
            "latency.agent_response.max_ms",
            "at least 0",
        ),
        (
            "/error_rate",
            json!("0.1"),
            "error_rate",
            "a number from 0 to 1",
        ),
        ("/error_rate", json!(1.5), "error_rate", "from 0 to 1"),
        (
            "/goodput_turns_per_s",
            json!([]),
            "goodput_turns_per_s",
            "a number",
        ),
        ("/errors", json!("none"), "errors", "an object"),
        (
            "/errors/calls",
            json!([]),
            "errors.calls",
            "an object of error classes",
        ),
        (
            "/errors/calls/tool",
            json!(3),
            "errors.calls.tool",
            "error kinds and counts",
        ),
        (
            "/errors/calls/tool/timeout",
            json!("two"),
            "errors.calls.tool.timeout",
            "a whole number",
        ),
        ("/targets", json!({}), "targets", "an array of verdicts"),
        ("/targets/0", json!(5), "targets[0]", "a verdict"),
        (
            "/targets/0/target",
            json!(5),
            "targets[0].target",
            "a string",
        ),
        ("/targets/0/op", json!(1), "targets[0].op", "a string"),
        (
            "/targets/0/measured",
            json!("fast"),
            "targets[0].measured",
            "a number, an object of numbers, or null",
        ),
        ("/agents", json!([1]), "agents", "an object"),
        ("/process", json!("x"), "process", "an object"),
        (
            "/shards",
            json!("two"),
            "shards",
            "a whole number of at least 1",
        ),
        ("/shards", json!(0), "shards", "at least 1"),
        (
            "/schema_version",
            json!("1"),
            "schema_version",
            "a whole number",
        ),
        ("/scenario", json!(5), "scenario", "a string"),
    ] {
        let doc = if at == "/shards" {
            let mut d = good.clone();
            d["shards"] = value.clone();
            d
        } else {
            with(&good, at, value.clone())
        };
        let err = Report::from_json(&doc.to_string(), "new.json")
            .expect_err(&format!("{at} = {value} is refused"));
        assert!(matches!(err, CompareError::BadFigure { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("new.json: `{path}` is {value}, expected ")),
            "{text}"
        );
        assert!(
            text.contains(expected) && text.contains("fleetbench run --out DIR"),
            "{text}"
        );
    }
    // Absent or null stays "this report does not have it".
    for at in [
        "/counters/turns",
        "/latency/agent_response/p95_ms",
        "/targets/0/measured",
    ] {
        let doc = with(&good, at, Value::Null);
        let r = Report::from_json(&doc.to_string(), "new.json").unwrap();
        let c = one_to_one(
            &report("base.json", "virtual", 200.0, 3, 10.0),
            &r,
            &Options::default(),
        )
        .unwrap();
        assert!(!c.only_in_base.is_empty(), "{at}: {:?}", c.only_in_base);
    }
    let mut older = good;
    older["counters"].as_object_mut().unwrap().remove("turns");
    older.as_object_mut().unwrap().remove("errors");
    assert!(Report::from_json(&older.to_string(), "old.json").is_ok());
}
