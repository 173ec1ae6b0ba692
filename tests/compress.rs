use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{fleetbench, generate_corpus as generate};

fn compress(corpus: &Path, args: &[&str]) -> String {
    let out = fleetbench()
        .arg("compress")
        .arg("--corpus")
        .arg(corpus)
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).expect("stdout is UTF-8")
}

fn stderr_of(args: &[&str], code: i32) -> String {
    let assert = fleetbench().args(args).assert().code(code);
    String::from_utf8(assert.get_output().stderr.clone()).expect("stderr is UTF-8")
}

const SMALL: [&str; 8] = [
    "--profile",
    "coding",
    "--conversations",
    "2",
    "--turns",
    "10",
    "--seed",
    "7",
];

/// A temporary directory holding the `SMALL` corpus as `c.jsonl`.
fn small_corpus() -> (tempfile::TempDir, PathBuf) {
    crate::common::generated_corpus(&SMALL)
}

#[test]
fn corpus_generate_is_byte_identical_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.jsonl");
    let first = generate(&SMALL);
    assert_eq!(first, generate(&SMALL));
    let mut to_file = SMALL.to_vec();
    to_file.extend(["--out", file.to_str().unwrap()]);
    assert!(generate(&to_file).is_empty());
    assert_eq!(fs::read(&file).unwrap(), first);
    assert_eq!(first.iter().filter(|b| **b == b'\n').count(), 2);
    let other = generate(&["--conversations", "2", "--turns", "10", "--seed", "8"]);
    assert_ne!(first, other);
}

#[test]
fn compress_json_is_byte_identical_and_covers_every_strategy() {
    let (_dir, file) = small_corpus();
    let args = ["--format", "json", "--no-timing"];
    let first = compress(&file, &args);
    assert_eq!(first, compress(&file, &args));
    let json: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert!(json.get("timing").is_none());
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[0]["strategy"], "none");
    assert_eq!(rows[0]["compression_ratio"], 1.0);
    for row in rows {
        assert_eq!(row["violations"], 0, "{row}");
        assert_eq!(row["retention_final"]["probes_present"], 0, "{row}");
    }
    let timed = compress(&file, &["--format", "json", "--strategy", "clip"]);
    let timed: serde_json::Value = serde_json::from_str(&timed).unwrap();
    assert_eq!(timed["timing"].as_array().unwrap().len(), 2);
}

#[test]
fn compress_sweeps_pipelines_and_prints_tables() {
    let (_dir, file) = small_corpus();
    let args = [
        "--strategy",
        "observation-masking+rolling-summary",
        "--sweep",
        "mask_keep_last=2,8",
        "--trigger",
        "tokens=6000",
        "--compact-to",
        "0.4",
    ];
    let table = compress(&file, &args);
    assert!(
        table.contains("observation-masking+rolling-summary [mask_keep_last=2]"),
        "{table}"
    );
    assert!(table.contains("observation-masking+rolling-summary [mask_keep_last=8]"));
    assert!(
        table.contains("trigger tokens=6000, compact_to 0.4"),
        "{table}"
    );
    assert!(table.contains("p99 µs"));
    let md = compress(&file, &["--strategy", "window", "--format", "md"]);
    assert!(md.starts_with("# Compression evaluation"), "{md}");
    assert!(md.contains("| window |"), "{md}");
}

#[test]
fn compress_reads_plain_openai_logs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.jsonl");
    let line = r#"{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "a.rs"}, {"role": "assistant", "content": "one file"}]}"#;
    fs::write(&file, format!("{line}\n{line}\n")).unwrap();
    let json = compress(
        &file,
        &["--strategy", "window", "--format", "json", "--no-timing"],
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["corpus"]["conversations"], 2);
    assert_eq!(json["corpus"]["turns"], 4);
    assert_eq!(
        json["rows"][1]["retention_final"]["constraint"],
        serde_json::Value::Null
    );
}

#[test]
fn bad_input_exits_2_naming_the_flag_the_value_and_the_fix() {
    let (dir, file) = small_corpus();
    let corpus = file.to_str().unwrap();
    let err = stderr_of(&["compress", "--corpus", corpus, "--strategy", "windw"], 2);
    assert!(err.contains("'--strategy <S>'"), "{err}");
    assert!(
        err.contains("unknown compression strategy `windw`"),
        "{err}"
    );
    assert!(
        err.contains("use one of none, window, token-budget"),
        "{err}"
    );
    let err = stderr_of(
        &["compress", "--corpus", corpus, "--sweep", "keep_lots=1"],
        2,
    );
    assert!(
        err.contains("unknown sweep key `keep_lots`: use one of keep_first"),
        "{err}"
    );
    let bad = dir.path().join("bad.jsonl");
    fs::write(&bad, "{\"messages\": []}\n{oops\n").unwrap();
    let err = stderr_of(
        &["compress", "--corpus", bad.to_str().unwrap(), "--strict"],
        2,
    );
    assert!(
        err.contains(&format!(
            "--corpus {}: line 2: not a conversation record",
            bad.display()
        )),
        "{err}"
    );
    let missing = dir.path().join("missing.jsonl");
    let err = stderr_of(&["compress", "--corpus", missing.to_str().unwrap()], 2);
    assert!(err.contains("cannot read the file"), "{err}");
    let err = stderr_of(&["corpus", "generate", "--turns", "2"], 2);
    assert!(err.contains("at least 4 turns"), "{err}");
}

#[test]
fn compress_html_is_one_page_with_a_point_and_a_row_per_strategy() {
    let (_dir, corpus) = small_corpus();
    let page = compress(
        &corpus,
        &[
            "--strategy",
            "window",
            "--strategy",
            "observation-masking",
            "--format",
            "html",
        ],
    );
    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.200}");
    assert!(page.contains("aria-label=\"tokens saved and facts kept per strategy\""));
    // none, window and observation-masking: a point and a table row each.
    assert_eq!(page.matches("<circle").count(), 3);
    for name in ["none", "window", "observation-masking"] {
        assert!(page.contains(&format!("<tr><td>{name}</td>")), "{name}");
    }
    for needle in ["http:", "https:", "<script", "url("] {
        assert!(!page.contains(needle), "{needle}");
    }
    let refused = stderr_of(
        &[
            "compress",
            "--generate",
            "coding:2",
            "--seeds",
            "1..2",
            "--format",
            "html",
        ],
        2,
    );
    assert!(
        refused.contains("--format html") && refused.contains("--seeds"),
        "{refused}"
    );
}
