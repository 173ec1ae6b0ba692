//! Property tests of the two file readers, `Scenario::from_toml` and `Budget::from_toml`: any
//! text (random, TOML-shaped, or a shipped file with one value replaced, removed or added)
//! never panics; a rejected file's every problem names the file, and a line and column or a
//! key; an accepted scenario prints and re-reads to itself.

use proptest::prelude::*;
use proptest::sample::Index;
use toml::{Table, Value};

use crate::budget::Budget;
use crate::{Scenario, ScenarioError};

const FIXTURES: [&str; 9] = [
    include_str!("../../../fixtures/scenarios/smoke.toml"),
    include_str!("../../../fixtures/scenarios/default.toml"),
    include_str!("../../../fixtures/scenarios/support-fleet.toml"),
    include_str!("../../../fixtures/scenarios/faults.toml"),
    include_str!("../../../fixtures/scenarios/compression.toml"),
    include_str!("../../../fixtures/scenarios/zero-latency.toml"),
    include_str!("../../../fixtures/scenarios/overload.toml"),
    include_str!("../../../fixtures/scenarios/coding-agents.toml"),
    include_str!("../../../fixtures/ci/scenario.toml"),
];

const BUDGET: &str = include_str!("../../../fixtures/ci/budget.toml");

/// Strings a scenario's values are made of, and the values the bounds are about.
const WORDS: [&str; 40] = [
    "",
    "embedded",
    "virtual",
    "live",
    "poisson",
    "constant",
    "closed",
    "uniform",
    "lognormal",
    "empirical",
    "0s",
    "1ns",
    "250ms",
    "1y",
    "366d",
    "500000y",
    "99999999999999999999s",
    "-2s",
    "100MB",
    "1.5KB",
    "99999999999999 TB",
    "18446744073709551616",
    "-5MB",
    "http://127.0.0.1:8000/v1",
    "http://[::1",
    "http://h:99999/v1",
    "http://h:0/v1",
    "http://user:pass@h/v1",
    "https://",
    "tool:search",
    "tool:",
    "chat",
    "rate-limit",
    "slow-first-token",
    "window+clip",
    "none",
    "o200k",
    "chars",
    "OPENAI_API_KEY",
    "sk-123",
];

/// Keys a scenario's tables use, so random tables sometimes hit a real one.
const KEYS: [&str; 30] = [
    "dist",
    "min",
    "max",
    "median",
    "p95",
    "values",
    "value",
    "agents",
    "rate",
    "arrival",
    "duration",
    "shards",
    "rpm",
    "tpm",
    "max_in_flight",
    "tokens",
    "messages",
    "fraction",
    "endpoint",
    "kind",
    "probability",
    "from",
    "until",
    "name",
    "model",
    "base_url",
    "capacity",
    "ttl",
    "metric",
    "percentile",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        prop::sample::select(vec![
            0,
            1,
            -1,
            20,
            256,
            257,
            1_000_000,
            1_000_001,
            10_000_001,
            i64::from(u32::MAX),
            i64::from(u32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ])
        .prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Float),
        prop::sample::select(vec![
            0.0,
            -0.0,
            0.5,
            1.0,
            1e-300,
            1e-6,
            1e6,
            1e300,
            f64::NAN,
            f64::INFINITY
        ])
        .prop_map(Value::Float),
        prop::sample::select(WORDS.to_vec()).prop_map(|s| Value::String(s.to_owned())),
        "\\PC{0,12}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
        Just(Value::Datetime(
            "1979-05-27T07:32:00Z"
                .parse()
                .expect("a valid TOML datetime")
        )),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

/// One step into a TOML document.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// The path of every value of `table`, tables and arrays included, depth first.
fn paths(table: &Table) -> Vec<Vec<Step>> {
    fn walk(value: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(here.clone());
        match value {
            Value::Table(t) => {
                for (k, v) in t {
                    here.push(Step::Key(k.clone()));
                    walk(v, here, out);
                    here.pop();
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    here.push(Step::Index(i));
                    walk(v, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (k, v) in table {
        walk(v, &mut vec![Step::Key(k.clone())], &mut out);
    }
    out
}

fn at<'a>(table: &'a mut Table, path: &[Step]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let Step::Key(k) = first else { return None };
    let mut v = table.get_mut(k)?;
    for step in rest {
        v = match (step, v) {
            (Step::Key(k), Value::Table(t)) => t.get_mut(k)?,
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// What to do to one value of a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replace it with a value of the same type (one of these three; anything else with the
    /// fourth): a range or reference more often than a type is wrong.
    Same(i64, f64, String, Value),
    /// Replace it.
    Replace(Value),
    /// Remove it (from its table or array).
    Remove,
    /// Add a key beside it (into it, if it is a table).
    Add(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let int = prop_oneof![
        any::<i64>(),
        (-2i64..70),
        prop::sample::select(vec![
            0,
            1_000_001,
            10_000_001,
            i64::from(u32::MAX),
            i64::MAX
        ]),
    ];
    let float = prop_oneof![
        any::<f64>(),
        -1.0f64..2.0,
        prop::sample::select(vec![0.0, 1e-300, 1e-7, 1e7, 1e300, f64::NAN, f64::INFINITY]),
    ];
    let text = prop_oneof![
        3 => prop::sample::select(WORDS.to_vec()).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ];
    prop_oneof![
        6 => (int, float, text, leaf()).prop_map(|(i, f, s, v)| Mutation::Same(i, f, s, v)),
        3 => value().prop_map(Mutation::Replace),
        1 => Just(Mutation::Remove),
        2 => (key(), value()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ]
}

/// `text` with the value at `which` of its paths mutated, as TOML again.
fn mutate(text: &str, which: Index, m: &Mutation) -> String {
    let mut table: Table = text.parse().expect("the fixtures are TOML");
    let all = paths(&table);
    let path = &all[which.index(all.len())];
    match m {
        Mutation::Same(i, f, text, other) => {
            if let Some(slot) = at(&mut table, path) {
                *slot = match slot {
                    Value::Integer(_) => Value::Integer(*i),
                    Value::Float(_) => Value::Float(*f),
                    Value::String(_) => Value::String(text.clone()),
                    _ => other.clone(),
                };
            }
        }
        Mutation::Replace(v) => {
            if let Some(slot) = at(&mut table, path) {
                *slot = v.clone();
            }
        }
        Mutation::Remove => {
            let (last, parent) = path.split_last().expect("a path has a step");
            match (last, parent.is_empty()) {
                (Step::Key(k), true) => {
                    table.remove(k);
                }
                (Step::Key(k), false) => {
                    if let Some(Value::Table(t)) = at(&mut table, parent) {
                        t.remove(k);
                    }
                }
                (Step::Index(i), _) => {
                    if let Some(Value::Array(a)) = at(&mut table, parent) {
                        a.remove(*i);
                    }
                }
            }
        }
        Mutation::Add(k, v) => match at(&mut table, path) {
            Some(Value::Table(t)) => {
                t.insert(k.clone(), v.clone());
            }
            _ => {
                table.insert(k.clone(), v.clone());
            }
        },
    }
    toml::to_string(&table).unwrap_or_default()
}

/// TOML-shaped text: section headers and `key = value` lines in any order.
fn toml_lines() -> impl Strategy<Value = String> {
    let header = prop::sample::select(vec![
        "[fleet]",
        "[session]",
        "[llm]",
        "[[llm.providers]]",
        "[tools.search]",
        "[tools.search.cache]",
        "[mock]",
        "[[mock.faults]]",
        "[compression]",
        "[targets]",
        "[[targets.extra]]",
        "[fleet",
        "",
    ])
    .prop_map(str::to_owned);
    let line = prop_oneof![
        1 => header,
        3 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

/// Every problem of `err` names `origin`, and a position or a key; positions lie in `src`.
fn located(err: &ScenarioError, src: &str, origin: &str) -> Result<(), TestCaseError> {
    let text = err.to_string();
    let ScenarioError::Invalid {
        origin: o,
        problems,
    } = err
    else {
        return Err(TestCaseError::fail(format!("not a file error: {text}")));
    };
    prop_assert_eq!(o, origin);
    prop_assert!(!problems.is_empty(), "no problem named");
    prop_assert!(text.starts_with(origin), "{}", text);
    let lines = src.split('\n').count();
    for p in problems {
        prop_assert_eq!(p.line.is_some(), p.column.is_some(), "{}", text);
        if let Some(line) = p.line {
            prop_assert!(
                (1..=lines).contains(&line),
                "line {} of {}: {}",
                line,
                lines,
                text
            );
            prop_assert!(p.column >= Some(1), "{}", text);
        }
        let rendered = match (p.line, p.column) {
            (Some(l), Some(c)) => format!("{origin}:{l}:{c}: "),
            _ => format!("{origin}: "),
        };
        prop_assert!(text.contains(&rendered), "{} not in {}", rendered, text);
        if !p.key.is_empty() {
            let key = format!("key `{}`: ", p.key);
            prop_assert!(text.contains(&key), "{}", text);
        }
        prop_assert!(
            p.line.is_some() || !p.key.is_empty() || p.message.contains("empty"),
            "a problem with neither a position nor a key: {}",
            text
        );
        prop_assert!(!p.message.is_empty(), "{}", text);
    }
    Ok(())
}

/// Reads `src` as a scenario: an error is located; a scenario re-reads to itself.
fn scenario_holds(src: &str) -> Result<(), TestCaseError> {
    match Scenario::from_toml(src, "fuzz.toml") {
        Ok(s) => {
            let text = s.to_toml();
            let again = Scenario::from_toml(&text, "again.toml")
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(&again, &s, "{}", text);
            prop_assert!(s.check("flags").is_ok());
            Ok(())
        }
        Err(e) => located(&e, src, "fuzz.toml"),
    }
}

fn budget_holds(src: &str) -> Result<(), TestCaseError> {
    match Budget::from_toml(src, "budget.toml") {
        Ok(b) => {
            prop_assert!(b.keys().windows(2).all(|w| w[0] < w[1]));
            Ok(())
        }
        Err(e) => located(&e, src, "budget.toml"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_a_scenario_or_a_located_error(src in "\\PC{0,200}") {
        scenario_holds(&src)?;
    }

    #[test]
    fn toml_shaped_text_is_a_scenario_or_a_located_error(src in toml_lines()) {
        scenario_holds(&src)?;
    }

    #[test]
    fn a_shipped_scenario_with_one_value_changed(
        file in 0..FIXTURES.len(),
        which in any::<Index>(),
        m in mutation(),
    ) {
        let src = mutate(FIXTURES[file], which, &m);
        scenario_holds(&src)?;
    }

    #[test]
    fn any_text_is_a_budget_or_a_located_error(src in "\\PC{0,120}") {
        budget_holds(&src)?;
        budget_holds(&format!("[targets]\n{src}"))?;
    }

    #[test]
    fn toml_shaped_text_is_a_budget_or_a_located_error(src in toml_lines()) {
        budget_holds(&src)?;
    }

    #[test]
    fn the_ci_budget_with_one_value_changed(which in any::<Index>(), m in mutation()) {
        budget_holds(&mutate(BUDGET, which, &m))?;
    }
}
