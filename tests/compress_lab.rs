//! `compress`'s plan and warnings (issue 15): a strategy given twice or a sweep it does not
//! read runs once, said on stderr; prompts over the context window are counted and named.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::fleetbench;

/// A temporary directory holding a small coding corpus as `c.jsonl`.
fn corpus() -> (tempfile::TempDir, PathBuf) {
    crate::common::generated_corpus(&["--conversations", "2", "--turns", "10", "--seed", "7"])
}

/// `compress --corpus FILE ARGS --no-timing`: stdout and stderr.
fn compress(args: &[&str]) -> (String, String) {
    let (_dir, file) = corpus();
    let assert = fleetbench()
        .arg("compress")
        .arg("--corpus")
        .arg(&file)
        .args(args)
        .arg("--no-timing")
        .assert()
        .success();
    let out = assert.get_output();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8 output");
    (text(&out.stdout), text(&out.stderr))
}

fn row_names(json: &str) -> Vec<String> {
    let report: Value = serde_json::from_str(json).expect("the report is JSON");
    let rows = report["rows"].as_array().expect("rows");
    rows.iter()
        .map(|r| match r["sweep"].as_str() {
            Some(sweep) => format!("{} [{sweep}]", r["strategy"].as_str().expect("a name")),
            None => r["strategy"].as_str().expect("a name").to_owned(),
        })
        .collect()
}

#[test]
fn a_repeated_strategy_runs_once_and_says_so() {
    let (json, stderr) = compress(&[
        "--strategy",
        "clip",
        "--strategy",
        "clip",
        "--format",
        "json",
    ]);
    assert_eq!(row_names(&json), ["none", "clip"]);
    assert!(
        stderr.contains("note: --strategy clip is given more than once; it runs once"),
        "{stderr}"
    );
}

#[test]
fn a_sweep_a_strategy_does_not_read_runs_it_once() {
    let (json, stderr) = compress(&[
        "--strategy",
        "clip",
        "--strategy",
        "window",
        "--sweep",
        "keep_last=5,10",
        "--format",
        "json",
    ]);
    assert_eq!(
        row_names(&json),
        [
            "none",
            "clip",
            "window [keep_last=5]",
            "window [keep_last=10]"
        ]
    );
    assert!(
        stderr.contains("note: `keep_last` is not read by clip: each runs once"),
        "{stderr}"
    );
    let (_, quiet) = compress(&["--strategy", "window", "--sweep", "keep_last=5,10"]);
    assert!(!quiet.contains("note:"), "{quiet}");
}

#[test]
fn prompts_over_the_context_window_are_counted_and_warned_of() {
    let (table, _) = compress(&[
        "--strategy",
        "clip",
        "--sweep",
        "context_window=2000,128000",
    ]);
    let warning = table
        .lines()
        .find(|l| l.starts_with("WARNING: prompts over the context window: "))
        .unwrap_or_else(|| panic!("no warning in\n{table}"));
    assert!(
        warning.contains("clip [context_window=2000] ("),
        "{warning}"
    );
    assert!(
        !warning.contains("128000") && !warning.contains("none"),
        "{warning}"
    );
    assert!(table.contains(" overflows "), "{table}");
}
