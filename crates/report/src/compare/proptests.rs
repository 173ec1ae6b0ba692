//! Property tests of reading reports for `compare`: any text, any JSON value, and a valid
//! report with one value replaced, removed or added never panics; a refused report is named,
//! and a [`CompareError::BadFigure`] names a path that holds the value it quotes. An accepted
//! report compares and renders.

use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use super::tests::report;
use super::{CompareError, Options, Report, compare, json as render_json, markdown, table};

/// The CI gate's baseline (a real report) with its per-agent list cut to two entries, so a
/// mutation lands on a figure more often than on the 200th agent.
static BASELINE: LazyLock<Value> = LazyLock::new(|| {
    let mut doc: Value =
        serde_json::from_str(include_str!("../../../../fixtures/ci/baseline.json"))
            .expect("the baseline is JSON");
    if let Some(list) = doc
        .pointer_mut("/agents/list")
        .and_then(Value::as_array_mut)
    {
        list.truncate(2);
    }
    doc
});

/// A small valid report, as the unit tests build it.
fn sample() -> Value {
    report("base.json", "virtual", 200.0, 3, 10.0)
        .value()
        .clone()
}

/// Keys a report uses, so random objects sometimes hit a real one.
const KEYS: [&str; 24] = [
    "schema_version",
    "scenario",
    "clock",
    "shards",
    "latency",
    "agent_response",
    "p95_ms",
    "p50_ms",
    "max_ms",
    "error_rate",
    "goodput_turns_per_s",
    "counters",
    "turns",
    "errors",
    "calls",
    "attempts",
    "tool",
    "timeout",
    "targets",
    "target",
    "measured",
    "op",
    "agents",
    "process",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
        prop::sample::select(vec![0.0, -0.0, 0.5, 1.5, -1.0, 1e300, 5e-324]).prop_map(Value::from),
        prop::sample::select(vec!["", "virtual", "live", "ci", "<", ">=", "ms", "bytes"])
            .prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// JSON pointers of every value of `doc` but the root, depth first.
fn pointers(doc: &Value) -> Vec<String> {
    fn walk(v: &Value, here: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = format!("{here}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(p.clone());
                    walk(v, &p, out);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    let p = format!("{here}/{i}");
                    out.push(p.clone());
                    walk(v, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, "", &mut out);
    out
}

/// What to do to one value of a valid report.
#[derive(Clone, Debug)]
enum Mutation {
    Replace(Value),
    Remove,
    Add(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => leaf().prop_map(Mutation::Replace),
        2 => value().prop_map(Mutation::Replace),
        1 => Just(Mutation::Remove),
        1 => (key(), value()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ]
}

fn mutate(doc: &Value, which: Index, m: &Mutation) -> Value {
    let mut doc = doc.clone();
    let all = pointers(&doc);
    let at = &all[which.index(all.len())];
    let (parent, last) = at.rsplit_once('/').expect("a pointer has a step");
    match m {
        Mutation::Replace(v) => {
            if let Some(slot) = doc.pointer_mut(at) {
                *slot = v.clone();
            }
        }
        Mutation::Remove => match doc.pointer_mut(parent) {
            Some(Value::Object(o)) => {
                o.remove(&last.replace("~1", "/").replace("~0", "~"));
            }
            Some(Value::Array(a)) => {
                if let Ok(i) = last.parse::<usize>() {
                    a.remove(i);
                }
            }
            _ => {}
        },
        Mutation::Add(k, v) => match doc.pointer_mut(at) {
            Some(Value::Object(o)) => {
                o.insert(k.clone(), v.clone());
            }
            _ => {
                if let Some(o) = doc.as_object_mut() {
                    o.insert(k.clone(), v.clone());
                }
            }
        },
    }
    doc
}

/// The value a figure's path (`counters.turns`, `targets[2].measured`) names.
fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = doc;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        v = v.get(name)?;
        if let Some(i) = index {
            v = v.get(i)?;
        }
    }
    Some(v)
}

/// Reads `doc` as `new.json`: a refusal names the file (and a bad figure's path holds the
/// value it quotes); an accepted report compares with `base` both ways and renders.
fn holds(doc: &Value, base: &Report) -> Result<(), TestCaseError> {
    let text = doc.to_string();
    // What the reader sees: serde_json's float parsing does not always round-trip the last
    // digit, so compare against the text read back, not the value written.
    let doc: Value = serde_json::from_str(&text).expect("a JSON value re-reads");
    let doc = &doc;
    match Report::from_json(&text, "new.json") {
        Ok(new) => {
            let forced = Options {
                force: true,
                include_process: true,
                ..Options::default()
            };
            for (a, b) in [(base, &new), (&new, base), (&new, &new)] {
                let c = compare(std::slice::from_ref(a), std::slice::from_ref(b), &forced)
                    .map_err(|e| TestCaseError::fail(format!("{e}")))?;
                let _ = (table(&c), markdown(&c), render_json(&c));
            }
            Ok(())
        }
        Err(err) => {
            let message = err.to_string();
            prop_assert!(message.starts_with("new.json: "), "{}", message);
            if let CompareError::BadFigure { path, value, .. } = &err {
                let found = lookup(doc, path);
                prop_assert!(found.is_some(), "no {} in the report: {}", path, message);
                let found = found.map(Value::to_string).unwrap_or_default();
                prop_assert!(
                    found == *value || value.ends_with("..."),
                    "{} holds {}, the error says {}",
                    path,
                    found,
                    value
                );
            }
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_a_report_or_a_named_error(text in "\\PC{0,80}") {
        if let Err(e) = Report::from_json(&text, "new.json") {
            prop_assert!(e.to_string().starts_with("new.json: "), "{}", e);
        }
    }

    #[test]
    fn any_json_is_a_report_or_a_named_error(doc in value()) {
        let base = report("base.json", "virtual", 200.0, 3, 10.0);
        holds(&doc, &base)?;
        // The same value inside a report's required fields.
        let mut framed = sample();
        framed["latency"] = json!({"agent_response": doc});
        holds(&framed, &base)?;
    }

    #[test]
    fn a_valid_report_with_one_value_changed(
        real in any::<bool>(),
        which in any::<Index>(),
        m in mutation(),
    ) {
        let (doc, base) = if real {
            let base = Report::from_json(&BASELINE.to_string(), "base.json")
                .map_err(|e| TestCaseError::fail(format!("{e}")))?;
            (BASELINE.clone(), base)
        } else {
            (sample(), report("base.json", "virtual", 200.0, 3, 10.0))
        };
        holds(&mutate(&doc, which, &m), &base)?;
    }

    #[test]
    fn a_known_figure_that_is_not_a_number_is_refused(
        figure in prop::sample::select(vec![
            "/counters/turns",
            "/counters/turns_failed",
            "/error_rate",
            "/goodput_turns_per_s",
            "/latency/agent_response/p95_ms",
            "/errors/calls/tool/timeout",
        ]),
        wrong in prop_oneof![
            "\\PC{0,8}".prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(json!([1])),
            Just(json!({"value": 1})),
            (-1e9f64..-1e-9).prop_map(Value::from),
        ],
    ) {
        let mut doc = sample();
        *doc.pointer_mut(figure).expect("the sample has every figure") = wrong.clone();
        let err = Report::from_json(&doc.to_string(), "new.json");
        let Err(CompareError::BadFigure { path, value, .. }) = err else {
            return Err(TestCaseError::fail(format!("{figure} = {wrong} was accepted: {err:?}")));
        };
        prop_assert_eq!(path.replace('.', "/"), figure.trim_start_matches('/'));
        let seen: Value = serde_json::from_str(&doc.to_string()).expect("JSON re-reads");
        let seen = seen.pointer(figure).map(Value::to_string).unwrap_or_default();
        prop_assert!(value == seen || value.ends_with("..."), "{} vs {}", value, seen);
    }
}
