//! `compress --prices` and `--rank` (issue 15, cost): the cost column and `cost_usd`, presets
//! and prices files, a bad file is exit 2 naming the key, rows ranked by cost or ratio.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::fleetbench;

/// A temporary directory holding a small coding corpus as `c.jsonl`.
fn corpus() -> (tempfile::TempDir, PathBuf) {
    crate::common::generated_corpus(&["--conversations", "2", "--turns", "10", "--seed", "7"])
}

/// `compress` on `corpus` with four strategies, `--no-timing` and `args`.
fn compress(corpus: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    fleetbench()
        .arg("compress")
        .arg("--corpus")
        .arg(corpus)
        .args([
            "--strategy",
            "token-budget",
            "--strategy",
            "rolling-summary",
        ])
        .args(["--strategy", "observation-masking", "--no-timing"])
        .args(args)
        .assert()
}

fn json(corpus: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = compress(corpus, &all).success().get_output().stdout.clone();
    serde_json::from_slice(&out).expect("the report is JSON")
}

fn rows(report: &Value) -> &Vec<Value> {
    report["rows"].as_array().expect("rows")
}

fn names(report: &Value) -> Vec<String> {
    rows(report)
        .iter()
        .map(|r| r["strategy"].as_str().expect("a name").to_owned())
        .collect()
}

const PRICES: &str = "input = 3\ncached_read = 0.3\ncache_write_extra = 0.75\noutput = 15\n\
                      summarizer_input = 0.8\nsummarizer_output = 4\n";

#[test]
fn a_prices_file_prices_every_row_by_the_documented_formula() {
    let (dir, file) = corpus();
    let prices = dir.path().join("p.toml");
    fs::write(&prices, PRICES).expect("the prices are written");
    let report = json(&file, &["--prices", prices.to_str().expect("a UTF-8 path")]);
    assert_eq!(report["prices"]["cache_write_extra"], 0.75);
    for row in rows(&report) {
        let n = |key: &str| row[key].as_f64().expect(key);
        let (sum_in, sum_out) = (n("summarizer_tokens_in"), n("summarizer_tokens_out"));
        let uncached = n("uncached_prompt_tokens") - sum_in;
        let cached = n("cumulative_prompt_tokens") - n("uncached_prompt_tokens");
        let expected = (uncached * (3.0 + 0.75)
            + cached * 0.3
            + n("output_tokens") * 15.0
            + sum_in * 0.8
            + sum_out * 4.0)
            / 1e6;
        let total = row["cost_usd"]["total"].as_f64().expect("a total");
        assert!((total - expected).abs() < 1e-5, "{row}: {expected}");
    }
}

#[test]
fn presets_price_the_table_and_mark_the_cheapest_row() {
    let (_dir, file) = corpus();
    for preset in ["gpt-4o-mini", "gpt-4.1", "claude-sonnet"] {
        let out = compress(&file, &["--prices", preset])
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).expect("UTF-8");
        assert!(text.contains("cost $"), "{text}");
        assert!(text.contains(&format!("at `{preset}` prices")), "{text}");
        assert!(text.contains("* cheapest: "), "{text}");
    }
    let plain = compress(&file, &[]).success().get_output().stdout.clone();
    assert!(!String::from_utf8(plain).expect("UTF-8").contains("cost $"));
}

#[test]
fn rows_rank_by_cost_or_by_ratio_and_keep_their_order_without_rank() {
    let (_dir, file) = corpus();
    let plain = json(&file, &["--prices", "gpt-4.1"]);
    assert_eq!(
        names(&plain),
        [
            "none",
            "token-budget",
            "rolling-summary",
            "observation-masking"
        ]
    );
    let by_cost = json(&file, &["--prices", "gpt-4.1", "--rank", "cost"]);
    let totals: Vec<f64> = rows(&by_cost)
        .iter()
        .map(|r| r["cost_usd"]["total"].as_f64().expect("a total"))
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    let by_ratio = json(&file, &["--rank", "ratio"]);
    let ratios: Vec<f64> = rows(&by_ratio)
        .iter()
        .map(|r| r["compression_ratio"].as_f64().expect("a ratio"))
        .collect();
    assert!(ratios.windows(2).all(|w| w[0] >= w[1]), "{ratios:?}");
    assert_ne!(names(&by_ratio), names(&plain));
}

#[test]
fn bad_prices_exit_2_naming_the_key_or_the_fix() {
    let (dir, file) = corpus();
    let stderr = |args: &[&str]| {
        let out = compress(&file, args).code(2).get_output().stderr.clone();
        String::from_utf8(out).expect("UTF-8")
    };
    let missing = dir.path().join("missing.toml");
    fs::write(&missing, PRICES.replace("output = 15\n", "")).expect("written");
    let path = missing.to_str().expect("a UTF-8 path");
    let err = stderr(&["--prices", path]);
    assert!(err.contains(path) && err.contains("`output`"), "{err}");
    let negative = dir.path().join("negative.toml");
    fs::write(&negative, PRICES.replace("input = 3", "input = -3")).expect("written");
    let err = stderr(&["--prices", negative.to_str().expect("a UTF-8 path")]);
    assert!(err.contains("`input` = -3"), "{err}");
    let err = stderr(&["--prices", "gpt-9"]);
    assert!(
        err.contains("gpt-9") && err.contains("gpt-4o-mini"),
        "{err}"
    );
    let err = stderr(&["--rank", "cost"]);
    assert!(err.contains("--rank cost needs prices"), "{err}");
}
