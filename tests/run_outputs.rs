//! `run --format csv` and `run --json` (issue 17): summary.csv and agents.csv read back by
//! Python's `csv` module agree with report.json; `--json` prints the report itself; the rates
//! are the counters over the run's fleet time; `--format csv` without `--out` is exit 2.

use std::path::Path;

use serde_json::Value;

use crate::common::{fleetbench, scenario};

/// A virtual smoke run (seed 7) with `args`; returns its stdout.
fn virtual_run(args: &[&str]) -> String {
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--seed", "7"])
        .args(args)
        .assert()
        .code(0);
    String::from_utf8(assert.get_output().stdout.clone()).expect("stdout is UTF-8")
}

/// The CSV file at `path` read by Python's `csv` module (strict), as its records.
fn python_csv(path: &Path) -> Vec<Vec<String>> {
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='') as f:\n    \
                  print(json.dumps(list(csv.reader(f, strict=True))))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a list of records")
}

/// Every line of `text` ends in CRLF, and no LF stands alone.
fn assert_crlf(text: &str) {
    assert!(text.ends_with("\r\n"), "{text}");
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "{text}"
    );
}

/// The records of a CSV as maps from its header's names to the cells.
fn rows(records: &[Vec<String>]) -> Vec<std::collections::BTreeMap<&str, &str>> {
    let (header, body) = records.split_first().expect("a header row");
    body.iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{r:?}");
            header
                .iter()
                .map(String::as_str)
                .zip(r.iter().map(String::as_str))
                .collect()
        })
        .collect()
}

fn num(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("`{cell}` is a number"))
}

#[test]
fn csv_files_read_back_as_the_json_says() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    virtual_run(&["--format", "csv", "--out", out.to_str().unwrap()]);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();

    let agents_text = std::fs::read_to_string(out.join("agents.csv")).unwrap();
    assert_crlf(&agents_text);
    let records = python_csv(&out.join("agents.csv"));
    assert_eq!(
        records[0][..5],
        [
            "id",
            "turns",
            "errors",
            "response_p50_ms",
            "response_p95_ms"
        ]
    );
    let agents = rows(&records);
    let list = report["agents"]["list"].as_array().unwrap();
    assert_eq!(agents.len(), list.len());
    assert!(!list.is_empty());
    for (row, a) in agents.iter().zip(list) {
        for key in [
            "id",
            "turns",
            "errors",
            "response_p95_ms",
            "peak_memory_bytes",
        ] {
            assert_eq!(num(row[key]), a[key].as_f64().unwrap(), "{key} of {a}");
        }
        assert_eq!(row["met_all_targets"], a["met_all_targets"].to_string());
    }

    let summary_text = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_crlf(&summary_text);
    let summary_records = python_csv(&out.join("summary.csv"));
    let summary = rows(&summary_records);
    let of = |kind: &str, name: &str| {
        summary
            .iter()
            .find(|r| r["kind"] == kind && r["name"] == name)
            .unwrap_or_else(|| panic!("a {kind} row {name}: {summary_text}"))
            .clone()
    };
    for (metric, h) in report["latency"].as_object().unwrap() {
        let row = of("latency", metric);
        assert_eq!(num(row["count"]), h["count"].as_f64().unwrap(), "{metric}");
        assert_eq!(
            num(row["p95_ms"]),
            h["p95_ms"].as_f64().unwrap(),
            "{metric}"
        );
    }
    for (key, value) in report["rates"].as_object().unwrap() {
        assert_eq!(num(of("figure", key)["value"]), value.as_f64().unwrap());
    }
    assert_eq!(
        num(of("figure", "goodput_turns_per_s")["value"]),
        report["goodput_turns_per_s"].as_f64().unwrap()
    );
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(
        summary.iter().filter(|r| r["kind"] == "target").count(),
        targets.len()
    );
    for v in targets {
        let row = of("target", v["target"].as_str().unwrap());
        assert_eq!(num(row["limit"]), v["limit"].as_f64().unwrap());
        assert_eq!(row["op"], v["op"].as_str().unwrap());
        assert_eq!(row["passed"], v["passed"].to_string());
    }
}

#[test]
fn json_prints_the_report_and_its_rates_are_counts_over_fleet_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let printed = virtual_run(&["--json", "--out", out.to_str().unwrap()]);
    let written = std::fs::read_to_string(out.join("report.json")).unwrap();
    // The same report, byte for byte up to `process` (machine-dependent, the last section).
    let cut = |t: &str| t[..t.find("\"process\"").expect("a process section")].to_owned();
    assert_eq!(cut(&printed), cut(&written));
    let report: Value = serde_json::from_str(&printed).expect("stdout is report.json alone");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors, Vec::<String>::new());

    let secs = report["simulated_ms"].as_f64().unwrap() / 1000.0;
    assert!(secs > 0.0);
    for (rate, counter) in [
        ("llm_calls_per_s", "llm_calls"),
        ("tool_calls_per_s", "tool_calls"),
        ("tokens_in_per_s", "tokens_in"),
        ("tokens_out_per_s", "tokens_out"),
    ] {
        let count = report["counters"][counter].as_f64().unwrap();
        assert!(count > 0.0, "{counter}");
        let measured = report["rates"][rate].as_f64().unwrap();
        assert!(
            (measured - count / secs).abs() <= 0.0005,
            "{rate}: {measured}"
        );
    }
}

#[test]
fn the_summary_shows_the_rates() {
    let stdout = virtual_run(&[]);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("rates: "))
        .unwrap_or_else(|| panic!("a rates line: {stdout}"));
    for unit in ["LLM calls/s", "tool calls/s", "tokens in/s", "tokens out/s"] {
        assert!(line.contains(unit), "{line}");
    }
    assert!(line.ends_with("of virtual clock time"), "{line}");
}

/// The file formats need a directory: csv and html without `--out` are exit 2, before a run.
#[test]
fn csv_and_html_without_out_are_exit_2_naming_the_flag() {
    for format in ["csv", "html"] {
        let assert = fleetbench()
            .arg("run")
            .arg(scenario("smoke.toml"))
            .args(["--format", format])
            .assert()
            .code(2);
        let out = assert.get_output();
        let err = String::from_utf8(out.stderr.clone()).unwrap();
        assert!(err.contains("--out <DIR>"), "{format}: {err}");
        assert!(out.stdout.is_empty(), "{format}: nothing ran");
    }
}
