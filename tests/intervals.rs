//! The time series (issue 17): a run with --out writes its intervals as they end, to an
//! HdrHistogram interval log that HdrHistogram's Python port reads and to intervals.jsonl;
//! the intervals add up to the report; the same seed writes the same log; a run killed with
//! SIGKILL halfway leaves a log from which `fleetbench report` rebuilds a report whose counts
//! are the sum of the intervals written; bad input is exit 2.

use std::path::Path;

use serde_json::Value;

use crate::common::{Running, fleetbench, scenario};

/// intervals.jsonl's lines after the header, as JSON.
fn interval_lines(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("intervals.jsonl")).expect("intervals.jsonl");
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("a header")).expect("JSON");
    assert_eq!(header["fleetbench_intervals"], 1, "{header}");
    lines
        .map(|l| serde_json::from_str(l).expect("an interval line is JSON"))
        .collect()
}

/// Each counter summed over `lines`.
fn summed_counters(lines: &[Value]) -> serde_json::Map<String, Value> {
    let mut sum = serde_json::Map::new();
    for line in lines {
        for (key, value) in line["counters"].as_object().expect("counters") {
            let total = sum.get(key).and_then(Value::as_u64).unwrap_or(0);
            sum.insert(
                key.clone(),
                (total + value.as_u64().expect("a count")).into(),
            );
        }
    }
    sum
}

/// `intervals.hlog` as HdrHistogram's Python port reads it: per tag, the count and starts.
fn python_hlog(path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_hlog.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the hdrh package reads the log (pip install hdrhistogram; .ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn virtual_run(out: &Path) {
    fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--interval", "500ms", "--out"])
        .arg(out)
        .assert()
        .code(0);
}

#[test]
fn a_virtual_run_writes_intervals_that_add_up_to_its_report_and_repeat() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    virtual_run(&a);
    virtual_run(&b);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("report.json")).expect("report.json"))
            .expect("JSON");

    // Every 500 ms of the run (5 s and its grace), the last one cut when the agents are done.
    let lines = interval_lines(&a);
    assert!(lines.len() >= 10, "{} intervals", lines.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["interval"], i as u64);
        assert_eq!(line["start_us"], i as u64 * 500_000);
    }
    assert_eq!(
        Value::Object(summed_counters(&lines)),
        report["counters"],
        "the intervals add up to the report"
    );

    // HdrHistogram's Python port reads the log: the counts per metric are the report's, in
    // one histogram per interval that saw a value.
    let hlog = python_hlog(&a.join("intervals.hlog"));
    for (metric, h) in report["latency"].as_object().expect("latency") {
        if h["count"] == 0 {
            continue;
        }
        assert_eq!(hlog[metric]["count"], h["count"], "{metric}: {hlog}");
    }
    let turns = &hlog["agent_response"]["starts"];
    assert_eq!(turns[0], 0.0, "{turns}");
    assert_eq!(turns[1], 0.5, "{turns}");

    // The same seed writes the same log, byte for byte.
    for file in ["intervals.hlog", "intervals.jsonl"] {
        assert!(
            std::fs::read(a.join(file)).unwrap() == std::fs::read(b.join(file)).unwrap(),
            "{file} differs between two runs of one seed"
        );
    }
}

#[test]
fn a_run_killed_halfway_leaves_a_log_that_report_rebuilds() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = dir.path().join("run");
    // An earlier run's report in the same directory must not pass for this one's.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("report.json"), "{\"stale\": true}").unwrap();
    let mut run = Running::spawn([
        "run".as_ref(),
        scenario("smoke.toml").as_os_str(),
        "--clock".as_ref(),
        "live".as_ref(),
        "--duration".as_ref(),
        "60s".as_ref(),
        "--interval".as_ref(),
        "200ms".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    // Progress lines come every second: by the third, several intervals are written.
    for _ in 0..3 {
        run.wait_for(|l| l.contains("turns"));
    }
    run.signal("KILL");
    let killed = run.finish(std::time::Duration::from_secs(30));
    assert!(!killed.status.success(), "{killed:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).unwrap(),
        "{\"stale\": true}",
        "a killed run writes no report"
    );

    let written = interval_lines(&out);
    assert!(
        written.len() >= 5,
        "{} intervals before the kill",
        written.len()
    );
    let done = fleetbench()
        .args(["report", "--json"])
        .arg(&out)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&done.get_output().stderr).into_owned();
    assert!(
        stderr.contains("rebuilt from its interval log")
            && stderr.contains("report.json is older than the interval log"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&done.get_output().stdout).expect("JSON");
    assert_eq!(report["stop"], "killed");
    assert_eq!(report["passed"], false);
    assert_eq!(
        Value::Object(summed_counters(&written)),
        report["counters"],
        "the rebuilt report counts what the intervals written count"
    );
    let turns = report["counters"]["turns"].as_u64().expect("turns");
    assert!(turns > 0, "the intervals hold turns");
    // One agent_response value per turn finished, read back from the .hlog.
    let finished = turns - report["counters"]["turns_cancelled"].as_u64().unwrap_or(0);
    assert_eq!(report["latency"]["agent_response"]["count"], finished);
    let last = written.last().expect("an interval");
    assert_eq!(
        report["simulated_ms"].as_u64(),
        last["end_us"].as_u64().map(|us| us / 1000)
    );
    for file in [
        "report.json",
        "report.md",
        "junit.xml",
        "summary.csv",
        "report.html",
    ] {
        assert!(out.join(file).is_file(), "{file} rebuilt");
    }
}

#[test]
fn report_on_a_finished_run_rewrites_the_same_report() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = dir.path().join("run");
    virtual_run(&out);
    let before = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    fleetbench().arg("report").arg(&out).assert().code(0);
    let after = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    assert_eq!(before, after);
    assert!(out.join("report.html").is_file());
}

#[test]
fn bad_intervals_and_directories_are_exit_2() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = dir.path().join("out");
    for (interval, says) in [
        ("0s", "an interval of zero cuts nothing"),
        ("1500us", "whole milliseconds"),
    ] {
        let done = fleetbench()
            .arg("run")
            .arg(scenario("smoke.toml"))
            .args(["--clock", "virtual", "--interval", interval, "--out"])
            .arg(&out)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&done.get_output().stderr).into_owned();
        assert!(
            stderr.contains("--interval") && stderr.contains(says),
            "{stderr}"
        );
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (path, says) in [
        (empty.clone(), "no run here"),
        (dir.path().join("missing"), "no such directory"),
    ] {
        let done = fleetbench().arg("report").arg(&path).assert().code(2);
        let stderr = String::from_utf8_lossy(&done.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&path.display().to_string()) && stderr.contains(says),
            "{stderr}"
        );
    }
    // A log whose lines are not fleetbench's names the file and the line.
    std::fs::write(
        empty.join("intervals.jsonl"),
        "{\"fleetbench_intervals\":1}\n",
    )
    .unwrap();
    std::fs::write(empty.join("intervals.hlog"), "").unwrap();
    let done = fleetbench().arg("report").arg(&empty).assert().code(2);
    let stderr = String::from_utf8_lossy(&done.get_output().stderr).into_owned();
    assert!(stderr.contains("intervals.jsonl:1"), "{stderr}");
}
