//! `compress --keep-pattern`, `--seeds` with `--generate` or `{seed}` files, and `--format
//! csv` (issue 15): identifier retention, the spread's mean and interval, a CSV that Python's
//! `csv` module reads back as the JSON says, and exit 2 for each bad input.

use std::path::Path;

use serde_json::Value;

use crate::common::{fleetbench, generate_corpus};

/// The planted values' shape (`QX7-4471-KP`): identifiers in a generated corpus.
const IDS: &str = "[A-Z0-9]{3}-[0-9]{4}-[A-Z0-9]{2}";

fn compress(args: &[&str]) -> assert_cmd::assert::Assert {
    fleetbench()
        .arg("compress")
        .args(["--strategy", "observation-masking", "--no-timing"])
        .args(args)
        .assert()
}

fn json(args: &[&str]) -> Value {
    let out = compress(&[args, &["--format", "json"]].concat())
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("the report is JSON")
}

fn stdout(args: &[&str]) -> String {
    let out = compress(args).success().get_output().stdout.clone();
    String::from_utf8(out).expect("UTF-8")
}

fn stderr_of_failure(args: &[&str]) -> String {
    let out = compress(args).code(2).get_output().stderr.clone();
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn keep_pattern_scores_identifier_retention_per_row() {
    let report = json(&["--generate", "coding:2", "--keep-pattern", IDS]);
    assert_eq!(report["settings"]["keep_patterns"][0], IDS);
    let rows = report["rows"].as_array().expect("rows");
    let none = &rows[0]["identifiers"];
    assert!(none["found"].as_u64().expect("a count") > 0, "{none}");
    assert_eq!(none["kept_final"], 1.0);
    assert_eq!(none["kept_turns"], 1.0);
    let masked = rows[1]["identifiers"]["kept_final"]
        .as_f64()
        .expect("a share");
    assert!(masked < 1.0, "observation-masking drops outputs: {masked}");
    let table = stdout(&["--generate", "coding:2", "--keep-pattern", IDS]);
    assert!(table.contains("ids kept"), "{table}");
    assert!(
        table.contains("100/100\n"),
        "none keeps every identifier: {table}"
    );
    // A pattern that matches nothing: `-`, not 0 or 100.
    let table = stdout(&["--generate", "coding:2", "--keep-pattern", "zz-never-zz"]);
    assert!(table.contains("-/-\n"), "{table}");
}

#[test]
fn without_keep_pattern_the_report_has_no_identifier_figures() {
    let report = json(&["--generate", "coding:2"]);
    assert!(report["settings"].get("keep_patterns").is_none());
    assert!(report["rows"][0].get("identifiers").is_none());
    assert!(!stdout(&["--generate", "coding:2"]).contains("ids kept"));
}

#[test]
fn a_bad_keep_pattern_is_exit_2_naming_the_flag_the_value_and_the_error() {
    let err = stderr_of_failure(&["--generate", "coding:1", "--keep-pattern", "req-("]);
    assert!(err.contains("--keep-pattern req-("), "{err}");
    assert!(err.contains("unclosed group"), "{err}");
    assert!(err.contains("escape"), "a fix: {err}");
}

#[test]
fn seeds_report_each_seed_and_the_mean_with_a_student_t_interval() {
    let report = json(&["--generate", "coding:2", "--seeds", "1..3"]);
    assert_eq!(report["seeds"], serde_json::json!([1, 2, 3]));
    let per_seed = report["per_seed"].as_array().expect("per_seed");
    assert_eq!(per_seed.len(), 3);
    let ratios: Vec<f64> = per_seed
        .iter()
        .map(|s| {
            s["report"]["rows"][1]["compression_ratio"]
                .as_f64()
                .expect("a ratio")
        })
        .collect();
    assert!(
        ratios[0] != ratios[1],
        "each seed has its own corpus: {ratios:?}"
    );
    let stat = &report["summary"][1]["figures"]["compression_ratio"];
    let mean = ratios.iter().sum::<f64>() / 3.0;
    let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert_eq!(stat["n"], 3);
    assert!(
        (stat["mean"].as_f64().expect("a mean") - mean).abs() < 1e-6,
        "{stat}"
    );
    let ci = 4.303 * sd / 3f64.sqrt();
    assert!(
        (stat["ci95"].as_f64().expect("a ci") - ci).abs() < 1e-5,
        "{stat}: {ci}"
    );
    let table = stdout(&["--generate", "coding:2", "--seeds", "1..3"]);
    assert!(table.contains(" ±"), "{table}");
    // One seed: a mean, no interval.
    let one = json(&["--generate", "coding:2", "--seeds", "4"]);
    assert!(one["summary"][1]["figures"]["compression_ratio"]["ci95"].is_null());
}

#[test]
fn seeds_read_one_file_per_seed_and_match_a_run_on_each_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for seed in ["1", "2"] {
        let corpus = generate_corpus(&["--conversations", "2", "--turns", "10", "--seed", seed]);
        std::fs::write(dir.path().join(format!("c-{seed}.jsonl")), corpus).expect("written");
    }
    let template = dir.path().join("c-{seed}.jsonl");
    let template = template.to_str().expect("a UTF-8 path");
    let report = json(&["--corpus", template, "--seeds", "1,2"]);
    let alone = json(&["--corpus", &template.replace("{seed}", "2")]);
    assert_eq!(report["per_seed"][1]["seed"], 2);
    assert_eq!(report["per_seed"][1]["report"], alone);
    // A seed without its file: named, before anything runs.
    let err = stderr_of_failure(&["--corpus", template, "--seeds", "1..3"]);
    assert!(err.contains("seed 3") && err.contains("c-3.jsonl"), "{err}");
    // `{seed}` without --seeds, and --seeds with a plain path.
    let err = stderr_of_failure(&["--corpus", template]);
    assert!(err.contains("needs --seeds"), "{err}");
    let plain = template.replace("{seed}", "1");
    let err = stderr_of_failure(&["--corpus", &plain, "--seeds", "1,2"]);
    assert!(err.contains("same file") && err.contains("{seed}"), "{err}");
}

#[test]
fn a_bad_seed_range_is_exit_2_naming_the_flag() {
    for bad in ["5..1", "1..x", "2,2"] {
        let err = stderr_of_failure(&["--generate", "coding:1", "--seeds", bad]);
        assert!(err.contains("--seeds") && err.contains(bad), "{bad}: {err}");
    }
}

/// `text` read by Python's `csv` module, as a JSON list of the records.
fn python_csv(text: &str, dir: &Path) -> Vec<Vec<String>> {
    let file = dir.join("out.csv");
    std::fs::write(&file, text).expect("written");
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='') as f:\n    \
                  print(json.dumps(list(csv.reader(f, strict=True))))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a list of records")
}

/// The JSON value under the dotted `path`.
fn at<'a>(row: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(row, |v, k| &v[k])
}

#[test]
fn csv_reads_back_with_every_numeric_figure_of_the_json() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let args = ["--generate", "coding:2", "--keep-pattern", IDS];
    let csv = stdout(&[&args[..], &["--format", "csv"]].concat());
    let report = json(&args);
    let records = python_csv(&csv, dir.path());
    let header = &records[0];
    assert_eq!(&header[..4], ["seed", "stat", "strategy", "sweep"]);
    assert!(
        header.contains(&"identifiers.kept_final".to_owned()),
        "{header:?}"
    );
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(records.len(), 1 + rows.len());
    for (record, row) in records[1..].iter().zip(rows) {
        assert_eq!(record.len(), header.len());
        assert_eq!(record[2], row["strategy"].as_str().expect("a name"));
        for (name, cell) in header.iter().zip(record).skip(4) {
            let v = at(row, name);
            match v.as_f64() {
                Some(x) => assert_eq!(cell.parse::<f64>().ok(), Some(x), "{name}"),
                None => assert!(v.is_null() && cell.is_empty(), "{name}: {cell}"),
            }
        }
    }
}

#[test]
fn csv_with_seeds_has_a_line_per_seed_and_row_then_the_means_and_intervals() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let args = ["--generate", "coding:2", "--seeds", "1..2"];
    let csv = stdout(&[&args[..], &["--format", "csv"]].concat());
    let report = json(&args);
    let records = python_csv(&csv, dir.path());
    // 2 seeds x 2 rows, then a mean and a ci95 line per row.
    assert_eq!(records.len(), 1 + 4 + 4);
    let col = |name: &str| records[0].iter().position(|c| c == name).expect(name);
    let (ratio, stat) = (col("compression_ratio"), col("stat"));
    let second_seed = &records[3];
    assert_eq!(
        (second_seed[0].as_str(), second_seed[2].as_str()),
        ("2", "none")
    );
    let json_ratio = &report["per_seed"][1]["report"]["rows"][1]["compression_ratio"];
    assert_eq!(records[4][ratio].parse::<f64>().ok(), json_ratio.as_f64());
    let mean = &report["summary"][1]["figures"]["compression_ratio"]["mean"];
    let line = records
        .iter()
        .find(|r| r[stat] == "mean" && r[2] == "observation-masking")
        .expect("a mean line");
    assert_eq!(line[ratio].parse::<f64>().ok(), mean.as_f64());
}
