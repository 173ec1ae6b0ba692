//! `[tools.NAME.mock] arguments`: the keys read and print back, and every bad value is
//! rejected with the file, line, key, the value and a fix.

use super::problem;
use crate::Scenario;

/// A scenario whose tool `kb` has `arguments = { BODY }` on line 4.
fn with(body: &str) -> String {
    format!(
        "[tools.kb]\nargs = {{ query = \"string\" }}\n[tools.kb.mock]\narguments = {{ {body} }}\n"
    )
}

/// `body` is rejected at `tools.kb.mock.arguments.KEY` on line 4, saying each of `says`.
fn rejects(body: &str, key: &str, says: &[&str]) {
    let (p, text) = problem(&with(body));
    assert_eq!(p.key, format!("tools.kb.mock.arguments.{key}"), "{text}");
    assert_eq!(p.line, Some(4), "{text}");
    assert!(text.starts_with("bad.toml:4:"), "{text}");
    for s in says {
        assert!(text.contains(s), "`{s}` missing from: {text}");
    }
}

#[test]
fn popularity_reads_and_prints_back() {
    let s = Scenario::from_toml(&with("distinct = 500, zipf = 1.1, reuse = 0.3"), "s").unwrap();
    let a = s.tools["kb"].mock.arguments.clone().unwrap();
    assert_eq!((a.distinct, a.zipf, a.reuse.0), (Some(500), Some(1.1), 0.3));
    let w = a.value_weights().unwrap();
    assert_eq!(w.len(), 500);
    assert!((w[1] - 2f64.powf(-1.1)).abs() < 1e-12, "{}", w[1]);
    let printed = s.to_toml();
    assert!(printed.contains("zipf = 1.1"), "{printed}");
    assert_eq!(Scenario::from_toml(&printed, "again").unwrap(), s);
    let e = Scenario::from_toml(&with("weights = [5.0, 3.0, 0.0]"), "s").unwrap();
    let a = e.tools["kb"].mock.arguments.clone().unwrap();
    assert_eq!(a.value_weights(), Some(vec![5.0, 3.0, 0.0]));
    assert!(!a.is_inert());
}

#[test]
fn without_popularity_nothing_is_printed() {
    let s = Scenario::from_toml("[tools.kb]\nargs = { query = \"string\" }\n", "s").unwrap();
    assert!(s.tools["kb"].mock.arguments.is_none());
    assert!(!s.to_toml().contains("arguments"));
    let empty = Scenario::from_toml(&with(""), "s").unwrap();
    let a = empty.tools["kb"].mock.arguments.clone().unwrap();
    assert!(a.is_inert() && a.value_weights().is_none());
}

#[test]
fn bad_popularity_is_located_and_says_how_to_fix_it() {
    for zipf in ["0.0", "-1.5"] {
        rejects(
            &format!("distinct = 100, zipf = {zipf}"),
            "zipf",
            &[
                &format!("`{}`", zipf.trim_end_matches(".0")),
                "greater than 0",
            ],
        );
    }
    rejects("distinct = 0", "distinct", &["`0`", "at least 1"]);
    rejects(
        "distinct = 1000001",
        "distinct",
        &["`1000001`", "at most 1000000"],
    );
    rejects("zipf = 1.1", "zipf", &["add distinct = N"]);
    rejects(
        "weights = [1.0], distinct = 3",
        "distinct",
        &["weights alone"],
    );
    rejects("weights = [0.0, 0.0]", "weights", &["positive weight"]);
    for reuse in ["1.5", "-0.1"] {
        rejects(
            &format!("distinct = 10, reuse = {reuse}"),
            "reuse",
            &[&format!("`{reuse}`"), "between 0 and 1"],
        );
    }
    let (p, text) = problem(&with("distinct = 10, popular = 3"));
    assert!(text.contains("popular"), "{text}");
    assert_eq!(p.line, Some(4), "{text}");
}
