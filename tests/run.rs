use std::path::Path;

use serde_json::Value;

use crate::common::{fleetbench, scenario};

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the report file exists");
    serde_json::from_str(&text).expect("the report is JSON")
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let schema: Value =
        read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"));
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// A copy of smoke.toml with `extra` appended to its `[targets]`.
fn smoke_with_targets(dir: &Path, extra: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(scenario("smoke.toml")).expect("the fixture exists");
    let path = dir.join("smoke-targets.toml");
    std::fs::write(&path, format!("{text}{extra}\n")).expect("the temp dir is writable");
    path
}

#[test]
fn a_live_run_against_the_embedded_mock_writes_valid_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--duration", "3s", "--out"])
        .arg(&out)
        .args(["--format", "md,junit"])
        .assert()
        .code(0);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stdout.contains("PASS: all 6 targets met"), "{stdout}");
    assert!(
        stderr.contains("agents") && stderr.contains("turns"),
        "plain progress lines under CI=true: {stderr}"
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["clock"], "live");
    assert_eq!(report["passed"], true);
    assert!(
        report["counters"]["turns"].as_u64().unwrap() > 10,
        "{}",
        report["counters"]
    );
    assert!(report["process"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| agent_response_p95 |"), "{md}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 6, "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
}

#[test]
fn a_failed_target_exits_1_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let file = smoke_with_targets(dir.path(), "agent_response_p95 = \"1ms\"");
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(&file)
        .args([
            "--clock",
            "virtual",
            "--duration",
            "3s",
            "--format",
            "junit",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("FAIL: 1 of 6 targets missed: agent_response_p95"),
        "{stdout}"
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["passed"], false);
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
}

#[test]
fn bad_run_input_exits_2_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .arg("--out")
        .arg(file.join("sub"))
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("--out") && err.contains("not-a-dir"), "{err}");
    let assert = fleetbench()
        .args(["run", "--format", "pdf", "--out", "x"])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("pdf") && err.contains("junit"), "{err}");
}

/// A virtual run's report without the machine-dependent `process` section.
fn virtual_report(seed: u64, dir: &Path) -> (String, Value) {
    let out = dir.join(format!("seed-{seed}-{}", rand_suffix(dir)));
    fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--seed", &seed.to_string(), "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json was written");
    let mut value: Value = serde_json::from_str(&text).expect("the report is JSON");
    value
        .as_object_mut()
        .expect("the report is an object")
        .remove("process");
    (text, value)
}

fn rand_suffix(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_virtual_run_is_reproducible_and_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let (text_a, a) = virtual_report(7, dir.path());
    let (text_b, b) = virtual_report(7, dir.path());
    let (_, c) = virtual_report(8, dir.path());
    // Byte-identical apart from `process`, which is the last section.
    let cut = |t: &str| t[..t.find("\"process\"").unwrap()].to_owned();
    assert_eq!(cut(&text_a), cut(&text_b));
    assert_eq!(a, b);
    assert_ne!(a["latency"], c["latency"]);
    assert_ne!(a["counters"], c["counters"]);
    // The numbers themselves, pinned: a change to them is a change of behaviour to review.
    let mut pinned = a;
    for h in pinned["latency"].as_object_mut().unwrap().values_mut() {
        h.as_object_mut().unwrap().remove("hdr");
    }
    pinned["fleetbench_version"] = Value::from("[version]");
    insta::assert_json_snapshot!("virtual_smoke_seed_7", pinned);
}

#[test]
fn ctrl_c_stops_a_live_run_gracefully_and_keeps_the_report() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetbench"))
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--duration", "30s", "--out"])
        .arg(&out)
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first progress line: the run is under way.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 && !line.starts_with('[') {
        line.clear();
    }
    assert!(
        line.starts_with('['),
        "no progress line before the end of stderr"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(
        rest.contains("interrupted: finishing calls in flight"),
        "{rest}"
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["stop"], "interrupted");
    assert!(report["simulated_ms"].as_u64().unwrap() < 30_000);
    assert!(report["counters"]["turns"].as_u64().unwrap() > 0);
}

#[test]
fn shards_split_a_virtual_run_and_are_refused_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--shards", "2", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("virtual clock in 2 shards"), "{stdout}");
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["shards"], 2);
    assert_eq!(report["agents"]["count"], 20);
    for (args, says) in [
        (
            &["--clock", "live", "--shards", "2"][..],
            "applies to the virtual clock only",
        ),
        (
            &["--clock", "virtual", "--shards", "0"][..],
            "invalid shards `0`",
        ),
        (
            &["--clock", "virtual", "--shards", "21"][..],
            "more than the 20 agents",
        ),
    ] {
        let assert = fleetbench()
            .arg("run")
            .arg(scenario("smoke.toml"))
            .args(args)
            .assert()
            .code(2);
        let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(
            err.contains("fleet.shards") && err.contains(says) && err.contains("--shards"),
            "{args:?}: {err}"
        );
    }
}
