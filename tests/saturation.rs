//! The harness's own saturation: a live run reports its `harness` section (whatever its
//! figures: CI machines are busy, so no test asserts "not saturated"), the virtual clock none,
//! and `harness_not_saturated` judges it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{fleetbench, scenario};

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the report file exists");
    serde_json::from_str(&text).expect("the report is JSON")
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let schema = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"));
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// smoke.toml with `harness_not_saturated = true` in its `[targets]`.
fn smoke_judging_the_harness(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(scenario("smoke.toml")).expect("the fixture exists");
    let last_table = text
        .lines()
        .rfind(|l| l.starts_with('['))
        .unwrap_or_default();
    assert_eq!(
        last_table, "[targets]",
        "the key is appended to the last table"
    );
    let path = dir.join("smoke-harness.toml");
    std::fs::write(&path, format!("{text}harness_not_saturated = true\n"))
        .expect("the temp dir is writable");
    path
}

#[test]
fn a_live_run_reports_its_harness_and_is_judged_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(smoke_judging_the_harness(dir.path()))
        .args(["--duration", "2s", "--out"])
        .arg(&out)
        .assert();
    let code = assert.get_output().status.code();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());

    let h = &report["harness"];
    assert!(h["saturated"].is_boolean(), "{h}");
    assert!(h["scheduler_lag_samples"].as_u64().unwrap() > 0, "{h}");
    assert!(h["scheduler_lag_p99_ms"].as_f64().is_some(), "{h}");
    assert!(h["cores"].as_u64().unwrap() >= 1, "{h}");
    assert_eq!(h["probe_interval_ms"], 10.0);
    assert_eq!(h["thresholds"]["scheduler_lag_p99_ms"], 10.0);
    assert_eq!(
        report["latency"]["scheduler_lag"]["count"],
        h["scheduler_lag_samples"]
    );
    assert!(stdout.contains("harness: scheduler lag p99 "), "{stdout}");

    // The target follows the section, and the exit code the target.
    let saturated = h["saturated"].as_bool().unwrap();
    let verdict = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["target"] == "harness_not_saturated")
        .expect("the harness_not_saturated verdict");
    assert_eq!(verdict["passed"], !saturated, "{verdict}");
    assert_eq!(verdict["measured"], h["scheduler_lag_p99_ms"]);
    assert_eq!(
        stdout.contains("WARNING: harness saturated: "),
        saturated,
        "{stdout}"
    );
    if saturated {
        assert_eq!(code, Some(1), "{stdout}");
        assert!(
            stdout.contains("harness_not_saturated"),
            "the verdict names it: {stdout}"
        );
    } else {
        let passed = report["passed"].as_bool().unwrap();
        assert_eq!(code, Some(if passed { 0 } else { 1 }), "{stdout}");
    }
}

#[test]
fn a_virtual_run_has_no_harness_and_passes_the_target_noted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(smoke_judging_the_harness(dir.path()))
        .args(["--clock", "virtual", "--duration", "3s", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("PASS: all 7 targets met"), "{stdout}");
    assert!(!stdout.contains("harness:"), "{stdout}");
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());
    assert!(report.get("harness").is_none());
    assert!(report["latency"].get("scheduler_lag").is_none());
    let verdict = &report["targets"][6];
    assert_eq!(verdict["target"], "harness_not_saturated");
    assert_eq!(verdict["passed"], true);
    assert_eq!(verdict["measured"], Value::Null);
    assert!(
        verdict["note"].as_str().unwrap().contains("virtual clock"),
        "{verdict}"
    );
}
