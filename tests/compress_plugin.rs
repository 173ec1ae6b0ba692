//! `compress --strategy-cmd` (issue 15): an external compressor over the JSON-lines protocol
//! gets every figure and the invariants' check; one that answers garbage, exits or never
//! starts stops the run (exit 2) naming the command and the request; one that drops the
//! newest message is counted as a violation (exit 1).

use std::path::PathBuf;

use serde_json::Value;

use crate::common::fleetbench;

/// A temporary directory holding a small coding corpus as `c.jsonl`, long enough that the
/// default trigger (tokens=8000) fires.
fn corpus() -> (tempfile::TempDir, PathBuf) {
    crate::common::generated_corpus(&[
        "--profile",
        "coding",
        "--conversations",
        "2",
        "--turns",
        "20",
        "--seed",
        "3",
    ])
}

/// `compress --corpus FILE --strategy-cmd CMD --format json --no-timing`: exit code, stdout
/// and stderr.
fn compress_with(command: &str) -> (i32, String, String) {
    let (_dir, file) = corpus();
    let out = fleetbench()
        .arg("compress")
        .arg("--corpus")
        .arg(&file)
        .args(["--strategy-cmd", command, "--format", "json", "--no-timing"])
        .output()
        .expect("fleetbench runs");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

/// The row named `name` of a JSON report.
fn row(stdout: &str, name: &str) -> Value {
    let report: Value = serde_json::from_str(stdout).expect("the report is JSON");
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["strategy"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no row `{name}` in {stdout}"))
}

#[test]
fn the_python_example_compresses_without_a_violation() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/compressors/keep_last.py"
    );
    let (code, stdout, stderr) = compress_with(&format!("keep-last=python3 {script}"));
    assert_eq!(code, 0, "{stderr}");
    let rows = serde_json::from_str::<Value>(&stdout).expect("JSON")["rows"].clone();
    assert_eq!(
        rows.as_array().map(Vec::len),
        Some(2),
        "none and the command only"
    );
    let kept = row(&stdout, "keep-last");
    assert!(kept["compressions"].as_u64() > Some(0), "{kept}");
    assert_eq!(kept["violations"], 0, "{kept}");
    assert!(kept["compression_ratio"].as_f64() > Some(1.0), "{kept}");
}

#[test]
fn a_row_without_a_name_is_named_by_its_command() {
    let echo = "python3 -c 'import sys\nfor l in sys.stdin: print(l, end=\"\", flush=True)'";
    let (code, stdout, stderr) = compress_with(echo);
    assert_eq!(code, 0, "{stderr}");
    let echoed = row(&stdout, echo);
    // Echoing a request answers every message as it was: the baseline's figures.
    assert_eq!(echoed["violations"], 0);
    assert_eq!(echoed["compression_ratio"], 1.0);
}

#[test]
fn garbage_a_crash_or_a_missing_command_stops_the_run_naming_it_and_the_request() {
    let cases = [
        (
            "python3 -c 'input(); print(\"garbage\", flush=True)'",
            "is not",
        ),
        (
            "python3 -c 'import sys; sys.exit(4)'",
            "exited (exit status: 4)",
        ),
        ("no-such-compressor-x", "cannot start"),
    ];
    for (command, says) in cases {
        let (code, stdout, stderr) = compress_with(command);
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(stdout.is_empty(), "no report for a failed row");
        assert!(stderr.contains(&format!("--strategy-cmd `{command}`, request 1:")));
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn a_compressor_that_drops_the_newest_message_is_a_violation() {
    let drop_newest = "python3 -c 'import json,sys\nfor l in sys.stdin:\n    \
                       print(json.dumps({\"messages\": json.loads(l)[\"messages\"][:-1]}), \
                       flush=True)'";
    let (code, stdout, stderr) = compress_with(&format!("drop-newest={drop_newest}"));
    assert_eq!(code, 1, "{stderr}");
    let dropped = row(&stdout, "drop-newest");
    assert!(dropped["violations"].as_u64() > Some(0), "{dropped}");
    let first = dropped["first_violation"]
        .as_str()
        .expect("the first one is named");
    assert!(first.contains("newest"), "{first}");
}

#[test]
fn a_compressor_slower_than_strategy_cmd_timeout_is_stopped_with_exit_2() {
    let (_dir, file) = corpus();
    let sleeper = "python3 -c 'import time; time.sleep(60)'";
    let out = fleetbench()
        .arg("compress")
        .arg("--corpus")
        .arg(&file)
        .args(["--strategy-cmd", sleeper, "--strategy-cmd-timeout", "0.5"])
        .output()
        .expect("fleetbench runs");
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "no report for a failed row");
    assert!(stderr.contains(&format!("--strategy-cmd `{sleeper}`, request 1:")));
    assert!(stderr.contains("no answer within 0.5 s"), "{stderr}");
    assert!(stderr.contains("--strategy-cmd-timeout SECS"), "{stderr}");
    // A timeout that is not a positive number of seconds is a usage error naming the flag.
    let bad = fleetbench()
        .arg("compress")
        .arg("--corpus")
        .arg(&file)
        .args(["--strategy-cmd-timeout", "0"])
        .output()
        .expect("fleetbench runs");
    let stderr = String::from_utf8(bad.stderr).expect("stderr is UTF-8");
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--strategy-cmd-timeout"), "{stderr}");
}
